package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/lni/dragonboat/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/actors/meta"
	"github.com/odgm-go/odgm/actors/placement"
	"github.com/odgm-go/odgm/internal/remoteguard"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/shards"
)

// maxGatewayRequests bounds the object requests a node's gateway handles
// at once; more are answered ErrUnavailable at once.
const maxGatewayRequests = 4096

// gatewayName is the name of every node's gateway actor: remote clients
// and other nodes send it requests, heartbeats and membership changes.
const gatewayName = "gateway"

// cluster is a node's part in a dynamic cluster (Config.RemoteAddress).
type cluster struct {
	n       *Node
	remote  *remote.Remote
	gateway *actor.PID
	self    *odgmv1.NodeInfo

	stop chan struct{}
	// base is cancelled when the cluster stops: every call it makes
	// derives from it.
	base       context.Context
	cancelBase context.CancelFunc
	wg         sync.WaitGroup // the loop and the goroutines it starts

	mu      sync.RWMutex
	state   *odgmv1.ClusterState
	leaders map[uint64]uint64 // shard id → node of its leader, as reported
	// metaLeader is the node of the meta shard's leader, as last heard.
	metaLeader uint64
	code       map[string]Class // classes registered with code on this node
	refreshMu  sync.Mutex
	// refreshes counts the exchanges refresh started; refreshed is the
	// number of the last one finished (refreshMu held).
	refreshes atomic.Uint64
	refreshed uint64
	absorbMu  sync.Mutex
	kick      chan struct{} // wakes the reconciler
	// spawnMu guards closed against wg.Add: its own lock, not mu, which
	// every routed request reads.
	spawnMu sync.Mutex
	closed  bool
	busy    chan struct{} // a token per object request in progress

	// The meta leader's duties: failure detection and placement.
	lmu      sync.Mutex
	leading  bool
	lastSeen map[uint64]time.Time
	reports  map[uint64][]*odgmv1.ReplicaReport
	inflight map[string]bool
	// seed is the next seed to try.
	seed atomic.Uint64
}

// dragonboatInfoOption asks NodeHost for its shards, not its log.
var dragonboatInfoOption = dragonboat.NodeHostInfoOption{SkipLogInfo: true}

// metaConfig is the meta shard's Raft configuration.
func (n *Node) metaConfig() shards.Config {
	cfg := n.cfg.Classes.Shard
	cfg.Class = "meta"
	cfg.Indexes = nil
	cfg.SnapshotEntries = 1000
	cfg.EnsureDefaults()
	return cfg
}

// startCluster joins or starts the dynamic cluster: remote, gateway actor,
// gRPC service, the meta replica if this node has one, and the loop that
// sends heartbeats and reconciles the local replicas with the placement.
func (n *Node) startCluster() (err error) {
	c := &cluster{
		n: n, stop: make(chan struct{}), kick: make(chan struct{}, 1), busy: make(chan struct{}, maxGatewayRequests), leaders: map[uint64]uint64{}, code: map[string]Class{},
		state:    &odgmv1.ClusterState{},
		lastSeen: map[uint64]time.Time{}, reports: map[uint64][]*odgmv1.ReplicaReport{}, inflight: map[string]bool{},
		self: &odgmv1.NodeInfo{NodeId: n.cfg.NodeID, RaftAddress: n.addr, RemoteAddress: n.cfg.RemoteAddress},
	}
	c.base, c.cancelBase = context.WithCancel(context.Background())
	c.loadState()
	host, portText, _ := net.SplitHostPort(n.cfg.RemoteAddress)
	port, _ := strconv.Atoi(portText)
	ropts, err := n.remoteOptions()
	if err != nil {
		return err
	}
	c.remote = remote.NewRemote(n.sys, remote.Configure(host, port, ropts...))
	if _, err := remoteguard.Start(c.remote, n.sys, false); err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	n.cl = c
	c.gateway, err = n.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &gateway{c: c} }), gatewayName)
	if err != nil {
		return fmt.Errorf("runtime: gateway: %w", err)
	}
	if n.cfg.GRPCAddress != "" {
		if err := n.startGRPC(); err != nil {
			return err
		}
		c.self.GrpcAddress = n.GRPCAddress()
	}
	rid := c.recorded(meta.ShardID)
	if rid != 0 && !n.host.NodeHost().HasNodeInfo(meta.ShardID, rid) {
		// Recorded, but its data is gone (it was being removed when the
		// node stopped): the placement will say whether it runs here.
		_ = c.forget(meta.ShardID)
		rid = 0
	}
	if rid != 0 {
		if err := n.host.StartRegularReplica(meta.ShardID, rid, nil, false, n.metaConfig(), meta.New); err != nil {
			return fmt.Errorf("runtime: restart the meta shard: %w", err)
		}
	} else if n.cfg.Bootstrap && c.state.GetVersion() == 0 {
		if err := c.record(meta.ShardID, 1); err != nil {
			return err
		}
		if err := n.host.StartRegularReplica(meta.ShardID, 1, map[uint64]string{1: n.addr}, false, n.metaConfig(), meta.New); err != nil {
			return fmt.Errorf("runtime: bootstrap the meta shard: %w", err)
		}
	}
	c.wg.Add(1)
	go c.loop()
	return nil
}

