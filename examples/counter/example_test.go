package main

import (
	"context"
	"log"
	"os"

	"github.com/odgm-go/odgm/runtime"
)

// An in-memory node: the same program without a data directory.
func Example() {
	if err := run(context.Background(), os.Stdout, runtime.Config{Memory: true}, 8, 25); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 8 callers x 25 increments = 200
	// counter went from 0 to 200: 200 increments counted
}
