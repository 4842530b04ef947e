// Command counter embeds a single ODGM node, declares a class "counter"
// with methods incr and get, increments one counter from many goroutines,
// and prints the final count, which equals the number of increments.
//
// The node keeps its data durably (fsync before acknowledging). By default
// that is a temporary directory, removed at the end; with -dir the data is
// kept, and running again with the same -dir continues counting from there.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/odgm-go/odgm/runtime"
)

func main() {
	dir := flag.String("dir", "", "data directory, kept afterwards (default: a new temporary one, removed)")
	callers := flag.Int("callers", 16, "concurrent callers")
	each := flag.Int("each", 50, "increments per caller")
	flag.Parse()
	keep := *dir != ""
	if !keep {
		d, err := os.MkdirTemp("", "odgm-counter-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	start := time.Now()
	err := run(context.Background(), os.Stdout, runtime.Config{DataDir: *dir}, *callers, *each)
	if !keep {
		defer os.RemoveAll(*dir)
	}
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Printf("took %v; the data (durable: raft log, snapshots, app data) was in %s", time.Since(start).Round(time.Millisecond), *dir)
	if keep {
		fmt.Println(" and is kept: run again with the same -dir to go on counting")
	} else {
		fmt.Println(", removed now (use -dir DIR to keep it)")
	}
}

// Counter is the class: one entry "n" holding a big-endian uint64.
func Counter() runtime.Class {
	return runtime.Class{
		Name: "counter",
		Methods: map[string]runtime.Method{
			"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
				n := value(o) + 1
				o.Set("n", binary.BigEndian.AppendUint64(nil, n))
				return binary.BigEndian.AppendUint64(nil, n), nil
			},
			"get": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
				return binary.BigEndian.AppendUint64(nil, value(o)), nil
			},
		},
	}
}

func value(o *runtime.Object) uint64 {
	if v, ok := o.Get("n"); ok && len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func run(ctx context.Context, w io.Writer, cfg runtime.Config, callers, each int) error {
	node, err := runtime.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Stop(ctx)
	if err := node.RegisterClass(ctx, Counter()); err != nil {
		return err
	}
	before, err := node.Invoke(ctx, "counter", "visits", "get", nil)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := node.Invoke(ctx, "counter", "visits", "incr", nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	out, err := node.Invoke(ctx, "counter", "visits", "get", nil)
	if err != nil {
		return err
	}
	start, final := binary.BigEndian.Uint64(before), binary.BigEndian.Uint64(out)
	fmt.Fprintf(w, "%d callers x %d increments = %d\n", callers, each, callers*each)
	fmt.Fprintf(w, "counter went from %d to %d: %d increments counted\n", start, final, final-start)
	if final-start != uint64(callers*each) {
		return fmt.Errorf("lost increments: counted %d of %d", final-start, callers*each)
	}
	return node.Stop(ctx)
}