// stopCluster stops the loop and what it started, then the remote.
func (c *cluster) stopCluster() {
	c.spawnMu.Lock()
	c.closed = true
	c.spawnMu.Unlock()
	close(c.stop)
	c.cancelBase()
	c.wg.Wait()
	c.n.stopGRPC()
	remoteguard.Shutdown(c.n.sys, c.remote, nil)
}

// recordKey is where the node records its replica of a shard (in its own
// app store): dragonboat knows a replica only by (shard, replica id).
func recordKey(shardID uint64) []byte {
	return []byte("cluster/replica/" + strconv.FormatUint(shardID, 10))
}

func (c *cluster) recorded(shardID uint64) uint64 {
	v, err := c.n.comp.App().Get(recordKey(shardID))
	if err != nil {
		return 0
	}
	id, _ := strconv.ParseUint(string(v), 10, 64)
	return id
}

func (c *cluster) record(shardID, replicaID uint64) error {
	if err := c.n.comp.App().Put(recordKey(shardID), []byte(strconv.FormatUint(replicaID, 10))); err != nil {
		return fmt.Errorf("runtime: record replica %d of shard %d: %w", replicaID, shardID, err)
	}
	return nil
}

func (c *cluster) forget(shardID uint64) error {
	_, err := c.n.comp.App().Delete(recordKey(shardID))
	return err
}

// recordedReplicas lists the shards this node recorded replicas of.
func (c *cluster) recordedReplicas() map[uint64]uint64 {
	out := map[uint64]uint64{}
	prefix := []byte("cluster/replica/")
	items, _, err := c.n.comp.App().ScanPrefix(prefix, 0, nil)
	if err != nil {
		c.n.log.Warn("cannot read the replicas recorded", "err", err)
	}
	for _, it := range items {
		sid, err1 := strconv.ParseUint(string(it.Key[len(prefix):]), 10, 64)
		rid, err2 := strconv.ParseUint(string(it.Value), 10, 64)
		if err1 == nil && err2 == nil {
			out[sid] = rid
		}
	}
	return out
}

// loop sends heartbeats (and leads, on the meta leader) every
// HeartbeatInterval; reconciling, which may take seconds (starting and
// removing replicas), runs on its own goroutine so that it never delays a
// heartbeat (a late heartbeat looks like a dead node).
func (c *cluster) loop() {
	defer c.wg.Done()
	c.wg.Add(1)
	go c.reconcileLoop()
	t := time.NewTicker(c.n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		c.tick()
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// reconcileLoop reconciles when the state changes, and every heartbeat
// interval in any case.
func (c *cluster) reconcileLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-t.C:
		}
		c.reconcile()
	}
}

// ctx is a context cancelled when the cluster stops, bounded by d.
func (c *cluster) ctx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.base, d)
}

