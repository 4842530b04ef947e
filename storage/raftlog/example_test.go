package raftlog_test

import (
	"fmt"

	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/odgm-go/odgm/storage/raftlog"
)

// The per-shard view over the in-memory backend: append, repair a
// conflicting suffix, compact after a snapshot.
func Example() {
	s, err := raftlog.Open(raftlog.BackendMemory, "", raftlog.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	log := raftlog.LogOf(s, raftlog.Node{ShardID: 1, ReplicaID: 1})

	var ents []pb.Entry
	for i := uint64(1); i <= 10; i++ {
		ents = append(ents, pb.Entry{Index: i, Term: 1, Cmd: []byte("put")})
	}
	_ = log.Append(ents)
	_ = log.SetHardState(pb.State{Term: 2, Vote: 1, Commit: 6})
	// A new leader's entries replace ours from index 8 on.
	_ = log.Append([]pb.Entry{{Index: 8, Term: 2}})
	// A snapshot covers up to 5.
	_ = log.Compact(5)

	got, _ := log.Entries(log.FirstIndex(), log.LastIndex()+1, 1<<20)
	for i, e := range got {
		if i > 0 {
			fmt.Print(" ")
		}
		fmt.Printf("%d/%d", e.Index, e.Term)
	}
	st := log.Stats()
	fmt.Printf("\nfirst %d last %d entries %d compactions %d\n", st.FirstIndex, st.LastIndex, st.Entries, st.Compactions)
	// Output:
	// 6/1 7/1 8/2
	// first 6 last 8 entries 3 compactions 1
}
