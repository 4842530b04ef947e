package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/shards"
	"github.com/odgm-go/odgm/storage"
)

// ErrInvalidConfig marks every error of ParseConfig and Config.Validate.
var ErrInvalidConfig = errors.New("runtime: invalid config")

// Config configures a Node. The zero value plus a DataDir is a durable
// single node; Memory: true (or Storage = storage.Memory()) makes it
// in-memory. Start calls EnsureDefaults and Validate.
type Config struct {
	// DataDir holds everything the node writes: storage layers (unless
	// their paths are absolute) and dragonboat's NodeHost directory.
	// Required for durable storage; with all-memory storage an empty DataDir
	// means a temporary directory removed by Stop.
	DataDir string `yaml:"data_dir"`
	// NodeID is this node's id, also its Raft replica id in every shard.
	// Zero means 1.
	NodeID uint64 `yaml:"node_id"`
	// RaftAddress is this node's Raft address, IPv4 host:port (port 0 is
	// refused). Empty is allowed only for a single-node cluster: the node
	// then uses an in-process transport and a placeholder address kept in
	// DataDir/raft-address (dragonboat records the address in its
	// directory, so it must not change between runs).
	RaftAddress string `yaml:"raft_address"`
	// Cluster is the static membership: node id → Raft address of every
	// node, this one included. Empty means just this node. Shard replicas
	// are placed on these nodes (see Class.Replicas).
	Cluster map[uint64]string `yaml:"cluster"`
	// RTTMillisecond is the Raft round trip in milliseconds (elections take
	// about 10 of them). Zero means 20.
	RTTMillisecond uint64 `yaml:"rtt_ms"`
	// Memory, when true and Storage is zero, keeps every storage layer in
	// memory (storage.Memory()): fast, gone at Stop.
	Memory bool `yaml:"memory"`
	// Storage configures the three storage layers; the zero value is
	// storage's safe durable default under DataDir.
	Storage storage.Config `yaml:"storage"`
	// Classes are the defaults of classes registered without them.
	Classes ClassDefaults `yaml:"class_defaults"`
	// Limits bound ids, entries and batches.
	Limits Limits `yaml:"limits"`
	// IdleTimeout passivates an object actor that received nothing for
	// that long. Zero means one minute.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// RequestTimeout bounds a call whose context has no deadline. Zero
	// means 10s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// AttemptTimeout bounds one attempt of a read or a proposal made by
	// an object actor; an attempt that takes longer (a request lost with a
	// leader that died) is made again, with the same request id, while the
	// call's deadline allows and retries remain. Zero means 2s.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
	// MaxRetries is how many times an invocation is run again after a
	// version mismatch caused by a stale cached state or a concurrent
	// writer, and how many times a proposal that was dropped (leader
	// change) is proposed again with the same request id. Zero means 5.
	MaxRetries int `yaml:"max_retries"`
	// Logger receives the node's warnings. Nil means discarded. (The
	// actor system and dragonboat are kept quiet whatever it is.)
	Logger *slog.Logger `yaml:"-"`
}

// ClassDefaults are used for a Class's zero fields.
type ClassDefaults struct {
	// Partitions of a class (shards). Zero means 1.
	Partitions int `yaml:"partitions"`
	// Replicas of each shard. Zero means 1.
	Replicas int `yaml:"replicas"`
	// Shard is the template of every shard's config (Raft settings,
	// exactly-once bound, snapshots, default read consistency); its Class
	// and Indexes are set per class.
	Shard shards.Config `yaml:"shard"`
}

// Limits bound what one request may carry. Over a limit → odgm.ErrTooLarge.
type Limits struct {
	// MaxIDLen is the longest object id in bytes. Zero means 160
	// (object.MaxIDLen, also the most allowed).
	MaxIDLen int `yaml:"max_id_len"`
	// MaxEntryNameLen is the longest entry name in bytes. Zero means 255
	// (object.MaxEntryNameLen, also the most allowed).
	MaxEntryNameLen int `yaml:"max_entry_name_len"`
	// MaxValueSize is the largest entry value in bytes. Zero means 1 MiB.
	MaxValueSize int `yaml:"max_value_size"`
	// MaxBatchEntries is the most puts plus deletes in one write (or one
	// invocation's writes). Zero means 1000.
	MaxBatchEntries int `yaml:"max_batch_entries"`
	// MaxBatchBytes is the most names plus values in one write, in bytes.
	// Zero means 16 MiB.
	MaxBatchBytes int `yaml:"max_batch_bytes"`
}

// ParseConfig reads a Config from YAML, strictly: unknown keys, duplicate
// keys and values of the wrong type are errors wrapping ErrInvalidConfig.
// It neither fills defaults nor validates.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c, nil
}

