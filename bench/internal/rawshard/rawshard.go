// Package rawshard runs one Raft shard on plain dragonboat, with nothing of
// ODGM above it: the ceiling that the bench programs measure ODGM against.
//
// A Shard is one NodeHost per member (in one process) running replica i+1
// of shard ShardID, with one of two in-memory state machines: Trivial
// (counts entries, ignores their contents) or KV (keeps the last value of
// each key, entries framed by Entry). Writes go to the leader with
// NodeHost.SyncPropose on a no-op session. What the NodeHosts share with
// the ODGM setup they are compared to — LogDB, transport, RTT, snapshot
// and compaction settings — is the caller's Config.
//
// Start and Close are called from one goroutine; Propose is safe for
// concurrent use.
package rawshard

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// ShardID is the id of the shard every Shard runs.
const ShardID = 1

// Kind chooses a Shard's state machine.
type Kind int

const (
	// Trivial counts entries and ignores their contents.
	Trivial Kind = iota
	// KV keeps the last value of each key, in memory (entries framed by
	// Entry); its snapshots write every key and value.
	KV
)

// Config says how to build a Shard. Zero fields take dragonboat's
// defaults except where noted.
type Config struct {
	// Dir holds one NodeHost directory per member. Required.
	Dir string
	// Members are the members' Raft addresses; member i is replica i+1.
	// Required (one member: a single-replica shard).
	Members []string
	// RTTMillisecond is NodeHostConfig.RTTMillisecond. Zero means 100.
	RTTMillisecond uint64
	// LogDB is NodeHostConfig.Expert.LogDBFactory for member i (so each
	// member can open its own store). Nil means dragonboat's default
	// LogDB (pebble) with its tiny memory profile.
	LogDB func(i int) config.LogDBFactory
	// Transport is NodeHostConfig.Expert.TransportFactory. Nil means TCP.
	Transport config.TransportFactory
	// Raft is the replica config (ShardID and ReplicaID are set here).
	// Zero ElectionRTT and HeartbeatRTT mean 10 and 1.
	Raft config.Config
	// Kind is the state machine.
	Kind Kind
}

// Shard is a running raw dragonboat shard.
type Shard struct {
	nhs    []*dragonboat.NodeHost
	leader *dragonboat.NodeHost
}

// Start starts every member and waits up to 20 s for a leader.
func Start(cfg Config) (*Shard, error) {
	if cfg.Dir == "" || len(cfg.Members) == 0 {
		return nil, errors.New("rawshard: Config needs Dir and Members")
	}
	rc := cfg.Raft
	rc.ShardID = ShardID
	if rc.ElectionRTT == 0 {
		rc.ElectionRTT = 10
	}
	if rc.HeartbeatRTT == 0 {
		rc.HeartbeatRTT = 1
	}
	targets := map[uint64]dragonboat.Target{}
	for i, a := range cfg.Members {
		targets[uint64(i+1)] = a
	}
	s := &Shard{}
	for i, addr := range cfg.Members {
		nhc := config.NodeHostConfig{NodeHostDir: filepath.Join(cfg.Dir, fmt.Sprint("n", i)), RTTMillisecond: cfg.RTTMillisecond, RaftAddress: addr}
		if nhc.RTTMillisecond == 0 {
			nhc.RTTMillisecond = 100
		}
		if cfg.LogDB != nil {
			nhc.Expert.LogDBFactory = cfg.LogDB(i)
		} else {
			nhc.Expert.LogDB = config.GetTinyMemLogDBConfig()
		}
		if cfg.Transport != nil {
			nhc.Expert.TransportFactory = cfg.Transport
		}
		nh, err := dragonboat.NewNodeHost(nhc)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("rawshard: %w", err)
		}
		s.nhs = append(s.nhs, nh)
		rc.ReplicaID = uint64(i + 1)
		create := func(uint64, uint64) sm.IStateMachine { return &trivial{} }
		if cfg.Kind == KV {
			create = func(uint64, uint64) sm.IStateMachine { return &kv{m: map[string][]byte{}} }
		}
		if err := nh.StartReplica(targets, false, create, rc); err != nil {
			s.Close()
			return nil, fmt.Errorf("rawshard: %w", err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if id, _, ok, err := s.nhs[0].GetLeaderID(ShardID); err == nil && ok {
			s.leader = s.nhs[id-1]
			return s, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	return nil, errors.New("rawshard: no leader within 20s")
}

// Leader is the NodeHost of the leader found by Start.
func (s *Shard) Leader() *dragonboat.NodeHost { return s.leader }

// Propose proposes cmd on the leader found by Start and waits until it is
// applied there (SyncPropose; ctx needs a deadline, else 10 s is used).
func (s *Shard) Propose(ctx context.Context, cmd []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	_, err := s.leader.SyncPropose(ctx, s.leader.GetNoOPSession(ShardID), cmd)
	return err
}

// Close stops every NodeHost.
func (s *Shard) Close() {
	for _, nh := range s.nhs {
		nh.Close()
	}
	s.nhs = nil
}

// Entry appends the KV framing of (key, value) to b: the key's length as
// a uvarint, the key, the value.
func Entry(b []byte, key string, value []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	return append(append(b, key...), value...)
}

type trivial struct{ n uint64 }

func (s *trivial) Update(sm.Entry) (sm.Result, error) {
	s.n++
	return sm.Result{Value: s.n}, nil
}
func (s *trivial) Lookup(any) (any, error) { return s.n, nil }
func (s *trivial) SaveSnapshot(io.Writer, sm.ISnapshotFileCollection, <-chan struct{}) error {
	return nil
}
func (s *trivial) RecoverFromSnapshot(io.Reader, []sm.SnapshotFile, <-chan struct{}) error {
	return nil
}
func (s *trivial) Close() error { return nil }

// kv is the KV state machine. dragonboat calls Update and SaveSnapshot on
// one goroutine and Lookup on others: mu guards m.
type kv struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (s *kv) Update(e sm.Entry) (sm.Result, error) {
	n, k := binary.Uvarint(e.Cmd)
	if k <= 0 || uint64(len(e.Cmd)-k) < n {
		return sm.Result{}, nil // not an Entry: ignored
	}
	key := string(e.Cmd[k : k+int(n)])
	val := append([]byte(nil), e.Cmd[k+int(n):]...)
	s.mu.Lock()
	s.m[key] = val
	s.mu.Unlock()
	return sm.Result{Value: 1}, nil
}

func (s *kv) Lookup(q any) (any, error) {
	key, _ := q.(string)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[key], nil
}

// SaveSnapshot writes each key and value, each as a uvarint length and
// its bytes.
func (s *kv) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b []byte
	for k, v := range s.m {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
		if len(b) > 1<<16 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return err
}

func (s *kv) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	br := bufio.NewReader(r)
	m := map[string][]byte{}
	read := func() ([]byte, error) {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return b, err
	}
	for {
		k, err := read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("rawshard: snapshot: %w", err)
		}
		v, err := read()
		if err != nil {
			return fmt.Errorf("rawshard: snapshot: %w", err)
		}
		m[string(k)] = v
	}
	s.mu.Lock()
	s.m = m
	s.mu.Unlock()
	return nil
}

func (s *kv) Close() error { return nil }
