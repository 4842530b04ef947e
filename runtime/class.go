package runtime

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/shards"
	"github.com/odgm-go/odgm/storage/appdata"
)

// Method is an object method. It runs in the object's actor, one
// invocation of the object at a time, against the object's current state;
// what it Sets and Deletes on obj is written as one command conditioned on
// the version it read, only if it returns a nil error. It may be run again
// (with the state re-read) when that version turned out stale, so it must
// not have effects outside obj that cannot be repeated. ctx is the
// caller's.
type Method func(ctx context.Context, obj *Object, payload []byte) ([]byte, error)

// StatelessMethod is a class-level method: it runs on the caller's
// goroutine, holds no object state, and may call the node (close over it).
type StatelessMethod func(ctx context.Context, payload []byte) ([]byte, error)

// Class declares a kind of object. Register it on every node of the
// cluster with the same Name, Partitions and Replicas.
type Class struct {
	// Name is 1..64 bytes of [a-z0-9_.-] starting with a letter.
	Name string
	// Partitions is the number of shards; never change it for existing
	// data (an object's partition is object.Partition(id, Partitions)).
	// Zero means the node's class default. At most MaxPartitions.
	Partitions int
	// Replicas is the number of Raft replicas of each shard, at most the
	// cluster's size. Zero means the node's class default.
	Replicas int
	// Methods are the object methods, by name.
	Methods map[string]Method
	// StatelessMethods are the class-level methods, by name.
	StatelessMethods map[string]StatelessMethod
	// Indexes are secondary indexes over one entry of every object.
	Indexes []Index
	// Options are per-class settings and feature flags.
	Options ClassOptions
}

// Index is a secondary index over the values of one entry.
type Index struct {
	// Name identifies the index in QueryIndex.
	Name string
	// Entry is the entry name whose values are indexed.
	Entry string
	// Type is how values are ordered: appdata.IndexString (zero),
	// IndexInt, IndexUint, IndexFloat, IndexBinary or IndexJSON.
	Type appdata.IndexType
	// JSONPath is the field indexed by IndexJSON.
	JSONPath string
}

// ClassOptions are per-class settings and feature flags.
type ClassOptions struct {
	// Shard replaces the node's shard template (Config.Classes.Shard) for
	// this class; its Class and Indexes are set by the runtime.
	Shard *shards.Config
	// NoStateCache makes object actors read the object (linearizably)
	// before every invocation instead of keeping its state between them.
	// Classes with more than one replica never cache (see the package
	// doc), whatever this says.
	NoStateCache bool
	// IdleTimeout overrides Config.IdleTimeout for this class's objects.
	IdleTimeout time.Duration
	// ReadConsistency is the default of Get, List and QueryIndex; zero
	// means shards.Linearizable. StaleRead() overrides it per call.
	ReadConsistency shards.Consistency
}

// MaxPartitions bounds Class.Partitions (the shard id keeps 16 bits for
// the partition; see ShardID).
const MaxPartitions = 4096

// ShardID is the dragonboat shard id of a class's partition: the high 48
// bits of FNV-1a 64 of the class name, then 16 bits of partition. It is
// the same on every node and across restarts, needs no coordination, and
// leaves ids below 65536 to the node's own groups (a future meta shard): a
// class whose hash has 48 zero high bits gets 1 there instead. Two classes
// whose hashes share the high 48 bits cannot be registered together
// (RegisterClass refuses the second).
func ShardID(class string, partition int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(class))
	base := h.Sum64() &^ 0xffff
	if base == 0 {
		base = 1 << 16
	}
	return base | uint64(partition)
}

// Replicas places a shard's replicas: of the cluster's node ids in
// ascending order, the n starting at position shardID mod len(nodes),
// wrapping. Every node computes the same answer; consecutive partitions
// start on consecutive nodes, which spreads replicas (and, as elections
// usually go to the first started, leaders) evenly.
func Replicas(nodes []uint64, shardID uint64, n int) []uint64 {
	ids := slices.Clone(nodes)
	slices.Sort(ids)
	if n > len(ids) {
		n = len(ids)
	}
	out := make([]uint64, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, ids[(int(shardID%uint64(len(ids)))+i)%len(ids)])
	}
	return out
}

