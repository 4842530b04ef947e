package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/actors/meta"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/shards"
	"github.com/odgm-go/odgm/storage/appdata"
)

// specOf is the cluster's record of a class.
func specOf(c *Class) *odgmv1.ClassSpec {
	spec := &odgmv1.ClassSpec{Name: c.Name, Partitions: uint32(c.Partitions), Replicas: uint32(c.Replicas),
		StaleReads: c.Options.ReadConsistency == shards.Stale}
	for _, ix := range c.Indexes {
		t := string(ix.Type)
		if ix.Type == appdata.IndexString {
			t = ""
		}
		spec.Indexes = append(spec.Indexes, &odgmv1.IndexSpec{Name: ix.Name, Entry: ix.Entry, Type: t, JsonPath: ix.JSONPath})
	}
	return spec
}

// classOf is a data-only Class from the cluster's record.
func classOf(spec *odgmv1.ClassSpec) Class {
	c := Class{Name: spec.GetName(), Partitions: int(spec.GetPartitions()), Replicas: int(spec.GetReplicas())}
	for _, ix := range spec.GetIndexes() {
		t := appdata.IndexType(ix.GetType())
		if t == "" {
			t = appdata.IndexString
		}
		c.Indexes = append(c.Indexes, Index{Name: ix.GetName(), Entry: ix.GetEntry(), Type: t, JSONPath: ix.GetJsonPath()})
	}
	if spec.GetStaleReads() {
		c.Options.ReadConsistency = shards.Stale
	}
	return c
}

// learnClasses makes every class of the cluster state known on this node,
// with the code registered here for it (if any).
func (n *Node) learnClasses(st *odgmv1.ClusterState) {
	for _, spec := range st.GetClasses() {
		n.mu.RLock()
		_, known := n.mu.classes[spec.GetName()]
		n.mu.RUnlock()
		if known {
			continue
		}
		c := classOf(spec)
		n.cl.mu.RLock()
		if code, ok := n.cl.code[spec.GetName()]; ok {
			c.Methods, c.StatelessMethods, c.Options = code.Methods, code.StatelessMethods, code.Options
		}
		n.cl.mu.RUnlock()
		n.classDefaults(&c)
		cl := &class{Class: c}
		for p := 0; p < c.Partitions; p++ {
			cl.shards = append(cl.shards, &shard{id: ShardID(c.Name, p)})
		}
		n.mu.Lock()
		if _, ok := n.mu.classes[c.Name]; !ok && !n.mu.closed {
			n.mu.classes[c.Name] = cl
			for _, s := range cl.shards {
				n.mu.shardOf[s.id] = c.Name
			}
		}
		n.mu.Unlock()
	}
}

// shardByID finds a class's shard by its id.
func (n *Node) shardByID(sid uint64) (*class, *shard) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	cl := n.mu.classes[n.mu.shardOf[sid]]
	if cl == nil {
		return nil, nil
	}
	for _, s := range cl.shards {
		if s.id == sid {
			return cl, s
		}
	}
	return nil, nil
}

// startLocalShard starts this node's replica of a class's shard and its
// shard actor (with the objects child that parents the object actors).
func (n *Node) startLocalShard(cl *class, s *shard, replicaID uint64, members map[uint64]string, join bool) error {
	scfg := n.shardConfig(&cl.Class)
	if err := n.host.StartReplica(s.id, replicaID, members, join, scfg, shards.SMOptions{Logger: n.log}); err != nil {
		return err
	}
	env := &shardEnv{node: n, cls: cl, shardID: s.id, replicaID: replicaID}
	spec := shards.ShardSpec{Host: n.host, ShardID: s.id, ReplicaID: replicaID, Config: scfg, Logger: n.log, Objects: objectsProps(env)}
	v, err := n.sys.Root.RequestFuture(n.shards, &shards.StartShard{Spec: spec}, 10*time.Second).Result()
	if err == nil {
		err = v.(*shards.StartShardReply).Err
	}
	if err != nil {
		_ = n.host.StopReplica(s.id)
		return fmt.Errorf("runtime: shard %d: shard actor: %w", s.id, err)
	}
	s.local.Store(&localShard{replicaID: replicaID, objects: v.(*shards.StartShardReply).PID})
	return nil
}

