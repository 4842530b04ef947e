// Package counter is the class clusterbench measures, shared by its node
// binary (bench/clusterbench/node) and its embedded baseline: Partitions
// partitions of Replicas replicas; objects with one 8-byte entry; a
// method "incr" that adds one to entry "n".
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

// Class returns the class.
func Class() runtime.Class {
	return runtime.Class{Name: Name, Partitions: Partitions, Replicas: Replicas, Methods: map[string]runtime.Method{
		"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
			v, _ := o.Get("n")
			var n uint64
			if len(v) == 8 {
				n = binary.BigEndian.Uint64(v)
			}
			o.Set("n", binary.BigEndian.AppendUint64(nil, n+1))
			return nil, nil
		},
	}}
}