// class is a registered class.
type class struct {
	Class
	shards []*shard
}

// shard is one partition of a class as this node sees it.
type shard struct {
	id    uint64
	local atomic.Pointer[localShard] // the replica on this node; nil if none
	// replicas are the nodes of its replicas in a static cluster.
	replicas []uint64
}

// localShard is a shard's replica on this node.
type localShard struct {
	replicaID uint64
	objects   *actor.PID // parent of the object actors
}

// hosted returns the shard's replica on this node, or nil.
func (s *shard) hosted() *localShard { return s.local.Load() }

func (c *class) shardFor(id string) *shard {
	return c.shards[object.Partition(id, uint32(len(c.shards)))]
}

func (n *Node) classDefaults(c *Class) {
	if c.Partitions == 0 {
		c.Partitions = n.cfg.Classes.Partitions
	}
	if c.Replicas == 0 {
		c.Replicas = n.cfg.Classes.Replicas
	}
	if c.Options.IdleTimeout == 0 {
		c.Options.IdleTimeout = n.cfg.IdleTimeout
	}
	if c.Options.ReadConsistency == "" {
		c.Options.ReadConsistency = shards.Linearizable
	}
}

func (n *Node) validateClass(c *Class) error {
	var errs []error
	add := func(f string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: class %q: "+f, append([]any{odgm.ErrInvalidArgument, c.Name}, a...)...))
	}
	if err := object.ValidateClass(c.Name); err != nil {
		add("%v", err)
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		add("partitions %d out of range 1..%d", c.Partitions, MaxPartitions)
	}
	switch nodes := len(n.cfg.cluster()); {
	case c.Replicas < 1:
		add("replicas %d must be positive", c.Replicas)
	case n.cl == nil && c.Replicas > nodes:
		// (In a dynamic cluster the meta leader checks the cluster's size.)
		add("replicas %d out of range 1..%d (the cluster's size)", c.Replicas, nodes)
	}
	for name, m := range c.Methods {
		if name == "" || m == nil {
			add("method %q: empty name or nil function", name)
		}
	}
	for name, m := range c.StatelessMethods {
		if name == "" || m == nil {
			add("stateless method %q: empty name or nil function", name)
		}
	}
	seen := map[string]bool{}
	for _, ix := range c.Indexes {
		if ix.Name == "" || seen[ix.Name] {
			add("index %q: empty or duplicate name", ix.Name)
		}
		seen[ix.Name] = true
		if err := object.ValidateEntryName(ix.Entry); err != nil {
			add("index %q: %v", ix.Name, err)
		}
	}
	if c.Options.IdleTimeout < 0 {
		add("idle timeout %v is negative", c.Options.IdleTimeout)
	}
	return errors.Join(errs...)
}

// shardConfig is the shards.Config of the class's shards.
func (n *Node) shardConfig(c *Class) shards.Config {
	cfg := n.cfg.Classes.Shard
	if c.Options.Shard != nil {
		cfg = *c.Options.Shard
	}
	cfg.Class = c.Name
	cfg.Indexes = nil
	for _, ix := range c.Indexes {
		cfg.Indexes = append(cfg.Indexes, appdata.IndexSpec{
			Name: ix.Name, Pattern: "o/" + c.Name + "/*/e/" + ix.Entry, Type: ix.Type, JSONPath: ix.JSONPath,
		})
	}
	cfg.EnsureDefaults()
	return cfg
}