// registerClustered is RegisterClass on a cluster node: the class's code
// is kept on this node, and the class is created in the cluster (or found
// there with the same shape). Placement then starts its shards.
func (n *Node) registerClustered(ctx context.Context, c Class) error {
	spec := specOf(&c)
	n.cl.mu.Lock()
	if old, ok := n.cl.code[c.Name]; ok && !meta.SameShape(specOf(&old), spec) {
		n.cl.mu.Unlock()
		return fmt.Errorf("%w: %q", odgm.ErrClassExists, c.Name)
	}
	// The same class again (a retry after its shards had no leader in
	// time): its code is replaced and the wait starts over.
	n.cl.code[c.Name] = c
	n.cl.mu.Unlock()
	// A class this node already knows from the cluster gets the code: a
	// new class record shares its shards (object actors look methods up
	// per call).
	n.mu.Lock()
	if old := n.mu.classes[c.Name]; old != nil {
		if !meta.SameShape(specOf(&old.Class), spec) {
			n.mu.Unlock()
			n.forgetCode(c.Name)
			return fmt.Errorf("%w: class %q exists in the cluster with another shape", odgm.ErrInvalidArgument, c.Name)
		}
		nc := &class{Class: c, shards: old.shards}
		n.mu.classes[c.Name] = nc
	}
	n.mu.Unlock()
	if err := n.CreateClass(ctx, spec); err != nil && !(errors.Is(err, odgm.ErrClassExists) && n.sameShapeInCluster(spec)) {
		n.forgetCode(c.Name)
		return err
	}
	return n.waitClass(ctx, c.Name)
}

func (n *Node) forgetCode(name string) {
	n.cl.mu.Lock()
	delete(n.cl.code, name)
	n.cl.mu.Unlock()
}

func (n *Node) sameShapeInCluster(spec *odgmv1.ClassSpec) bool {
	old := meta.FindClass(n.cl.snapshot(), spec.GetName())
	return old != nil && meta.SameShape(old, spec)
}

// waitClass waits until every shard of the class has a leader somewhere,
// as far as this node knows.
func (n *Node) waitClass(ctx context.Context, name string) error {
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if cl, err := n.class(name); err == nil {
			ready := true
			for _, s := range cl.shards {
				if node, _ := n.leaderOf(s); node == 0 {
					ready = false
				}
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("runtime: class %q: shards without a leader: %w", name, odgm.FromContext(ctx.Err()))
		case <-t.C:
		}
	}
}

// CreateClass creates a data-only class in the cluster (its methods, if
// any, are registered by the programs running the nodes with
// RegisterClass). A class that exists with the same shape is left alone;
// with another shape → odgm.ErrClassExists. On a node outside a cluster it
// registers the class on this node.
func (n *Node) CreateClass(ctx context.Context, spec *odgmv1.ClassSpec) error {
	if spec == nil {
		return fmt.Errorf("%w: no class", odgm.ErrInvalidArgument)
	}
	c := classOf(spec)
	n.classDefaults(&c)
	if n.cl == nil {
		return n.RegisterClass(ctx, c)
	}
	if err := n.validateClass(&c); err != nil {
		return err
	}
	if sc := n.shardConfig(&c); sc.Validate() != nil {
		return fmt.Errorf("%w: class %q: %v", odgm.ErrInvalidArgument, c.Name, sc.Validate())
	}
	for p := 0; p < c.Partitions; p++ {
		if other := n.classOfShard(ShardID(c.Name, p)); other != "" && other != c.Name {
			return fmt.Errorf("%w: class %q has the shard ids of class %q (hash collision): rename one", odgm.ErrInvalidArgument, c.Name, other)
		}
	}
	cmd := &odgmv1.MetaCommand{CreateClasses: []*odgmv1.ClassSpec{specOf(&c)}}
	res, err := n.metaRequest(ctx, cmd)
	if err != nil {
		return err
	}
	if res.GetClassExists() {
		return fmt.Errorf("%w: %q exists with another shape", odgm.ErrClassExists, c.Name)
	}
	if !res.GetApplied() {
		return fmt.Errorf("%w: class %q: %s", odgm.ErrInvalidArgument, c.Name, res.GetMessage())
	}
	return nil
}

// refuse is the reason the meta leader refuses cmd before proposing it
// ("" if none): a class needs at least as many nodes as replicas. (Only
// the meta leader's state is current enough to tell.)
func refuse(st *odgmv1.ClusterState, cmd *odgmv1.MetaCommand) string {
	for _, c := range cmd.GetCreateClasses() {
		if old := meta.FindClass(st, c.GetName()); old != nil {
			continue // the state machine tells same shape from another
		}
		if nodes := len(st.GetNodes()); int(c.GetReplicas()) > nodes {
			return fmt.Sprintf("class %q: replicas %d, but the cluster has %d nodes", c.GetName(), c.GetReplicas(), nodes)
		}
	}
	return ""
}