// EnsureDefaults fills zero fields with safe defaults: durable storage
// under DataDir (or memory with Memory), node 1, one partition and one
// replica per class.
func (c *Config) EnsureDefaults() {
	if c.NodeID == 0 {
		c.NodeID = 1
	}
	if c.RTTMillisecond == 0 {
		c.RTTMillisecond = 20
	}
	if c.Memory && c.Storage.Log.Type == "" && c.Storage.Snapshot.Type == "" && c.Storage.App.Type == "" {
		c.Storage = storage.Memory()
	}
	c.Storage.EnsureDefaults()
	if c.DataDir != "" {
		c.Storage.ResolvePaths(c.DataDir)
	}
	if c.Classes.Partitions == 0 {
		c.Classes.Partitions = 1
	}
	if c.Classes.Replicas == 0 {
		c.Classes.Replicas = 1
	}
	l := &c.Limits
	if l.MaxIDLen == 0 {
		l.MaxIDLen = object.MaxIDLen
	}
	if l.MaxEntryNameLen == 0 {
		l.MaxEntryNameLen = object.MaxEntryNameLen
	}
	if l.MaxValueSize == 0 {
		l.MaxValueSize = 1 << 20
	}
	if l.MaxBatchEntries == 0 {
		l.MaxBatchEntries = 1000
	}
	if l.MaxBatchBytes == 0 {
		l.MaxBatchBytes = 16 << 20
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = time.Minute
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 2 * time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
}

// cluster is Cluster, or just this node.
func (c *Config) cluster() map[uint64]string {
	if len(c.Cluster) > 0 {
		return c.Cluster
	}
	return map[uint64]string{c.NodeID: c.RaftAddress}
}

// Validate reports every problem, joined, each wrapping ErrInvalidConfig and
// naming its field. It changes nothing: call EnsureDefaults first.
func (c *Config) Validate() error {
	var errs []error
	add := func(f string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+f, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.NodeID == 0 {
		add("node_id: must be positive")
	}
	if err := c.Storage.Validate(); err != nil {
		add("storage: %w", err)
	}
	if c.DataDir == "" && !c.Storage.Durability().Ephemeral {
		add("data_dir: required by durable storage (set it, or use memory: true)")
	}
	if len(c.Cluster) > 0 {
		addr, ok := c.Cluster[c.NodeID]
		switch {
		case !ok:
			add("cluster: does not hold node_id %d", c.NodeID)
		case c.RaftAddress != "" && addr != c.RaftAddress:
			add("cluster: node %d is at %q, raft_address says %q", c.NodeID, addr, c.RaftAddress)
		}
		for id, a := range c.Cluster {
			if id == 0 {
				add("cluster: node id 0")
			}
			if _, _, err := net.SplitHostPort(a); err != nil {
				add("cluster: node %d address %q: %v", id, a, err)
			}
		}
	} else if c.RaftAddress != "" {
		if _, _, err := net.SplitHostPort(c.RaftAddress); err != nil {
			add("raft_address: %q: %v", c.RaftAddress, err)
		}
	}
	if c.Classes.Partitions < 1 || c.Classes.Partitions > MaxPartitions {
		add("class_defaults.partitions: %d is out of range 1..%d", c.Classes.Partitions, MaxPartitions)
	}
	if c.Classes.Replicas < 1 {
		add("class_defaults.replicas: %d must be positive", c.Classes.Replicas)
	}
	l := c.Limits
	if l.MaxIDLen < 1 || l.MaxIDLen > object.MaxIDLen {
		add("limits.max_id_len: %d is out of range 1..%d", l.MaxIDLen, object.MaxIDLen)
	}
	if l.MaxEntryNameLen < 1 || l.MaxEntryNameLen > object.MaxEntryNameLen {
		add("limits.max_entry_name_len: %d is out of range 1..%d", l.MaxEntryNameLen, object.MaxEntryNameLen)
	}
	if l.MaxValueSize < 1 {
		add("limits.max_value_size: %d must be positive", l.MaxValueSize)
	}
	if l.MaxBatchEntries < 1 {
		add("limits.max_batch_entries: %d must be positive", l.MaxBatchEntries)
	}
	if l.MaxBatchBytes < 1 {
		add("limits.max_batch_bytes: %d must be positive", l.MaxBatchBytes)
	}
	if c.IdleTimeout < 0 {
		add("idle_timeout: %v is negative", c.IdleTimeout)
	}
	if c.RequestTimeout < 0 {
		add("request_timeout: %v is negative", c.RequestTimeout)
	}
	if c.AttemptTimeout < 0 {
		add("attempt_timeout: %v is negative", c.AttemptTimeout)
	}
	if c.MaxRetries < 0 {
		add("max_retries: %d is negative", c.MaxRetries)
	}
	return errors.Join(errs...)
}