// RegisterClass declares a class on this node and starts the replicas of
// its shards that the placement (Replicas) puts here: partition p of the
// class is shard ShardID(name, p), replica id = node id. It returns when
// every local shard has a leader, or with ctx's error (no deadline: the
// node's RequestTimeout). A class with Replicas > 1 needs its other nodes
// to register it too before a leader can be elected.
//
// On a node of a dynamic cluster, registering a class again with the same
// shape is a retry (after ErrTimeout, say): it waits for the leaders again.
//
// Errors: odgm.ErrInvalidArgument (bad class), odgm.ErrClassExists,
// odgm.ErrClosed, odgm.ErrTimeout (no leader in time), or a start failure.
func (n *Node) RegisterClass(ctx context.Context, c Class) error {
	n.classDefaults(&c)
	if n.cl != nil {
		if err := n.validateClass(&c); err != nil {
			return err
		}
		return n.registerClustered(ctx, c)
	}
	if err := n.validateClass(&c); err != nil {
		return err
	}
	scfg := n.shardConfig(&c)
	if err := scfg.Validate(); err != nil {
		return fmt.Errorf("%w: class %q: shard config: %w", odgm.ErrInvalidArgument, c.Name, err)
	}
	cl := &class{Class: c}
	nodes := make([]uint64, 0, len(n.cfg.cluster()))
	for id := range n.cfg.cluster() {
		nodes = append(nodes, id)
	}

	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return odgm.ErrClosed
	}
	if _, ok := n.mu.classes[c.Name]; ok {
		n.mu.Unlock()
		return fmt.Errorf("%w: %q", odgm.ErrClassExists, c.Name)
	}
	for p := 0; p < c.Partitions; p++ {
		if other, ok := n.mu.shardOf[ShardID(c.Name, p)]; ok {
			n.mu.Unlock()
			return fmt.Errorf("%w: class %q has the shard ids of class %q (hash collision): rename one",
				odgm.ErrInvalidArgument, c.Name, other)
		}
	}
	// Reserve the name while shards start.
	n.mu.classes[c.Name] = nil
	for p := 0; p < c.Partitions; p++ {
		n.mu.shardOf[ShardID(c.Name, p)] = c.Name
	}
	n.mu.Unlock()

	err := n.checkShape(&c)
	if err == nil {
		err = n.startShards(cl, nodes, scfg)
	}
	n.mu.Lock()
	if err != nil || n.mu.closed {
		delete(n.mu.classes, c.Name)
		for p := 0; p < c.Partitions; p++ {
			delete(n.mu.shardOf, ShardID(c.Name, p))
		}
	} else {
		n.mu.classes[c.Name] = cl
	}
	closed := n.mu.closed
	n.mu.Unlock()
	if err != nil || closed {
		n.stopShards(cl)
		if err == nil {
			err = odgm.ErrClosed
		}
		return err
	}
	return n.waitLeaders(ctx, cl)
}

func (n *Node) startShards(cl *class, nodes []uint64, scfg shards.Config) error {
	members := n.cfg.cluster()
	for p := 0; p < cl.Partitions; p++ {
		sid := ShardID(cl.Name, p)
		s := &shard{id: sid, replicas: Replicas(nodes, sid, cl.Replicas)}
		cl.shards = append(cl.shards, s)
		if !slices.Contains(s.replicas, n.cfg.NodeID) {
			continue
		}
		var initial map[uint64]string
		if !n.host.NodeHost().HasNodeInfo(sid, n.cfg.NodeID) {
			initial = map[uint64]string{}
			for _, id := range s.replicas {
				initial[id] = members[id]
			}
			if initial[n.cfg.NodeID] == "" {
				initial[n.cfg.NodeID] = n.addr
			}
		}
		if err := n.host.StartReplica(sid, n.cfg.NodeID, initial, false, scfg, shards.SMOptions{Logger: n.log}); err != nil {
			return fmt.Errorf("runtime: class %q partition %d: %w", cl.Name, p, err)
		}
		// The shard actor re-attaches to the running replica, supervises
		// its log and snapshot children and stops the replica on Stop.
		// Its objects child is the parent of the shard's object actors:
		// object calls go to the shard actor, which forwards them.
		env := &shardEnv{node: n, cls: cl, shardID: sid, replicaID: n.cfg.NodeID}
		spec := shards.ShardSpec{Host: n.host, ShardID: sid, ReplicaID: n.cfg.NodeID, Config: scfg, Logger: n.log, Objects: objectsProps(env)}
		v, err := n.sys.Root.RequestFuture(n.shards, &shards.StartShard{Spec: spec}, 10*time.Second).Result()
		if err == nil {
			err = v.(*shards.StartShardReply).Err
		}
		if err != nil {
			_ = n.host.StopReplica(sid)
			return fmt.Errorf("runtime: class %q partition %d: shard actor: %w", cl.Name, p, err)
		}
		s.local.Store(&localShard{replicaID: n.cfg.NodeID, objects: v.(*shards.StartShardReply).PID})
	}
	return nil
}