// tick is one round: report to the meta leader (or be it), learn the
// state, reconcile the local replicas with it.
func (c *cluster) tick() {
	hb := c.heartbeat()
	var reply *odgmv1.HeartbeatReply
	if c.metaLeaderHere() {
		c.bootstrap()
		reply = c.onHeartbeat(hb)
		c.lead()
	} else {
		c.lmu.Lock()
		if c.leading {
			c.leading = false
			clear(c.reports)
		}
		c.lmu.Unlock()
		reply = c.sendHeartbeat(hb)
	}
	if reply != nil {
		c.absorb(reply)
	}
}

// metaLeaderHere reports whether this node's meta replica leads.
func (c *cluster) metaLeaderHere() bool {
	rid, ok := c.n.host.ReplicaID(meta.ShardID)
	return ok && c.n.host.LeaderID(meta.ShardID) == rid
}

// metaState reads the meta shard's state on this node's replica.
func (c *cluster) metaState() (*odgmv1.ClusterState, error) {
	v, err := c.n.host.NodeHost().StaleRead(meta.ShardID, nil)
	if err != nil {
		return nil, err
	}
	return v.(*odgmv1.ClusterState), nil
}

// proposeMeta proposes a change of the cluster state on this node's meta
// replica.
func (c *cluster) proposeMeta(cmd *odgmv1.MetaCommand) (*odgmv1.MetaResult, error) {
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.ctx(c.n.cfg.AttemptTimeout)
	defer cancel()
	r, err := c.n.host.NodeHost().SyncPropose(ctx, c.n.host.NodeHost().GetNoOPSession(meta.ShardID), data)
	if err != nil {
		return nil, err
	}
	res := &odgmv1.MetaResult{}
	if err := proto.Unmarshal(r.Data, res); err != nil {
		return nil, err
	}
	return res, nil
}

// bootstrap writes the first cluster state (this node, the meta shard's
// placement) once the bootstrapped meta replica leads.
func (c *cluster) bootstrap() {
	st, err := c.metaState()
	if err != nil || meta.FindShard(st, meta.ShardID) != nil || !c.n.cfg.Bootstrap {
		return
	}
	v := st.GetVersion()
	_, _ = c.proposeMeta(&odgmv1.MetaCommand{
		ExpectedVersion: &v,
		PutNodes:        []*odgmv1.NodeInfo{c.nodeInfo()},
		PutShards: []*odgmv1.ShardPlacement{{
			ShardId: meta.ShardID, NextReplicaId: 2,
			Replicas: []*odgmv1.ReplicaPlacement{{ReplicaId: 1, NodeId: c.n.cfg.NodeID, State: odgmv1.ReplicaState_REPLICA_STATE_INITIAL}},
		}},
	})
}

func (c *cluster) nodeInfo() *odgmv1.NodeInfo {
	info := proto.Clone(c.self).(*odgmv1.NodeInfo)
	info.JoinedAt = timestamppb.Now()
	return info
}

// heartbeat is this node's report.
func (c *cluster) heartbeat() *odgmv1.Heartbeat {
	c.mu.RLock()
	known := c.state.GetVersion()
	c.mu.RUnlock()
	hb := &odgmv1.Heartbeat{Node: c.nodeInfo(), KnownVersion: known}
	info := c.n.host.NodeHost().GetNodeHostInfo(dragonboatInfoOption)
	for _, si := range info.ShardInfoList {
		h := c.n.host.Health(si.ShardID)
		r := &odgmv1.ReplicaReport{ShardId: si.ShardID, ReplicaId: si.ReplicaID, Term: si.Term,
			LeaderReplicaId: h.LeaderID, AppliedIndex: h.AppliedIndex, IsLeader: h.LeaderID != 0 && h.LeaderID == si.ReplicaID}
		if r.IsLeader {
			for id := range si.Replicas {
				r.Members = append(r.Members, id)
			}
			slices.Sort(r.Members)
		}
		if r.AppliedIndex == 0 {
			// A regular state machine (the meta shard) reports no applied
			// index through Health: its log's last index stands in.
			r.AppliedIndex = h.LogLastIndex
		}
		hb.Replicas = append(hb.Replicas, r)
	}
	return hb
}

