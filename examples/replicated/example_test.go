package main

import (
	"context"
	"log"
	"os"
)

func Example() {
	dir, err := os.MkdirTemp("", "odgm-replicated-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, dir, 6, 20); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 3 nodes up, class counter with 3 replicas
	// stopped the leader's node mid-load
	// all 120 acknowledged increments survived on the other two nodes
}
