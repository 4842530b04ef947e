// Package counter is the counter class the bench programs measure: objects
// with one 8-byte entry "n" and a method "incr" that adds one to it.
// Class is clusterbench's shape (shared by its node binary,
// bench/clusterbench/node, and its embedded baseline): Partitions
// partitions of Replicas replicas; runtimebench builds its own around Incr.
package counter

import (
	"context"
	"encoding/binary"

	"github.com/odgm-go/odgm/runtime"
)

// The class's name and shape.
const (
	Name       = "bench"
	Partitions = 4
	Replicas   = 3
)

// Class returns clusterbench's class.
func Class() runtime.Class {
	return runtime.Class{Name: Name, Partitions: Partitions, Replicas: Replicas,
		Methods: map[string]runtime.Method{"incr": Incr}}
}

// Incr adds one to the object's entry "n" (big-endian uint64; missing is
// zero) and replies nothing.
func Incr(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
	v, _ := o.Get("n")
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	o.Set("n", binary.BigEndian.AppendUint64(nil, n+1))
	return nil, nil
}
