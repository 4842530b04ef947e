package placement

import (
	"cmp"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// Input is everything Plan decides on.
type Input struct {
	// State is the cluster state as the meta shard holds it. Plan never
	// modifies it.
	State *odgmv1.ClusterState
	// Alive maps node id → alive, per the failure detector. A node of
	// State.Nodes that is missing or false is dead; a node not in
	// State.Nodes is ignored.
	Alive map[uint64]bool
	// Reports maps node id → the replica reports of its latest heartbeat.
	// Reports of dead nodes are ignored.
	Reports map[uint64][]*odgmv1.ReplicaReport
	Config  Config
}

// Action is one Raft membership operation for an executor to carry out.
type Action struct {
	ShardID uint64
	Op      odgmv1.MembershipOp
	// ReplicaID is the replica added, removed, or to become leader.
	ReplicaID uint64
	// NodeID is the node of that replica (the executor looks up its raft
	// address). It is 0 for the removal of a member the placement does not
	// know.
	NodeID uint64
	// Via is the node to execute on: the reported leader's node when known,
	// else an alive node that reports running a replica of the shard.
	Via uint64
}

// Decision is the next safe step towards the desired placement.
type Decision struct {
	// Change is nil when the state needs no change. Else its
	// ExpectedVersion is the planned State.Version and its PutShards hold
	// every changed or new shard placement, ordered by shard id, each once.
	Change *odgmv1.MetaCommand
	// Membership is ordered by shard id, except that a rebalancing or
	// leader-balancing action comes last.
	Membership []Action
}

// Empty reports whether d asks for nothing.
func (d Decision) Empty() bool {
	return d.Change == nil && len(d.Membership) == 0
}

// Plan returns the next safe step from in: a pure function of its input
// (no clock, no randomness, no I/O), so calling it again on the same input
// returns the same decision. See the package documentation for the rules.
func Plan(in Input) Decision {
	if in.State == nil {
		return Decision{}
	}
	p := newPlanner(in)
	p.placeNewShards()
	for _, id := range p.order {
		if !p.touched[id] {
			p.stepShard(p.view(id))
		}
	}
	p.rebalance()
	p.balanceLeaders()
	return p.decision()
}

// planner holds one Plan call's working state. shards holds the planned
// placements: the input's messages until a shard changes, then a clone.
type planner struct {
	cfg     Config
	state   *odgmv1.ClusterState
	alive   map[uint64]bool // nodes of State.Nodes that are alive
	nodes   []uint64        // alive node ids, ascending
	reports map[uint64]map[uint64]*odgmv1.ReplicaReport
	leaders map[uint64]int // alive node id → shards it reports leading

	shards  map[uint64]*odgmv1.ShardPlacement
	order   []uint64 // shard ids, ascending
	load    map[uint64]int
	changed map[uint64]bool
	touched map[uint64]bool
	actions []Action
}

func newPlanner(in Input) *planner {
	cfg := in.Config
	if cfg.MetaReplicas < 0 {
		cfg.MetaReplicas = 0
	}
	cfg.EnsureDefaults()
	p := &planner{
		cfg:     cfg,
		state:   in.State,
		alive:   make(map[uint64]bool),
		reports: make(map[uint64]map[uint64]*odgmv1.ReplicaReport),
		leaders: make(map[uint64]int),
		shards:  make(map[uint64]*odgmv1.ShardPlacement),
		load:    Load(in.State),
		changed: make(map[uint64]bool),
		touched: make(map[uint64]bool),
	}
	for _, n := range in.State.GetNodes() {
		if id := n.GetNodeId(); in.Alive[id] && !p.alive[id] {
			p.alive[id] = true
			p.nodes = append(p.nodes, id)
		}
	}
	slices.Sort(p.nodes)
	for _, sp := range in.State.GetShards() {
		if _, dup := p.shards[sp.GetShardId()]; !dup {
			p.shards[sp.GetShardId()] = sp
			p.order = append(p.order, sp.GetShardId())
		}
	}
	slices.Sort(p.order)
	for node, rs := range in.Reports {
		if !p.alive[node] {
			continue
		}
		for _, r := range rs {
			sid := r.GetShardId()
			byNode := p.reports[sid]
			if byNode == nil {
				byNode = make(map[uint64]*odgmv1.ReplicaReport)
				p.reports[sid] = byNode
			}
			// A node runs at most one replica of a shard; should it report
			// two, prefer the one the placement puts there.
			if old := byNode[node]; old == nil || p.placed(sid, node, r.GetReplicaId()) {
				byNode[node] = r
			}
		}
	}
	for _, id := range p.order {
		if v := p.view(id); v.leader != nil {
			p.leaders[v.leaderNode]++
		}
	}
	return p
}

func (p *planner) placed(shardID, node, replicaID uint64) bool {
	r := Replica(p.shards[shardID], replicaID)
	return r != nil && r.GetNodeId() == node
}

// view is one shard as Plan sees it.
type view struct {
	sp         *odgmv1.ShardPlacement
	want       int // desired caught-up replicas; -1 when the class is unknown
	reports    map[uint64]*odgmv1.ReplicaReport
	leader     *odgmv1.ReplicaReport // nil when no alive node reports leading
	leaderNode uint64
	members    map[uint64]bool // voting members per the leader
}

func (p *planner) view(id uint64) *view {
	sp := p.shards[id]
	v := &view{sp: sp, want: -1, reports: p.reports[id]}
	if n, ok := DesiredReplicas(p.state, sp, p.cfg); ok {
		v.want = n
	}
	for node, r := range v.reports {
		if r.GetIsLeader() && leads(node, r, v.leaderNode, v.leader) {
			v.leader, v.leaderNode = r, node
		}
	}
	if v.leader != nil {
		v.members = make(map[uint64]bool, len(v.leader.GetMembers()))
		for _, m := range v.leader.GetMembers() {
			v.members[m] = true
		}
	}
	return v
}

// reportedCaughtUp reports whether r's own node reports it within
// CatchUpLag of the leader's applied index.
func (p *planner) reportedCaughtUp(v *view, r *odgmv1.ReplicaPlacement) bool {
	if v.leader == nil || !p.alive[r.GetNodeId()] {
		return false
	}
	rep := v.reports[r.GetNodeId()]
	return rep != nil && rep.GetReplicaId() == r.GetReplicaId() &&
		rep.GetAppliedIndex()+p.cfg.CatchUpLag >= v.leader.GetAppliedIndex()
}

// caughtUpAlive counts the INITIAL/ACTIVE replicas of v on alive nodes,
// leaving out the replica except.
func (p *planner) caughtUpAlive(v *view, except uint64) int {
	n := 0
	for _, r := range v.sp.GetReplicas() {
		if r.GetReplicaId() != except && CaughtUp(r.GetState()) && p.alive[r.GetNodeId()] {
			n++
		}
	}
	return n
}

// via returns the node to run an action of v on: the leader's node, else
// the lowest alive node reporting a caught-up replica of the shard, else
// the lowest reporting any, else 0.
func (p *planner) via(v *view) uint64 {
	if v.leader != nil {
		return v.leaderNode
	}
	var best uint64
	bestCaught := false
	for _, node := range slices.Sorted(maps.Keys(v.reports)) {
		r := Replica(v.sp, v.reports[node].GetReplicaId())
		caught := r != nil && r.GetNodeId() == node && CaughtUp(r.GetState())
		if best == 0 || (caught && !bestCaught) {
			best, bestCaught = node, caught
		}
	}
	return best
}

// set records next as the planned placement of its shard and an optional
// action, keeping the planned loads in step.
func (p *planner) set(next *odgmv1.ShardPlacement, act *Action) {
	if next != nil {
		id := next.GetShardId()
		if old := p.shards[id]; old != nil {
			for _, r := range old.GetReplicas() {
				p.load[r.GetNodeId()]--
			}
		} else {
			p.order = append(p.order, id)
			slices.Sort(p.order)
		}
		for _, r := range next.GetReplicas() {
			p.load[r.GetNodeId()]++
		}
		p.shards[id] = next
		p.changed[id] = true
		p.touched[id] = true
	}
	if act != nil {
		p.actions = append(p.actions, *act)
		p.touched[act.ShardID] = true
	}
}

// Rule 1.
func (p *planner) placeNewShards() {
	if p.cfg.ShardID == nil {
		return
	}
	for _, c := range p.state.GetClasses() {
		want := int(c.GetReplicas())
		if c.GetPartitions() == 0 || want == 0 || len(p.nodes) < want {
			continue
		}
		for part := range int(c.GetPartitions()) {
			id := p.cfg.ShardID(c.GetName(), part)
			if _, exists := p.shards[id]; exists || id == MetaShardID {
				continue
			}
			nodes := slices.Clone(p.nodes)
			slices.SortStableFunc(nodes, func(a, b uint64) int {
				return cmp.Or(cmp.Compare(p.load[a], p.load[b]), cmp.Compare(a, b))
			})
			sp := &odgmv1.ShardPlacement{
				ShardId:       id,
				Class:         c.GetName(),
				Partition:     uint32(part),
				NextReplicaId: uint64(want) + 1,
			}
			for i, n := range nodes[:want] {
				sp.Replicas = append(sp.Replicas, &odgmv1.ReplicaPlacement{
					ReplicaId: uint64(i) + 1, NodeId: n, State: stateInitial,
				})
			}
			p.set(sp, nil)
		}
	}
}

// stepShard plans at most one step for one existing shard: the first of
// rules 6, 3, stray removal, 4, 2 and 5 that can make progress.
func (p *planner) stepShard(v *view) {
	for _, rule := range []func(*view) (*odgmv1.ShardPlacement, *Action, bool){
		p.leaving, p.joining, p.stray, p.repair, p.growMeta, p.shrink,
	} {
		if next, act, ok := rule(v); ok {
			p.set(next, act)
			return
		}
	}
}

// Rule 6.
func (p *planner) leaving(v *view) (*odgmv1.ShardPlacement, *Action, bool) {
	if v.leader == nil {
		return nil, nil, false
	}
	for _, r := range sortedReplicas(v.sp) {
		if r.GetState() != stateLeaving {
			continue
		}
		id := r.GetReplicaId()
		if !v.members[id] {
			return without(v.sp, id), nil, true
		}
		if p.alive[r.GetNodeId()] && v.want >= 0 && p.caughtUpAlive(v, id) < v.want {
			// Things changed since it was marked: removing it now would
			// leave too few caught-up replicas. Keep it if it is caught up.
			if p.reportedCaughtUp(v, r) {
				return withState(v.sp, id, stateActive), nil, true
			}
			continue
		}
		if id == v.leader.GetReplicaId() && r.GetNodeId() == v.leaderNode {
			t := p.transferTarget(v, id)
			if t == nil {
				continue
			}
			return nil, &Action{ShardID: v.sp.GetShardId(), Op: opTransfer, ReplicaID: t.GetReplicaId(), NodeID: t.GetNodeId(), Via: v.leaderNode}, true
		}
		return nil, &Action{ShardID: v.sp.GetShardId(), Op: opRemove, ReplicaID: id, NodeID: r.GetNodeId(), Via: v.leaderNode}, true
	}
	return nil, nil, false
}

// Rule 3.
func (p *planner) joining(v *view) (*odgmv1.ShardPlacement, *Action, bool) {
	for _, r := range sortedReplicas(v.sp) {
		if r.GetState() != stateJoining {
			continue
		}
		id := r.GetReplicaId()
		switch {
		case !p.alive[r.GetNodeId()]:
			// It will never catch up; abandon it so repair can go on.
			return withState(v.sp, id, stateLeaving), nil, true
		case v.leader == nil:
		case !v.members[id]:
			return nil, &Action{ShardID: v.sp.GetShardId(), Op: opAdd, ReplicaID: id, NodeID: r.GetNodeId(), Via: v.leaderNode}, true
		case p.reportedCaughtUp(v, r):
			return withState(v.sp, id, stateActive), nil, true
		}
	}
	return nil, nil, false
}

// stray removes a member the leader reports that the placement does not
// know: a late ADD_REPLICA of a replica already dropped.
func (p *planner) stray(v *view) (*odgmv1.ShardPlacement, *Action, bool) {
	if v.leader == nil {
		return nil, nil, false
	}
	members := slices.Clone(v.leader.GetMembers())
	slices.Sort(members)
	for _, m := range members {
		if Replica(v.sp, m) == nil && m != v.leader.GetReplicaId() {
			return nil, &Action{ShardID: v.sp.GetShardId(), Op: opRemove, ReplicaID: m, Via: v.leaderNode}, true
		}
	}
	return nil, nil, false
}

// Rule 4.
func (p *planner) repair(v *view) (*odgmv1.ShardPlacement, *Action, bool) {
	if v.want < 0 || p.healthy(v.sp) >= v.want || hasState(v.sp, stateJoining) {
		return nil, nil, false
	}
	target, ok := p.leastLoaded(v.sp)
	if !ok {
		return nil, nil, false
	}
	next, act := p.addReplica(v, target)
	return next, act, true
}

// Rule 2.
func (p *planner) growMeta(v *view) (*odgmv1.ShardPlacement, *Action, bool) {
	if v.sp.GetShardId() != MetaShardID || v.want < 0 || hasState(v.sp, stateJoining) {
		return nil, nil, false
	}
	n := 0
	for _, r := range v.sp.GetReplicas() {
		if r.GetState() != stateLeaving {
			n++
		}
	}
	if n >= v.want {
		return nil, nil, false
	}
	for _, node := range p.nodes {
		if ReplicaOn(v.sp, node) == nil {
			next, act := p.addReplica(v, node)
			return next, act, true
		}
	}
	return nil, nil, false
}

// Rule 5.
func (p *planner) shrink(v *view) (*odgmv1.ShardPlacement, *Action, bool) {
	if v.want < 0 {
		return nil, nil, false
	}
	var caught []*odgmv1.ReplicaPlacement
	for _, r := range v.sp.GetReplicas() {
		if CaughtUp(r.GetState()) {
			caught = append(caught, r)
		}
	}
	if len(caught) <= v.want {
		return nil, nil, false
	}
	// Dead nodes first, then the most loaded; ties to the highest node id.
	victim := slices.MaxFunc(caught, func(a, b *odgmv1.ReplicaPlacement) int {
		return cmp.Or(
			cmp.Compare(boolInt(!p.alive[a.GetNodeId()]), boolInt(!p.alive[b.GetNodeId()])),
			cmp.Compare(p.load[a.GetNodeId()], p.load[b.GetNodeId()]),
			cmp.Compare(a.GetNodeId(), b.GetNodeId()),
		)
	})
	id := victim.GetReplicaId()
	if p.alive[victim.GetNodeId()] && p.caughtUpAlive(v, id) < v.want {
		return nil, nil, false
	}
	if v.leader != nil && id == v.leader.GetReplicaId() && victim.GetNodeId() == v.leaderNode {
		t := p.transferTarget(v, id)
		if t == nil {
			return nil, nil, false
		}
		return nil, &Action{ShardID: v.sp.GetShardId(), Op: opTransfer, ReplicaID: t.GetReplicaId(), NodeID: t.GetNodeId(), Via: v.leaderNode}, true
	}
	return withState(v.sp, id, stateLeaving), nil, true
}

// transferTarget picks the replica to hand v's leadership to: a caught-up
// member on an alive node other than except, on the node leading the fewest
// shards, ties to the lowest node id; nil when there is none.
func (p *planner) transferTarget(v *view, except uint64) *odgmv1.ReplicaPlacement {
	var best *odgmv1.ReplicaPlacement
	for _, r := range v.sp.GetReplicas() {
		if r.GetReplicaId() == except || !CaughtUp(r.GetState()) || !v.members[r.GetReplicaId()] || !p.reportedCaughtUp(v, r) {
			continue
		}
		if best == nil || cmp.Or(cmp.Compare(p.leaders[r.GetNodeId()], p.leaders[best.GetNodeId()]), cmp.Compare(r.GetNodeId(), best.GetNodeId())) < 0 {
			best = r
		}
	}
	return best
}

// healthy counts sp's INITIAL, ACTIVE and JOINING replicas on alive nodes.
func (p *planner) healthy(sp *odgmv1.ShardPlacement) int {
	n := 0
	for _, r := range sp.GetReplicas() {
		if r.GetState() != stateLeaving && p.alive[r.GetNodeId()] {
			n++
		}
	}
	return n
}

// leastLoaded returns the least-loaded alive node hosting no replica of sp,
// ties to the lowest id.
func (p *planner) leastLoaded(sp *odgmv1.ShardPlacement) (uint64, bool) {
	var best uint64
	found := false
	for _, n := range p.nodes {
		if ReplicaOn(sp, n) == nil && (!found || p.load[n] < p.load[best]) {
			best, found = n, true
		}
	}
	return best, found
}

// addReplica returns v's placement with a JOINING replica on node, and the
// ADD_REPLICA action for it (nil when no node can run it yet; rule 3 emits
// it later).
func (p *planner) addReplica(v *view, node uint64) (*odgmv1.ShardPlacement, *Action) {
	next := proto.Clone(v.sp).(*odgmv1.ShardPlacement)
	id := max(next.GetNextReplicaId(), maxReplicaID(next)+1)
	next.NextReplicaId = id + 1
	next.Replicas = append(next.Replicas, &odgmv1.ReplicaPlacement{ReplicaId: id, NodeId: node, State: stateJoining})
	via := p.via(v)
	if via == 0 {
		return next, nil
	}
	return next, &Action{ShardID: next.GetShardId(), Op: opAdd, ReplicaID: id, NodeID: node, Via: via}
}

// needsRepair reports whether a shard lacks healthy replicas or has one on
// a dead node that is not yet LEAVING.
func (p *planner) needsRepair(v *view) bool {
	if v.want < 0 {
		return false
	}
	if p.healthy(v.sp) < v.want {
		return true
	}
	for _, r := range v.sp.GetReplicas() {
		if r.GetState() != stateLeaving && !p.alive[r.GetNodeId()] {
			return true
		}
	}
	return false
}

// movesInFlight counts a shard's replicas on the move: LEAVING ones, plus
// JOINING ones or surplus caught-up ones, whichever is more (a move is
// JOINING, then a surplus ACTIVE replica, then LEAVING).
func movesInFlight(v *view) int {
	var joining, leaving, staying int
	for _, r := range v.sp.GetReplicas() {
		switch r.GetState() {
		case stateJoining:
			joining++
		case stateLeaving:
			leaving++
		}
		if r.GetState() != stateLeaving {
			staying++
		}
	}
	if v.want < 0 {
		return joining + leaving
	}
	return leaving + max(joining, staying-v.want)
}

// Rule 7.
func (p *planner) rebalance() {
	if p.cfg.MaxMovesInFlight <= 0 || len(p.nodes) < 2 {
		return
	}
	inFlight := 0
	for _, id := range p.order {
		v := p.view(id)
		if p.needsRepair(v) {
			return
		}
		inFlight += movesInFlight(v)
	}
	if inFlight >= p.cfg.MaxMovesInFlight {
		return
	}
	sources := slices.Clone(p.nodes)
	slices.SortFunc(sources, func(a, b uint64) int { // most loaded first, ties to the highest id
		return cmp.Or(cmp.Compare(p.load[b], p.load[a]), cmp.Compare(b, a))
	})
	targets := slices.Clone(p.nodes)
	slices.SortFunc(targets, func(a, b uint64) int { // least loaded first, ties to the lowest id
		return cmp.Or(cmp.Compare(p.load[a], p.load[b]), cmp.Compare(a, b))
	})
	for _, src := range sources {
		for _, dst := range targets {
			if p.load[src]-p.load[dst] <= 1 {
				break
			}
			for _, id := range p.order {
				v := p.view(id)
				if p.touched[id] || !p.settled(v) {
					continue
				}
				if r := ReplicaOn(v.sp, src); r == nil || ReplicaOn(v.sp, dst) != nil {
					continue
				}
				p.set(p.addReplica(v, dst))
				return
			}
		}
	}
}

// settled reports whether a shard is at rest: exactly its desired replicas,
// all caught up on alive nodes, and a known leader.
func (p *planner) settled(v *view) bool {
	if v.want < 0 || v.leader == nil || len(v.sp.GetReplicas()) != v.want {
		return false
	}
	for _, r := range v.sp.GetReplicas() {
		if !CaughtUp(r.GetState()) || !p.alive[r.GetNodeId()] {
			return false
		}
	}
	return true
}

// Rule 8.
func (p *planner) balanceLeaders() {
	if !p.cfg.BalanceLeaders || len(p.changed) > 0 || len(p.actions) > 0 || len(p.nodes) < 2 {
		return
	}
	for _, id := range p.order {
		if sp := p.shards[id]; hasState(sp, stateJoining) || hasState(sp, stateLeaving) {
			return
		}
	}
	// edges[L] are the transfers a node L can make: a shard it leads to a
	// caught-up member on another alive node; by shard id, then node id.
	edges := make(map[uint64][]Action)
	var best *Action
	bestGap := 1
	for _, id := range p.order {
		v := p.view(id)
		if v.leader == nil {
			continue
		}
		for _, r := range sortedByNode(v.sp) {
			if r.GetNodeId() == v.leaderNode || !CaughtUp(r.GetState()) || !v.members[r.GetReplicaId()] || !p.reportedCaughtUp(v, r) {
				continue
			}
			a := Action{ShardID: id, Op: opTransfer, ReplicaID: r.GetReplicaId(), NodeID: r.GetNodeId(), Via: v.leaderNode}
			edges[v.leaderNode] = append(edges[v.leaderNode], a)
			if gap := p.leaders[v.leaderNode] - p.leaders[r.GetNodeId()]; gap > bestGap {
				best, bestGap = &a, gap
			}
		}
	}
	if best == nil {
		best = p.leaderChain(edges)
	}
	if best != nil {
		p.set(nil, best)
	}
}

// leaderChain handles the case no single transfer narrows the spread: the
// most-leading nodes' shards have no replica on a node leading two fewer.
// It returns the first hop of the shortest chain of transfers from a
// most-leading node to such a node (each hop moves one leadership one node
// along; the spread is unchanged until the last hop narrows it), or nil.
func (p *planner) leaderChain(edges map[uint64][]Action) *Action {
	hi, lo := p.leaders[p.nodes[0]], p.leaders[p.nodes[0]]
	for _, n := range p.nodes {
		hi, lo = max(hi, p.leaders[n]), min(lo, p.leaders[n])
	}
	if hi-lo <= 1 {
		return nil
	}
	type hop struct {
		from uint64
		act  Action
	}
	via := make(map[uint64]hop) // node → the hop that reached it
	seen := make(map[uint64]bool)
	var queue []uint64
	for _, n := range p.nodes {
		if p.leaders[n] == hi {
			seen[n] = true
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, a := range edges[n] {
			t := a.NodeID
			if seen[t] {
				continue
			}
			seen[t] = true
			via[t] = hop{from: n, act: a}
			if p.leaders[t] > hi-2 {
				queue = append(queue, t)
				continue
			}
			for {
				h := via[t]
				if _, more := via[h.from]; !more {
					return &h.act
				}
				t = h.from
			}
		}
	}
	return nil
}

func (p *planner) decision() Decision {
	d := Decision{Membership: p.actions}
	if len(p.changed) == 0 {
		return d
	}
	d.Change = &odgmv1.MetaCommand{ExpectedVersion: proto.Uint64(p.state.GetVersion())}
	for _, id := range p.order {
		if p.changed[id] {
			d.Change.PutShards = append(d.Change.PutShards, p.shards[id])
		}
	}
	return d
}

// withState returns a clone of sp with replica id in state s.
func withState(sp *odgmv1.ShardPlacement, id uint64, s odgmv1.ReplicaState) *odgmv1.ShardPlacement {
	next := proto.Clone(sp).(*odgmv1.ShardPlacement)
	Replica(next, id).State = s
	return next
}

// without returns a clone of sp without replica id.
func without(sp *odgmv1.ShardPlacement, id uint64) *odgmv1.ShardPlacement {
	next := proto.Clone(sp).(*odgmv1.ShardPlacement)
	next.Replicas = slices.DeleteFunc(next.Replicas, func(r *odgmv1.ReplicaPlacement) bool {
		return r.GetReplicaId() == id
	})
	return next
}

func hasState(sp *odgmv1.ShardPlacement, s odgmv1.ReplicaState) bool {
	return slices.ContainsFunc(sp.GetReplicas(), func(r *odgmv1.ReplicaPlacement) bool { return r.GetState() == s })
}

func maxReplicaID(sp *odgmv1.ShardPlacement) uint64 {
	var m uint64
	for _, r := range sp.GetReplicas() {
		m = max(m, r.GetReplicaId())
	}
	return m
}

func sortedReplicas(sp *odgmv1.ShardPlacement) []*odgmv1.ReplicaPlacement {
	rs := slices.Clone(sp.GetReplicas())
	slices.SortFunc(rs, func(a, b *odgmv1.ReplicaPlacement) int { return cmp.Compare(a.GetReplicaId(), b.GetReplicaId()) })
	return rs
}

func sortedByNode(sp *odgmv1.ShardPlacement) []*odgmv1.ReplicaPlacement {
	rs := slices.Clone(sp.GetReplicas())
	slices.SortFunc(rs, func(a, b *odgmv1.ReplicaPlacement) int { return cmp.Compare(a.GetNodeId(), b.GetNodeId()) })
	return rs
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
