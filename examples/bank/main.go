// Command bank moves money between accounts with concurrent transfers made
// of two method invocations: withdraw on the source account (refused, and
// nothing written, if the balance would go negative), then deposit on the
// target account with a request id, so that a retried deposit is applied
// once. It checks that the total is preserved and no balance is negative.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/runtime"
)

// ErrInsufficient is withdraw's error: the balance is too low.
var ErrInsufficient = errors.New("bank: insufficient funds")

func main() {
	if err := run(context.Background(), os.Stdout, runtime.Config{Memory: true}, 10, 16, 100); err != nil {
		log.Fatal(err)
	}
}

// Account is the class: one entry "balance", a decimal integer.
func Account() runtime.Class {
	return runtime.Class{
		Name:       "account",
		Partitions: 4,
		Methods: map[string]runtime.Method{
			"open": func(_ context.Context, o *runtime.Object, p []byte) ([]byte, error) {
				if !o.Exists() {
					o.Set("balance", p)
				}
				return nil, nil
			},
			"withdraw": func(_ context.Context, o *runtime.Object, p []byte) ([]byte, error) {
				amount, _ := strconv.ParseInt(string(p), 10, 64)
				b := balance(o)
				if b < amount {
					return nil, ErrInsufficient
				}
				o.Set("balance", []byte(strconv.FormatInt(b-amount, 10)))
				return nil, nil
			},
			"deposit": func(_ context.Context, o *runtime.Object, p []byte) ([]byte, error) {
				amount, _ := strconv.ParseInt(string(p), 10, 64)
				o.Set("balance", []byte(strconv.FormatInt(balance(o)+amount, 10)))
				return nil, nil
			},
		},
	}
}

func balance(o *runtime.Object) int64 {
	v, _ := o.Get("balance")
	b, _ := strconv.ParseInt(string(v), 10, 64)
	return b
}

func run(ctx context.Context, w io.Writer, cfg runtime.Config, accounts, tellers, transfers int) error {
	node, err := runtime.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Stop(ctx)
	if err := node.RegisterClass(ctx, Account()); err != nil {
		return err
	}
	const opening = 1000
	for i := range accounts {
		if _, err := node.Invoke(ctx, "account", fmt.Sprint("acct-", i), "open", []byte(strconv.Itoa(opening))); err != nil {
			return err
		}
	}
	var done, declined atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, tellers)
	for t := range tellers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(t), 1))
			for i := range transfers {
				from, to := rng.IntN(accounts), rng.IntN(accounts)
				if from == to {
					continue
				}
				amount := []byte(strconv.Itoa(1 + rng.IntN(300)))
				_, err := node.Invoke(ctx, "account", fmt.Sprint("acct-", from), "withdraw", amount)
				if errors.Is(err, ErrInsufficient) {
					declined.Add(1)
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				// The money has left: the deposit must happen, once.
				rid := runtime.RequestID(fmt.Sprintf("deposit-%d-%d", t, i))
				for {
					_, err = node.Invoke(ctx, "account", fmt.Sprint("acct-", to), "deposit", amount, rid)
					if err == nil || !(errors.Is(err, odgm.ErrTimeout) || errors.Is(err, odgm.ErrUnavailable)) {
						break
					}
				}
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	var total int64
	negative := 0
	for i := range accounts {
		st, err := node.Get(ctx, "account", fmt.Sprint("acct-", i))
		if err != nil {
			return err
		}
		b, _ := strconv.ParseInt(string(st.Entries["balance"]), 10, 64)
		total += b
		if b < 0 {
			negative++
		}
	}
	fmt.Fprintf(w, "%d accounts, %d tellers: %d transfers made, %d declined for insufficient funds\n",
		accounts, tellers, done.Load(), declined.Load())
	fmt.Fprintf(w, "total before %d, after %d; negative balances: %d\n", accounts*opening, total, negative)
	if total != int64(accounts*opening) || negative > 0 {
		return errors.New("bank: the books do not balance")
	}
	return node.Stop(ctx)
}