// sendHeartbeat sends hb to the meta leader: the node last named as it,
// else a node running a meta replica, else the seeds in turn.
func (c *cluster) sendHeartbeat(hb *odgmv1.Heartbeat) *odgmv1.HeartbeatReply {
	var addrs []string
	c.mu.RLock()
	if n := meta.FindNode(c.state, c.metaLeader); n != nil {
		addrs = append(addrs, n.GetRemoteAddress())
	}
	if sp := meta.FindShard(c.state, meta.ShardID); sp != nil {
		for _, r := range sp.GetReplicas() {
			if n := meta.FindNode(c.state, r.GetNodeId()); n != nil && !slices.Contains(addrs, n.GetRemoteAddress()) {
				addrs = append(addrs, n.GetRemoteAddress())
			}
		}
	}
	c.mu.RUnlock()
	if len(c.n.cfg.Seeds) > 0 {
		i := c.seed.Add(1) % uint64(len(c.n.cfg.Seeds))
		addrs = append(addrs, c.n.cfg.Seeds[i])
	}
	for _, a := range addrs {
		if a == c.n.cfg.RemoteAddress {
			continue
		}
		// A busy meta leader may answer late: waiting up to a quarter of
		// the dead timeout keeps a slow answer from looking like silence.
		v, err := c.n.sys.Root.RequestFuture(newGatewayPID(a), hb, max(c.n.cfg.HeartbeatInterval, c.n.cfg.NodeDeadTimeout/4)).Result()
		if err != nil {
			continue
		}
		reply, ok := v.(*odgmv1.HeartbeatReply)
		if !ok {
			continue
		}
		if reply.GetError() != "" {
			c.mu.Lock()
			if reply.GetMetaLeaderNode() != 0 {
				c.metaLeader = reply.GetMetaLeaderNode()
			}
			c.mu.Unlock()
			if reply.GetState() != nil {
				return &odgmv1.HeartbeatReply{State: reply.GetState(), MetaLeaderNode: reply.GetMetaLeaderNode()}
			}
			continue
		}
		return reply
	}
	return nil
}

// onHeartbeat handles a node's heartbeat on the meta leader.
func (c *cluster) onHeartbeat(hb *odgmv1.Heartbeat) *odgmv1.HeartbeatReply {
	st, err := c.metaState()
	if err != nil || !c.metaLeaderHere() {
		reply := &odgmv1.HeartbeatReply{Error: "not the meta leader"}
		c.mu.RLock()
		reply.MetaLeaderNode = c.metaLeader
		if hb.GetKnownVersion() < c.state.GetVersion() {
			reply.State = c.state
		}
		c.mu.RUnlock()
		return reply
	}
	if meta.FindShard(st, meta.ShardID) == nil {
		return &odgmv1.HeartbeatReply{Error: "the cluster is being bootstrapped", MetaLeaderNode: c.n.cfg.NodeID}
	}
	id := hb.GetNode().GetNodeId()
	if id == 0 || hb.GetNode().GetRaftAddress() == "" || hb.GetNode().GetRemoteAddress() == "" {
		return &odgmv1.HeartbeatReply{Error: "a heartbeat needs the node's id, raft and remote addresses", MetaLeaderNode: c.n.cfg.NodeID}
	}
	known := meta.FindNode(st, id)
	if known != nil && known.GetRaftAddress() != hb.GetNode().GetRaftAddress() {
		return &odgmv1.HeartbeatReply{Error: fmt.Sprintf("node id %d belongs to the node at raft address %s", id, known.GetRaftAddress()),
			MetaLeaderNode: c.n.cfg.NodeID}
	}
	if known == nil || known.GetRemoteAddress() != hb.GetNode().GetRemoteAddress() || known.GetGrpcAddress() != hb.GetNode().GetGrpcAddress() {
		if _, err := c.proposeMeta(&odgmv1.MetaCommand{PutNodes: []*odgmv1.NodeInfo{hb.GetNode()}}); err == nil {
			if s, err := c.metaState(); err == nil {
				st = s
			}
		}
	}
	c.lmu.Lock()
	c.startLeading(st)
	c.lastSeen[id] = time.Now()
	c.reports[id] = hb.GetReplicas()
	leaders := c.leaderMapLocked(st)
	c.lmu.Unlock()
	reply := &odgmv1.HeartbeatReply{MetaLeaderNode: c.n.cfg.NodeID, Leaders: leaders}
	if hb.GetKnownVersion() < st.GetVersion() {
		reply.State = st
	}
	return reply
}

