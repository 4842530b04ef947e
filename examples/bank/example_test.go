package main

import (
	"context"
	"io"
	"log"
	"os"

	"github.com/odgm-go/odgm/runtime"
)

func Example() {
	// The transfer counts depend on scheduling; the books must balance.
	if err := run(context.Background(), io.Discard, runtime.Config{Memory: true}, 5, 8, 40); err != nil {
		log.Fatal(err)
	}
	os.Stdout.WriteString("books balance\n")
	// Output:
	// books balance
}
