// Command node is the odgm node program with clusterbench's class
// (package counter: 4 partitions of 3 replicas, method incr) registered
// on every node it starts, built the way an application builds its own
// node binary (cli.Main). clusterbench builds and runs it.
package main

import (
	"github.com/odgm-go/odgm/bench/internal/counter"
	"github.com/odgm-go/odgm/cli"
)

func main() { cli.Main(counter.Class()) }
