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

	"github.com/odgm-go/odgm/internal/tlsfiles"
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
	// RemoteAddress is this node's protoactor remote address (host:port,
	// port 0 refused): setting it makes the node a member of a dynamic
	// cluster, whose nodes, classes and placement live in the meta shard
	// (see the package doc, "Cluster"). Cluster must then be empty and
	// RaftAddress set.
	RemoteAddress string `yaml:"remote_address"`
	// GRPCAddress, when set, serves the gRPC ObjectService there
	// (host:port; port 0 picks a free one, see Node.GRPCAddress).
	GRPCAddress string `yaml:"grpc_address"`
	// Seeds are remote addresses of nodes of the cluster to join through
	// (any of them will do). A node that already belongs to the cluster
	// finds it again through them and through what it recorded.
	Seeds []string `yaml:"seeds"`
	// Bootstrap makes this node start a new cluster (the meta shard, with
	// this node its first member) if its data holds none. Set it on one
	// node, once.
	Bootstrap bool `yaml:"bootstrap"`
	// HeartbeatInterval is how often a cluster node reports to the meta
	// leader (and learns the cluster's state). Zero means 500ms.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// NodeDeadTimeout: a node not heard of for that long is dead and its
	// replicas are re-created on other nodes. Zero means 10s.
	NodeDeadTimeout time.Duration `yaml:"node_dead_timeout"`
	// Placement tunes the placement supervisor.
	Placement PlacementConfig `yaml:"placement"`
	// TLS, when its files are set, turns on mutual TLS for the Raft
	// transport, protoactor remote and gRPC: every node (and client)
	// presents a certificate signed by the CA and verifies its peer's.
	// Relative paths are resolved against DataDir.
	TLS tlsfiles.Files `yaml:"tls"`
	// MaxMessageBytes bounds one message on the remote and gRPC ports.
	// Zero means 64 MiB.
	MaxMessageBytes int `yaml:"max_message_bytes"`
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

// PlacementConfig tunes the placement supervisor (package
// actors/placement).
type PlacementConfig struct {
	// MetaReplicas is how many nodes run the meta shard. Zero means 3.
	MetaReplicas int `yaml:"meta_replicas"`
	// MaxMovesInFlight bounds the replicas moving at once when a node
	// joins (rebalancing). Zero means 1.
	MaxMovesInFlight int `yaml:"max_moves_in_flight"`
	// CatchUpLag: an added replica counts as caught up within that many
	// entries of its leader. Zero means 100.
	CatchUpLag uint64 `yaml:"catch_up_lag"`
	// NoLeaderBalance turns off moving leaders to spread them evenly.
	NoLeaderBalance bool `yaml:"no_leader_balance"`
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
		c.TLS = c.TLS.ResolvePaths(c.DataDir)
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
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 500 * time.Millisecond
	}
	if c.NodeDeadTimeout == 0 {
		c.NodeDeadTimeout = 10 * time.Second
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 64 << 20
	}
	p := &c.Placement
	if p.MetaReplicas == 0 {
		p.MetaReplicas = 3
	}
	if p.MaxMovesInFlight == 0 {
		p.MaxMovesInFlight = 1
	}
	if p.CatchUpLag == 0 {
		p.CatchUpLag = 100
	}
}

// clustered reports whether the node is a member of a dynamic cluster.
func (c *Config) clustered() bool { return c.RemoteAddress != "" }

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
	if c.clustered() {
		if len(c.Cluster) > 0 {
			add("cluster: a static cluster and remote_address (a dynamic cluster) exclude each other")
		}
		if c.RaftAddress == "" {
			add("raft_address: required with remote_address")
		}
		for name, a := range map[string]string{"remote_address": c.RemoteAddress, "grpc_address": c.GRPCAddress} {
			if a == "" {
				continue
			}
			if _, port, err := net.SplitHostPort(a); err != nil {
				add("%s: %q: %v", name, a, err)
			} else if port == "0" && name == "remote_address" {
				add("%s: %q: port 0 is refused (other nodes must find it)", name, a)
			}
		}
		if !c.Bootstrap && len(c.Seeds) == 0 {
			add("seeds: a cluster node needs seeds to join through, or bootstrap: true to start a new cluster")
		}
		if c.HeartbeatInterval <= 0 || c.NodeDeadTimeout < 2*c.HeartbeatInterval {
			add("node_dead_timeout: %v must be at least twice heartbeat_interval %v", c.NodeDeadTimeout, c.HeartbeatInterval)
		}
		if p := c.Placement; p.MetaReplicas < 1 || p.MaxMovesInFlight < 1 {
			add("placement: meta_replicas and max_moves_in_flight must be positive")
		}
	} else if c.GRPCAddress != "" || len(c.Seeds) > 0 || c.Bootstrap {
		add("grpc_address, seeds and bootstrap need remote_address (a dynamic cluster)")
	}
	if c.TLS.Enabled() {
		if err := c.TLS.Validate(); err != nil {
			add("tls: %v", err)
		}
	}
	if c.MaxMessageBytes < 1<<10 {
		add("max_message_bytes: %d is below 1 KiB", c.MaxMessageBytes)
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