// startLeading starts the failure detector's clock for every known node
// when this node becomes the meta leader. lmu held.
func (c *cluster) startLeading(st *odgmv1.ClusterState) {
	if c.leading {
		return
	}
	c.leading = true
	now := time.Now()
	clear(c.lastSeen)
	clear(c.reports)
	for _, n := range st.GetNodes() {
		c.lastSeen[n.GetNodeId()] = now
	}
}

// alive reports which known nodes were heard of within NodeDeadTimeout.
// lmu held.
func (c *cluster) aliveLocked(st *odgmv1.ClusterState) map[uint64]bool {
	alive := map[uint64]bool{}
	now := time.Now()
	for _, n := range st.GetNodes() {
		seen, ok := c.lastSeen[n.GetNodeId()]
		if !ok {
			c.lastSeen[n.GetNodeId()] = now
			seen = now
		}
		alive[n.GetNodeId()] = now.Sub(seen) < c.n.cfg.NodeDeadTimeout
	}
	// The meta leader is alive whatever its own heartbeats (a slow tick of
	// its own must not make it repair itself).
	alive[c.n.cfg.NodeID] = true
	return alive
}

// leaderMapLocked maps shards to the nodes whose replicas report leading
// (alive nodes only; a stale leader's report loses to a newer term's, as
// in the placement supervisor). lmu held.
func (c *cluster) leaderMapLocked(st *odgmv1.ClusterState) map[uint64]uint64 {
	alive := c.aliveLocked(st)
	reports := make(map[uint64][]*odgmv1.ReplicaReport, len(c.reports))
	for node, rs := range c.reports {
		if alive[node] {
			reports[node] = rs
		}
	}
	return placement.Leaders(reports)
}

// lead runs the placement supervisor on the meta leader: plan, propose the
// state change, carry out the membership actions.
func (c *cluster) lead() {
	st, err := c.metaState()
	if err != nil || st.GetVersion() == 0 {
		return
	}
	c.lmu.Lock()
	c.startLeading(st)
	alive := c.aliveLocked(st)
	reports := map[uint64][]*odgmv1.ReplicaReport{}
	for id, rs := range c.reports {
		if alive[id] {
			reports[id] = rs
		}
	}
	c.lmu.Unlock()
	p := c.n.cfg.Placement
	d := placement.Plan(placement.Input{State: st, Alive: alive, Reports: reports, Config: placement.Config{
		MetaReplicas: p.MetaReplicas, MaxMovesInFlight: p.MaxMovesInFlight, CatchUpLag: p.CatchUpLag,
		BalanceLeaders: !p.NoLeaderBalance, ShardID: ShardID,
	}})
	c.carryOut(st, d)
}

