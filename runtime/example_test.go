package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/runtime"
)

// An in-memory node, a class with one method, and the object API.
func Example() {
	ctx := context.Background()
	node, err := runtime.Start(ctx, runtime.Config{Memory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	err = node.RegisterClass(ctx, runtime.Class{
		Name: "counter",
		Methods: map[string]runtime.Method{
			"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
				v, _ := o.Get("n")
				n, _ := strconv.Atoi(string(v))
				o.Set("n", []byte(strconv.Itoa(n+1)))
				return []byte(strconv.Itoa(n + 1)), nil
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := node.Invoke(ctx, "counter", "Visits", "incr", nil); err != nil {
			log.Fatal(err)
		}
	}
	st, _ := node.Get(ctx, "counter", "visits")
	fmt.Printf("%s: n=%s version=%d\n", st.ID, st.Entries["n"], st.Version)

	_, err = node.CompareAndSwap(ctx, "counter", "visits", 2, map[string][]byte{"n": []byte("0")}, nil)
	fmt.Println(errors.Is(err, odgm.ErrVersionMismatch))
	v, _ := node.CompareAndSwap(ctx, "counter", "visits", 3, map[string][]byte{"n": []byte("0")}, nil)
	fmt.Println("reset, version", v)
	// Output:
	// visits: n=3 version=3
	// true
	// reset, version 4
}
