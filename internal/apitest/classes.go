package apitest

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/odgm-go/odgm/runtime"
)

// Names are the names under which a Target registered the suite's
// classes; the zero value means DefaultNames.
type Names struct {
	// Counter has methods incr (add one to entry "n", reply the new value
	// as 8 big-endian bytes), get, fail (writes, then returns ErrFail) and
	// boom (writes, then panics "boom"); 2 partitions.
	Counter string
	// Doc is a plain class of 3 partitions with index "by_owner" over entry
	// "owner".
	Doc string
	// Item is a plain class of 5 partitions that only the List test
	// writes.
	Item string
	// Util has stateless methods echo, fail (returns ErrFail) and panic.
	Util string
}

// DefaultNames are the class names Classes uses.
var DefaultNames = Names{Counter: "counter", Doc: "doc", Item: "item", Util: "util"}

// MaxValueSize is the value size limit StartNode gives its node.
const MaxValueSize = 4096

// ErrFail is the error the suite's failing methods return.
var ErrFail = errors.New("deliberate failure")

// U64 encodes v as the counter's methods do; GetU64 decodes (0 for
// anything but 8 bytes).
func U64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// GetU64 decodes what U64 encodes.
func GetU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Classes are the suite's classes, named by DefaultNames.
func Classes() []runtime.Class {
	n := DefaultNames
	return []runtime.Class{
		{
			Name:       n.Counter,
			Partitions: 2,
			Methods: map[string]runtime.Method{
				"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
					v, _ := o.Get("n")
					next := GetU64(v) + 1
					o.Set("n", U64(next))
					return U64(next), nil
				},
				"get": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
					v, _ := o.Get("n")
					return U64(GetU64(v)), nil
				},
				"fail": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
					o.Set("n", U64(1000))
					return nil, ErrFail
				},
				"boom": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
					o.Set("n", U64(1000))
					panic("boom")
				},
			},
		},
		{Name: n.Doc, Partitions: 3, Indexes: []runtime.Index{{Name: "by_owner", Entry: "owner"}}},
		{Name: n.Item, Partitions: 5},
		{
			Name: n.Util,
			StatelessMethods: map[string]runtime.StatelessMethod{
				"echo":  func(_ context.Context, p []byte) ([]byte, error) { return p, nil },
				"fail":  func(context.Context, []byte) ([]byte, error) { return nil, ErrFail },
				"panic": func(context.Context, []byte) ([]byte, error) { panic("no") },
			},
		},
	}
}

// StartNode starts a memory node with fast Raft ticks and value size limit
// MaxValueSize, registers Classes on it, and stops it when the test ends.
// mod, if not nil, adjusts the config first.
func StartNode(t testing.TB, mod func(*runtime.Config)) *runtime.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := runtime.Config{Memory: true, RTTMillisecond: 5, Limits: runtime.Limits{MaxValueSize: MaxValueSize}}
	if mod != nil {
		mod(&cfg)
	}
	n, err := runtime.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	for _, c := range Classes() {
		if err := n.RegisterClass(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