// carryOut proposes a decision's state change and then carries out its
// membership actions. The actions were planned together with the change
// (an ADD_REPLICA goes with the JOINING replica it adds), so when the
// change is not applied — the state moved on, e.g. a node registered
// meanwhile — none of them is carried out: the next round plans again
// from the state as it is. Adding a replica the placement does not know
// could make a one-member meta shard two members, one of which never
// starts: a shard without quorum, for good.
func (c *cluster) carryOut(st *odgmv1.ClusterState, d placement.Decision) {
	if d.Change != nil {
		if res, err := c.proposeMeta(d.Change); err != nil || !res.GetApplied() {
			c.n.log.Info("placement change not applied; its membership actions wait for the next round",
				"err", err, "result", res.GetMessage())
			return
		}
	}
	for _, a := range d.Membership {
		key := fmt.Sprintf("%d/%d/%d", a.ShardID, a.Op, a.ReplicaID)
		c.lmu.Lock()
		busy := c.inflight[key]
		c.inflight[key] = true
		c.lmu.Unlock()
		if busy {
			continue
		}
		ch := &odgmv1.MembershipChange{ShardId: a.ShardID, Op: a.Op, ReplicaId: a.ReplicaID,
			TimeoutMs: uint64((5 * time.Second).Milliseconds())}
		if n := meta.FindNode(st, a.NodeID); n != nil {
			ch.RaftAddress = n.GetRaftAddress()
		}
		via := meta.FindNode(st, a.Via)
		c.spawn(func() {
			defer func() {
				c.lmu.Lock()
				delete(c.inflight, key)
				c.lmu.Unlock()
			}()
			var err error
			switch {
			case a.Via == c.n.cfg.NodeID:
				err = c.changeMembership(ch)
			case via != nil:
				var v any
				v, err = c.n.sys.Root.RequestFuture(newGatewayPID(via.GetRemoteAddress()), ch, 6*time.Second).Result()
				if r, ok := v.(*odgmv1.MembershipChangeResult); ok && r.GetError() != "" {
					err = errors.New(r.GetError())
				}
			default:
				err = fmt.Errorf("node %d unknown", a.Via)
			}
			if err != nil {
				c.n.log.Warn("membership change failed", "shard", a.ShardID, "op", a.Op, "replica", a.ReplicaID, "err", err)
			}
		})
	}
}

// changeMembership carries out a membership change on this node's replica
// of the shard.
func (c *cluster) changeMembership(ch *odgmv1.MembershipChange) error {
	d := time.Duration(ch.GetTimeoutMs()) * time.Millisecond
	if d <= 0 || d > time.Minute {
		d = 5 * time.Second
	}
	ctx, cancel := c.ctx(d)
	defer cancel()
	nh := c.n.host.NodeHost()
	if _, ok := c.n.host.ReplicaID(ch.GetShardId()); !ok {
		return fmt.Errorf("shard %d has no replica on node %d", ch.GetShardId(), c.n.cfg.NodeID)
	}
	switch ch.GetOp() {
	case odgmv1.MembershipOp_MEMBERSHIP_OP_ADD_REPLICA:
		if ch.GetRaftAddress() == "" || ch.GetReplicaId() == 0 {
			return errors.New("add replica: replica id and raft address are required")
		}
		return nh.SyncRequestAddReplica(ctx, ch.GetShardId(), ch.GetReplicaId(), ch.GetRaftAddress(), 0)
	case odgmv1.MembershipOp_MEMBERSHIP_OP_REMOVE_REPLICA:
		return nh.SyncRequestDeleteReplica(ctx, ch.GetShardId(), ch.GetReplicaId(), 0)
	case odgmv1.MembershipOp_MEMBERSHIP_OP_TRANSFER_LEADER:
		return nh.RequestLeaderTransfer(ch.GetShardId(), ch.GetReplicaId())
	}
	return fmt.Errorf("unknown membership operation %v", ch.GetOp())
}

// refresh asks the meta leader for the cluster's state now (a heartbeat
// out of turn) and learns its classes. Callers that arrive together share
// one exchange: a caller returns without its own once an exchange that
// started after it arrived has finished, or the state changed meanwhile.
func (c *cluster) refresh() {
	before := c.snapshot().GetVersion()
	arrived := c.refreshes.Load()
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.absorbMu.Lock() // an absorb in progress has learned when it unlocks
	c.absorbMu.Unlock()
	if c.refreshed > arrived || c.snapshot().GetVersion() != before {
		return // another caller or the loop just refreshed
	}
	defer func(n uint64) { c.refreshed = n }(c.refreshes.Add(1))
	hb := c.heartbeat()
	var reply *odgmv1.HeartbeatReply
	if c.metaLeaderHere() {
		reply = c.onHeartbeat(hb)
	} else {
		reply = c.sendHeartbeat(hb)
	}
	if reply != nil {
		c.absorb(reply)
	}
}

// learn makes the classes of st known here, once this node is part of the
// cluster.
func (c *cluster) learn(st *odgmv1.ClusterState) {
	if meta.FindNode(st, c.n.cfg.NodeID) != nil {
		c.n.learnClasses(st)
	}
}

