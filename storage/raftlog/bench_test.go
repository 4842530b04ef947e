package raftlog

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	pb "github.com/lni/dragonboat/v4/raftpb"
	"golang.org/x/sys/unix"
)

// Go benchmarks of the append path; bench/storagebench has the full
// comparison between backends.

func benchEntries(n, size int) []pb.Entry {
	es := make([]pb.Entry, n)
	for i := range es {
		es[i] = pb.Entry{Term: 1, Cmd: make([]byte, size)}
	}
	return es
}

func BenchmarkRawFdatasync(b *testing.B) {
	for _, c := range []struct{ n, size int }{{1, 128}, {16, 128}, {256, 1024}} {
		b.Run(fmt.Sprintf("batch=%d/size=%d", c.n, c.size), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, c.n*c.size)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				f.Write(buf)
				unix.Fdatasync(int(f.Fd()))
			}
		})
	}
}

func BenchmarkAppendLogSave(b *testing.B) {
	for _, c := range []struct{ n, size int }{{1, 128}, {16, 128}, {256, 1024}} {
		b.Run(fmt.Sprintf("batch=%d/size=%d", c.n, c.size), func(b *testing.B) {
			db, err := OpenLogDB(BackendAppendLog, b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			es := benchEntries(c.n, c.size)
			b.SetBytes(int64(c.n * c.size))
			next := uint64(1)
			for b.Loop() {
				for i := range es {
					es[i].Index = next + uint64(i)
				}
				next += uint64(len(es))
				if err := db.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, EntriesToSave: es}}, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendLogEncode(b *testing.B) {
	db, err := OpenLogDB(BackendAppendLog, b.TempDir(), Options{SyncPolicy: SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	es := benchEntries(256, 128)
	b.SetBytes(256 * 128)
	next := uint64(1)
	for b.Loop() {
		for i := range es {
			es[i].Index = next + uint64(i)
		}
		next += uint64(len(es))
		if err := db.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, EntriesToSave: es}}, 1); err != nil {
			b.Fatal(err)
		}
	}
}
