package appdata_test

import (
	"fmt"

	"github.com/odgm-go/odgm/storage/appdata"
)

func Example() {
	s, err := appdata.Open(appdata.BackendMemory, "", appdata.Options{
		Indexes: []appdata.IndexSpec{{Name: "balance", Pattern: "acct/*", Type: appdata.IndexInt}},
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	// A transaction: all or nothing.
	err = s.Update(func(tx appdata.WriteTx) error {
		for id, balance := range map[string]string{"alice": "90", "bob": "110", "carol": "40"} {
			if err := tx.Put([]byte("acct/"+id), []byte(balance)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		panic(err)
	}

	// Compare-and-swap: only if the balance is still what we read.
	swapped, _ := s.CompareAndSwap([]byte("acct/alice"), []byte("90"), []byte("100"))
	fmt.Println("swapped:", swapped)

	// Ordered scan, one page of two, then the rest.
	items, resume, _ := s.ScanPrefix([]byte("acct/"), 2, nil)
	for _, it := range items {
		fmt.Printf("%s=%s\n", it.Key, it.Value)
	}
	items, resume, _ = s.ScanPrefix([]byte("acct/"), 2, resume)
	fmt.Printf("%s=%s (more: %v)\n", items[0].Key, items[0].Value, resume != nil)

	// Index query: balances in [50, 200), by balance.
	items, _, _ = s.QueryIndex("balance", appdata.QueryRange([]byte("50"), []byte("200")), 0, nil)
	for _, it := range items {
		fmt.Printf("%s has %s\n", it.Key, it.Value)
	}
	// Output:
	// swapped: true
	// acct/alice=100
	// acct/bob=110
	// acct/carol=40 (more: false)
	// acct/alice has 100
	// acct/bob has 110
}