// stateKey is where a node keeps the last cluster state it learned, so
// that after a restart it finds the cluster again without seeds.
var stateKey = []byte("cluster/state")

// loadState reads the state kept by saveState, if any.
func (c *cluster) loadState() {
	v, err := c.n.comp.App().Get(stateKey)
	if err != nil {
		return
	}
	st := &odgmv1.ClusterState{}
	if proto.Unmarshal(v, st) == nil {
		c.state = st
	}
}

func (c *cluster) saveState(st *odgmv1.ClusterState) {
	data, err := proto.Marshal(st)
	if err == nil {
		err = c.n.comp.App().Put(stateKey, data)
	}
	if err != nil {
		c.n.log.Warn("cannot keep the cluster state", "err", err)
	}
}

// absorb takes in what the meta leader said.
func (c *cluster) absorb(reply *odgmv1.HeartbeatReply) {
	// One absorb at a time, learning included: refresh waits on it to know
	// that a state it sees has been learned.
	c.absorbMu.Lock()
	defer c.absorbMu.Unlock()
	c.mu.Lock()
	var learned *odgmv1.ClusterState
	if st := reply.GetState(); st != nil && st.GetVersion() > c.state.GetVersion() {
		c.state, learned = st, st
		c.saveState(st)
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	if reply.GetLeaders() != nil {
		c.leaders = reply.GetLeaders()
	}
	if reply.GetMetaLeaderNode() != 0 {
		c.metaLeader = reply.GetMetaLeaderNode()
	}
	c.mu.Unlock()
	if learned != nil {
		// Classes are known as soon as the state that has them.
		c.learn(learned)
	}
}

// snapshot returns the state this node knows (not to be modified).
func (c *cluster) snapshot() *odgmv1.ClusterState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state
}

// reconcile makes the local replicas match the placement: classes new to
// this node get their shards, replicas placed here start, replicas no
// longer placed here are removed.
func (c *cluster) reconcile() {
	st := c.snapshot()
	if st.GetVersion() == 0 || meta.FindNode(st, c.n.cfg.NodeID) == nil {
		return // not part of the cluster yet: nothing to go by
	}
	c.n.learnClasses(st)
	me := c.n.cfg.NodeID
	want := map[uint64]*odgmv1.ReplicaPlacement{}
	for _, h := range placement.ReplicasOn(st, me) {
		want[h.Shard.GetShardId()] = h.Replica
	}
	for sid, rid := range c.recordedReplicas() {
		if r, ok := want[sid]; ok && r.GetReplicaId() == rid {
			continue
		}
		if sid == meta.ShardID && meta.FindShard(st, meta.ShardID) == nil {
			continue
		}
		c.removeLocal(sid, rid)
	}
	for _, sp := range st.GetShards() {
		r := want[sp.GetShardId()]
		if r == nil || c.n.host.Running(sp.GetShardId()) {
			continue
		}
		if err := c.startLocal(st, sp, r); err != nil {
			c.n.log.Warn("cannot start replica", "shard", sp.GetShardId(), "replica", r.GetReplicaId(), "err", err)
		}
	}
}

// startLocal starts this node's replica r of the shard sp.
func (c *cluster) startLocal(st *odgmv1.ClusterState, sp *odgmv1.ShardPlacement, r *odgmv1.ReplicaPlacement) error {
	sid, rid := sp.GetShardId(), r.GetReplicaId()
	var members map[uint64]string
	join := false
	if !c.n.host.NodeHost().HasNodeInfo(sid, rid) {
		switch r.GetState() {
		case odgmv1.ReplicaState_REPLICA_STATE_INITIAL:
			members = map[uint64]string{}
			for id, node := range placement.InitialMembers(sp) {
				n := meta.FindNode(st, node)
				if n == nil {
					return fmt.Errorf("initial member %d on unknown node %d", id, node)
				}
				members[id] = n.GetRaftAddress()
			}
		case odgmv1.ReplicaState_REPLICA_STATE_JOINING:
			join = true
		default:
			// A member whose data this node lost: it cannot take part
			// again under its id; placement replaces it when it is found
			// dead... it is not, so say so loudly.
			return fmt.Errorf("replica %d of shard %d is a member but its data is gone from this node", rid, sid)
		}
	}
	if err := c.record(sid, rid); err != nil {
		return err
	}
	if sid == meta.ShardID {
		return c.n.host.StartRegularReplica(sid, rid, members, join, c.n.metaConfig(), meta.New)
	}
	cl, s := c.n.shardByID(sid)
	if cl == nil {
		return fmt.Errorf("shard %d belongs to no known class", sid)
	}
	return c.n.startLocalShard(cl, s, rid, members, join)
}