func (n *Node) stopShards(cl *class) {
	for _, s := range cl.shards {
		n.stopLocalShard(s)
	}
}

func (n *Node) waitLeaders(ctx context.Context, cl *class) error {
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for _, s := range cl.shards {
		for s.hosted() != nil && n.host.Health(s.id).LeaderID == 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("runtime: class %q shard %d has no leader: %w", cl.Name, s.id, odgm.FromContext(ctx.Err()))
			case <-t.C:
			}
		}
	}
	return nil
}

// stopLocalShard stops the shard's local replica, if any: its object
// actors finish what they hold, then the shard actor stops the replica.
func (n *Node) stopLocalShard(s *shard) {
	l := s.local.Swap(nil)
	if l == nil {
		return
	}
	if l.objects != nil {
		_, _ = n.sys.Root.RequestFuture(l.objects, &drainAndStop{}, 10*time.Second).Result()
	}
	_, _ = n.sys.Root.RequestFuture(n.shards, &shards.StopShard{ShardID: s.id}, 10*time.Second).Result()
}

// Classes lists the registered classes' names, sorted.
func (n *Node) Classes() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []string
	for name, c := range n.mu.classes {
		if c != nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ActiveObjects returns how many object actors of the class are active on
// this node (activated and not passivated). For monitoring and tests.
func (n *Node) ActiveObjects(ctx context.Context, className string) (int, error) {
	c, err := n.class(className)
	if err != nil {
		return 0, err
	}
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	dl, _ := ctx.Deadline()
	total := 0
	for _, s := range c.shards {
		l := s.hosted()
		if l == nil {
			continue
		}
		v, err := n.sys.Root.RequestFuture(l.objects, countActive{}, max(time.Until(dl), time.Millisecond)).Result()
		if err != nil {
			return 0, mapErr(ctx, err)
		}
		total += v.(int)
	}
	return total, nil
}

// checkShape refuses a class whose partitions or replicas differ from the
// ones it was first registered with on this node's data (objects would be
// looked for on other shards), and records them the first time, in the
// node's own app store (storage.DefaultApp) under runtime/class/<name>.
func (n *Node) checkShape(c *Class) error {
	key := []byte("runtime/class/" + c.Name)
	shape := fmt.Sprintf("partitions=%d replicas=%d", c.Partitions, c.Replicas)
	old, err := n.comp.App().Get(key)
	switch {
	case err == nil && string(old) != shape:
		return fmt.Errorf("%w: class %q was registered on this data with %s, not %s: a class's shape cannot change over existing data",
			odgm.ErrInvalidArgument, c.Name, old, shape)
	case err == nil:
		return nil
	case !errors.Is(err, appdata.ErrNotFound):
		return fmt.Errorf("runtime: class %q: %w", c.Name, err)
	}
	if err := n.comp.App().Put(key, []byte(shape)); err != nil {
		return fmt.Errorf("runtime: class %q: %w", c.Name, err)
	}
	return nil
}
