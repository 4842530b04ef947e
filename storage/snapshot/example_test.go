package snapshot_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/odgm-go/odgm/storage/snapshot"
)

func Example() {
	ctx := context.Background()
	store, err := snapshot.Open(snapshot.BackendMemory, "", snapshot.Options{Compression: snapshot.CodecZstd})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	// Write a snapshot of shard 7 as a stream of records, then commit it.
	c, err := store.Create(ctx, snapshot.Header{
		ShardID: 7, ReplicaID: 1, Index: 120, Term: 2,
		Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}
	defer c.Abort() // no effect once committed
	c.Write([]byte("o/counter/a/e/value"), []byte("41"))
	c.Write([]byte("o/counter/b/e/value"), []byte("1"))
	if _, err := c.Commit(); err != nil {
		panic(err)
	}

	// Find the newest snapshot of the shard and stream it back.
	m, err := store.Latest(ctx, 7)
	if err != nil {
		panic(err)
	}
	fmt.Printf("shard %d index %d term %d: %d records, %s\n", m.ShardID, m.Index, m.Term, m.Records, m.Codec)
	r, err := store.Open(ctx, m.ID)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	for {
		k, v, err := r.Next()
		if err == io.EOF {
			break // the trailer has been checked
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s = %s\n", k, v)
	}
	// Output:
	// shard 7 index 120 term 2: 2 records, zstd
	// o/counter/a/e/value = 41
	// o/counter/b/e/value = 1
}