func (n *Node) classOfShard(sid uint64) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.mu.shardOf[sid]
}

// metaRequest proposes a meta command on the meta leader: here if this
// node leads the meta shard, else through the meta leader's gateway (an
// odgmv1.Request carrying it is not part of the public API: the command
// travels as itself).
func (n *Node) metaRequest(ctx context.Context, cmd *odgmv1.MetaCommand) (*odgmv1.MetaResult, error) {
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	for {
		if n.cl.metaLeaderHere() {
			if n.cl.bootstrapped() {
				res := n.cl.onMetaCommand(cmd)
				if res.GetMessage() != notMetaLeader {
					return res, nil
				}
			}
		} else if addr := n.cl.metaLeaderAddress(); addr != "" {
			dl, _ := ctx.Deadline()
			v, err := n.sys.Root.RequestFuture(newGatewayPID(addr), cmd, max(min(time.Until(dl), 5*time.Second), time.Millisecond)).Result()
			if res, ok := v.(*odgmv1.MetaResult); err == nil && ok && res.GetMessage() != notMetaLeader {
				return res, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: the meta shard did not answer: %w", odgm.ErrUnavailable, odgm.FromContext(ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

const notMetaLeader = "not the meta leader"

// onMetaCommand handles a meta command sent to this node's gateway.
func (c *cluster) onMetaCommand(cmd *odgmv1.MetaCommand) *odgmv1.MetaResult {
	if !c.metaLeaderHere() || !c.bootstrapped() {
		return &odgmv1.MetaResult{Message: notMetaLeader}
	}
	if st, err := c.metaState(); err == nil {
		if why := refuse(st, cmd); why != "" {
			return &odgmv1.MetaResult{Message: why, Version: st.GetVersion()}
		}
	}
	res, err := c.proposeMeta(cmd)
	if err != nil {
		return &odgmv1.MetaResult{Message: notMetaLeader}
	}
	return res
}

// bootstrapped reports whether this node's meta replica holds a cluster
// (the first state, with the meta shard's placement, is written): no other
// change may come before it.
func (c *cluster) bootstrapped() bool {
	st, err := c.metaState()
	return err == nil && meta.FindShard(st, meta.ShardID) != nil
}

// metaLeaderNode is the node of the meta leader as last heard (0: none).
func (c *cluster) metaLeaderNode() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.metaLeader
}

// metaLeaderAddress is the remote address of the meta leader's node, as
// last heard.
func (c *cluster) metaLeaderAddress() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := meta.FindNode(c.state, c.metaLeader); n != nil {
		return n.GetRemoteAddress()
	}
	if len(c.n.cfg.Seeds) > 0 {
		return c.n.cfg.Seeds[0]
	}
	return ""
}

// ListClasses lists the classes the node knows (in a cluster: the
// cluster's), sorted by name.
func (n *Node) ListClasses(ctx context.Context) ([]*odgmv1.ClassSpec, error) {
	if n.cl != nil {
		var out []*odgmv1.ClassSpec
		for _, c := range n.cl.snapshot().GetClasses() {
			out = append(out, proto.Clone(c).(*odgmv1.ClassSpec))
		}
		return out, nil
	}
	var out []*odgmv1.ClassSpec
	for _, name := range n.Classes() {
		if c, err := n.class(name); err == nil {
			out = append(out, specOf(&c.Class))
		}
	}
	return out, nil
}

// Status reports the cluster as this node knows it: nodes (alive as the
// meta leader last said, when this node leads the meta shard), shards with
// their placement and leader, and classes.
func (n *Node) Status(ctx context.Context) (*odgmv1.ClusterStatus, error) {
	if n.cl == nil {
		return n.staticStatus(), nil
	}
	// The meta leader knows who is alive and what every replica reports:
	// ask it, and fall back to this node's view.
	if leader := n.cl.metaLeaderNode(); leader != 0 && leader != n.cfg.NodeID && !n.cl.metaLeaderHere() && hopsOf(ctx) < maxHops {
		fctx, cancel := context.WithTimeout(ctx, forwardAttempt)
		resp, err := n.forward(fctx, leader, &odgmv1.Request{Op: &odgmv1.Request_Status{Status: &odgmv1.StatusRequest{}}})
		cancel()
		if err == nil && resp.GetStatus().GetStatus() != nil {
			return resp.GetStatus().GetStatus(), nil
		}
	}
	st := n.cl.snapshot()
	out := &odgmv1.ClusterStatus{Version: st.GetVersion(), ReportingNode: n.cfg.NodeID}
	n.cl.mu.RLock()
	out.MetaLeaderNode = n.cl.metaLeader
	leaders := n.cl.leaders
	n.cl.mu.RUnlock()
	if n.cl.metaLeaderHere() {
		out.MetaLeaderNode = n.cfg.NodeID
	}
	n.cl.lmu.Lock()
	leading := n.cl.leading
	var alive map[uint64]bool
	if leading {
		alive = n.cl.aliveLocked(st)
	}
	seen := map[uint64]time.Time{}
	reports := map[uint64][]*odgmv1.ReplicaReport{}
	for k, v := range n.cl.lastSeen {
		seen[k] = v
	}
	for k, v := range n.cl.reports {
		reports[k] = v
	}
	n.cl.lmu.Unlock()
	for _, node := range st.GetNodes() {
		ns := &odgmv1.NodeStatus{Node: node, Alive: true}
		if leading {
			ns.Alive = alive[node.GetNodeId()]
			ns.LastSeenMs = uint64(time.Since(seen[node.GetNodeId()]).Milliseconds())
		}
		out.Nodes = append(out.Nodes, ns)
	}
	for _, sp := range st.GetShards() {
		ss := &odgmv1.ShardStatus{Placement: sp, LeaderNode: leaders[sp.GetShardId()]}
		for _, rs := range reports {
			for _, r := range rs {
				if r.GetShardId() == sp.GetShardId() {
					ss.Reports = append(ss.Reports, r)
				}
			}
		}
		slices.SortFunc(ss.Reports, func(a, b *odgmv1.ReplicaReport) int { return int(a.GetReplicaId()) - int(b.GetReplicaId()) })
		out.Shards = append(out.Shards, ss)
	}
	out.Classes = st.GetClasses()
	// The caller's own: out shares messages with the state, which is the
	// meta shard's own on the meta leader.
	return proto.Clone(out).(*odgmv1.ClusterStatus), nil
}

// staticStatus is Status outside a dynamic cluster: this node's view.
func (n *Node) staticStatus() *odgmv1.ClusterStatus {
	out := &odgmv1.ClusterStatus{ReportingNode: n.cfg.NodeID}
	for id, addr := range n.cfg.cluster() {
		out.Nodes = append(out.Nodes, &odgmv1.NodeStatus{Node: &odgmv1.NodeInfo{NodeId: id, RaftAddress: addr}, Alive: true})
	}
	slices.SortFunc(out.Nodes, func(a, b *odgmv1.NodeStatus) int { return int(a.GetNode().GetNodeId()) - int(b.GetNode().GetNodeId()) })
	for _, name := range n.Classes() {
		c, err := n.class(name)
		if err != nil {
			continue
		}
		out.Classes = append(out.Classes, specOf(&c.Class))
		for p, s := range c.shards {
			sp := &odgmv1.ShardPlacement{ShardId: s.id, Class: name, Partition: uint32(p)}
			for _, id := range s.replicas {
				sp.Replicas = append(sp.Replicas, &odgmv1.ReplicaPlacement{ReplicaId: id, NodeId: id, State: odgmv1.ReplicaState_REPLICA_STATE_ACTIVE})
			}
			ss := &odgmv1.ShardStatus{Placement: sp}
			if h := n.host.Health(s.id); h.LeaderID != 0 {
				ss.LeaderNode = h.LeaderID
				ss.Reports = append(ss.Reports, &odgmv1.ReplicaReport{ShardId: s.id, ReplicaId: h.ReplicaID,
					LeaderReplicaId: h.LeaderID, Term: h.Term, AppliedIndex: h.AppliedIndex, IsLeader: h.State == shards.StateLeader})
			}
			out.Shards = append(out.Shards, ss)
		}
	}
	return out
}

// leaderOf returns the node of the shard's leader as this node knows it
// (0: unknown), and whether this node hosts a replica of the shard.
func (n *Node) leaderOf(s *shard) (uint64, bool) {
	l := s.hosted()
	if n.cl == nil {
		if l == nil {
			return 0, false
		}
		return n.host.LeaderID(s.id), true
	}
	if l != nil {
		if leader := n.host.LeaderID(s.id); leader != 0 {
			if sp := meta.FindShard(n.cl.snapshot(), s.id); sp != nil {
				for _, r := range sp.GetReplicas() {
					if r.GetReplicaId() == leader {
						return r.GetNodeId(), true
					}
				}
			}
		}
	}
	n.cl.mu.RLock()
	node := n.cl.leaders[s.id]
	n.cl.mu.RUnlock()
	return node, l != nil
}