// removeLocal removes this node's replica of a shard: it was moved away
// or replaced while this node was away.
func (c *cluster) removeLocal(sid, rid uint64) {
	if _, s := c.n.shardByID(sid); s != nil {
		c.n.stopLocalShard(s)
	}
	ctx, cancel := c.ctx(30 * time.Second)
	defer cancel()
	if err := c.n.host.RemoveReplica(ctx, sid, rid); err != nil {
		c.n.log.Warn("cannot remove replica", "shard", sid, "replica", rid, "err", err)
		return
	}
	_ = c.forget(sid)
}

// gateway is a node's entry point for remote clients and other nodes:
// object requests (odgmv1.Request), heartbeats and membership changes.
// Each is handled on its own goroutine (owned by the cluster's WaitGroup),
// never on the actor's.
type gateway struct{ c *cluster }

func (g *gateway) Receive(ctx actor.Context) {
	sender := ctx.Sender()
	if sender == nil {
		return
	}
	var handle func() proto.Message
	switch m := ctx.Message().(type) {
	case *odgmv1.Request:
		select {
		case g.c.busy <- struct{}{}:
		default:
			// A flood of requests is answered at once, not queued without
			// bound: the caller may retry elsewhere or later.
			ctx.Send(sender, &odgmv1.Response{Result: &odgmv1.Response_Error{Error: &odgmv1.Error{
				Code: odgmv1.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "node busy: too many requests in progress"}}})
			return
		}
		handle = func() proto.Message {
			defer func() { <-g.c.busy }()
			d := time.Duration(m.GetTimeoutMs()) * time.Millisecond
			if d <= 0 || d > 10*time.Minute {
				d = g.c.n.cfg.RequestTimeout
			}
			cctx, cancel := g.c.ctx(d)
			defer cancel()
			return g.c.n.Handle(withHops(cctx, m.GetHops()), m)
		}
	case *odgmv1.Heartbeat:
		handle = func() proto.Message { return g.c.onHeartbeat(m) }
	case *odgmv1.MetaCommand:
		handle = func() proto.Message { return g.c.onMetaCommand(m) }
	case *odgmv1.MembershipChange:
		handle = func() proto.Message {
			res := &odgmv1.MembershipChangeResult{}
			if err := g.c.changeMembership(m); err != nil {
				res.Error = err.Error()
			}
			return res
		}
	default:
		return
	}
	sys := ctx.ActorSystem()
	if !g.c.spawn(func() { sys.Root.Send(sender, handle()) }) {
		if _, ok := ctx.Message().(*odgmv1.Request); ok {
			<-g.c.busy
		}
	}
}

// spawn runs f on a goroutine owned by the cluster, unless it is stopping.
func (c *cluster) spawn(f func()) bool {
	c.spawnMu.Lock()
	defer c.spawnMu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

func newGatewayPID(addr string) *actor.PID { return actor.NewPID(addr, gatewayName) }

type hopsKey struct{}

// withHops records in ctx how many times a request was forwarded.
func withHops(ctx context.Context, hops uint32) context.Context {
	return context.WithValue(ctx, hopsKey{}, hops)
}

func hopsOf(ctx context.Context) uint32 {
	h, _ := ctx.Value(hopsKey{}).(uint32)
	return h
}

var errNotClustered = fmt.Errorf("%w: this node is not in a cluster (no remote_address)", odgm.ErrUnavailable)
