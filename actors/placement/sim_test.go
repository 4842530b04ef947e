package placement_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	metasm "github.com/odgm-go/odgm/actors/meta"
	"github.com/odgm-go/odgm/actors/placement"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// The simulation is a fake cluster: each shard's Raft group is a map of
// members whose changes apply the instant an action is executed; reports
// are derived from it; a group's leader is kept until its node dies or it
// is removed or transferred, then re-elected as the lowest-id member on an
// alive node (when a majority of members is alive). A member added late
// catches up 600 entries a round while the leader applies 10.

type simMember struct {
	node    uint64
	applied uint64
}

type simGroup struct {
	members map[uint64]*simMember
	leader  uint64 // replica id; 0 when none
	term    uint64
	applied uint64
}

type sim struct {
	t       *testing.T
	cfg     placement.Config
	state   *odgmv1.ClusterState
	alive   map[uint64]bool
	groups  map[uint64]*simGroup
	rounds  int
	failed  int // actions the fake cluster refused
	removed int
	// checkMoves makes every round check that at most MaxMovesInFlight
	// moves are in flight (only meaningful while no node is dead).
	checkMoves bool
	// wasCaughtUp holds (shard, replica) of replicas once INITIAL/ACTIVE.
	wasCaughtUp map[[2]uint64]bool
}

func newSim(t *testing.T, n int, cfg placement.Config, classes ...*odgmv1.ClassSpec) *sim {
	t.Helper()
	s := &sim{
		t:      t,
		cfg:    cfg,
		state:  &odgmv1.ClusterState{Version: 1, Classes: classes},
		alive:  map[uint64]bool{},
		groups: map[uint64]*simGroup{},

		wasCaughtUp: map[[2]uint64]bool{},
	}
	for id := range uint64(n) {
		s.addNode(id + 1)
	}
	// The first node bootstraps the meta shard on its own.
	s.state.Shards = append(s.state.Shards, meta(2, rp(1, 1, initial)))
	s.wasCaughtUp[[2]uint64{placement.MetaShardID, 1}] = true
	return s
}

func (s *sim) addNode(id uint64) {
	s.state.Nodes = append(s.state.Nodes, &odgmv1.NodeInfo{NodeId: id, RaftAddress: fmt.Sprintf("n%d:1", id)})
	s.state.Version++
	s.alive[id] = true
}

func (s *sim) aliveCount() int {
	n := 0
	for _, a := range s.alive {
		if a {
			n++
		}
	}
	return n
}

func (s *sim) want(sp *odgmv1.ShardPlacement) int {
	n, ok := placement.DesiredReplicas(s.state, sp, s.cfg)
	if !ok {
		s.t.Fatalf("shard %d of an unknown class", sp.GetShardId())
	}
	return n
}

// sync starts the groups of new shards and elects leaders.
func (s *sim) sync() {
	for _, sp := range s.state.GetShards() {
		g := s.groups[sp.GetShardId()]
		if g == nil {
			g = &simGroup{members: map[uint64]*simMember{}, applied: 1000}
			for id, node := range placement.InitialMembers(sp) {
				g.members[id] = &simMember{node: node, applied: 1000}
			}
			s.groups[sp.GetShardId()] = g
		}
		up := 0
		for _, m := range g.members {
			if s.alive[m.node] {
				up++
			}
		}
		if 2*up <= len(g.members) {
			g.leader = 0
			continue
		}
		if m := g.members[g.leader]; m != nil && s.alive[m.node] {
			continue
		}
		g.leader = 0
		for _, id := range slices.Sorted(maps.Keys(g.members)) {
			if s.alive[g.members[id].node] {
				g.leader = id
				g.term++
				break
			}
		}
	}
}

func (s *sim) progress() {
	for _, g := range s.groups {
		if g.leader == 0 {
			continue
		}
		g.applied += 10
		for id, m := range g.members {
			switch {
			case !s.alive[m.node]:
			case id == g.leader:
				m.applied = g.applied
			default:
				m.applied = min(g.applied, m.applied+600)
			}
		}
	}
}

func (s *sim) reports() map[uint64][]*odgmv1.ReplicaReport {
	out := map[uint64][]*odgmv1.ReplicaReport{}
	for _, sp := range s.state.GetShards() {
		g := s.groups[sp.GetShardId()]
		for _, id := range slices.Sorted(maps.Keys(g.members)) {
			m := g.members[id]
			if !s.alive[m.node] {
				continue
			}
			r := &odgmv1.ReplicaReport{
				ShardId: sp.GetShardId(), ReplicaId: id, LeaderReplicaId: g.leader,
				Term: g.term, AppliedIndex: m.applied, IsLeader: id == g.leader,
			}
			if r.IsLeader {
				r.Members = slices.Sorted(maps.Keys(g.members))
			}
			out[m.node] = append(out[m.node], r)
		}
		// A joining replica runs before it is a member.
		for _, r := range sp.GetReplicas() {
			if r.GetState() == joining && g.members[r.GetReplicaId()] == nil && s.alive[r.GetNodeId()] {
				out[r.GetNodeId()] = append(out[r.GetNodeId()], &odgmv1.ReplicaReport{ShardId: sp.GetShardId(), ReplicaId: r.GetReplicaId()})
			}
		}
	}
	return out
}

func (s *sim) leaderNode(g *simGroup) uint64 {
	if m := g.members[g.leader]; m != nil && g.leader != 0 {
		return m.node
	}
	return 0
}

// caughtUpAlive counts g's members on alive nodes within CatchUpLag of the
// leader, leaving out except.
func (s *sim) caughtUpAlive(g *simGroup, except uint64) int {
	n := 0
	for id, m := range g.members {
		if id != except && s.alive[m.node] && m.applied+placement.DefaultCatchUpLag >= g.applied {
			n++
		}
	}
	return n
}

// step runs one round: Plan, apply its MetaCommand, execute its actions.
func (s *sim) step() placement.Decision {
	t := s.t
	t.Helper()
	s.rounds++
	s.sync()
	s.progress()
	in := placement.Input{State: s.state, Alive: maps.Clone(s.alive), Reports: s.reports(), Config: s.cfg}
	before := proto.Clone(s.state)
	d := placement.Plan(in)
	if !proto.Equal(before, s.state) {
		t.Fatalf("round %d: Plan modified its input", s.rounds)
	}
	if again := placement.Plan(in); !sameDecision(d, again) {
		t.Fatalf("round %d: Plan is not idempotent:\n%s\nthen\n%s", s.rounds, show(d), show(again))
	}
	checkDecision(t, in, d)
	if c := d.Change; c != nil {
		if c.GetExpectedVersion() != s.state.GetVersion() {
			t.Fatalf("round %d: expected_version %d, state at %d", s.rounds, c.GetExpectedVersion(), s.state.GetVersion())
		}
		next := proto.Clone(s.state).(*odgmv1.ClusterState)
		for _, put := range c.GetPutShards() {
			i := slices.IndexFunc(next.Shards, func(sp *odgmv1.ShardPlacement) bool { return sp.GetShardId() == put.GetShardId() })
			if i < 0 {
				next.Shards = append(next.Shards, proto.Clone(put).(*odgmv1.ShardPlacement))
			} else {
				next.Shards[i] = proto.Clone(put).(*odgmv1.ShardPlacement)
			}
		}
		next.Version++
		s.state = next
		for _, sp := range next.GetShards() {
			for _, r := range sp.GetReplicas() {
				if placement.CaughtUp(r.GetState()) {
					s.wasCaughtUp[[2]uint64{sp.GetShardId(), r.GetReplicaId()}] = true
				}
			}
		}
	}
	for _, a := range d.Membership {
		s.execute(a)
	}
	if s.checkMoves {
		if n := s.movesInFlight(); n > max(s.cfg.MaxMovesInFlight, 1) {
			t.Fatalf("round %d: %d moves in flight, MaxMovesInFlight %d", s.rounds, n, s.cfg.MaxMovesInFlight)
		}
	}
	return d
}

func (s *sim) execute(a placement.Action) {
	t := s.t
	g := s.groups[a.ShardID]
	if g == nil || !s.alive[a.Via] || s.leaderNode(g) != a.Via {
		s.failed++ // not the leader: the executor fails and Plan retries
		return
	}
	sp := metasm.FindShard(s.state, a.ShardID)
	switch a.Op {
	case add:
		if r := placement.Replica(sp, a.ReplicaID); r == nil || r.GetNodeId() != a.NodeID {
			t.Fatalf("round %d: %+v adds a replica the placement does not have", s.rounds, a)
		}
		if g.members[a.ReplicaID] == nil {
			g.members[a.ReplicaID] = &simMember{node: a.NodeID}
		}
	case remove:
		m := g.members[a.ReplicaID]
		if m == nil {
			return
		}
		// (c): removing a caught-up member on an alive node never leaves
		// fewer than min(R, alive) caught-up members on alive nodes; and a
		// member that was ever INITIAL/ACTIVE is removed only once R others
		// are caught up in the placement: its replacement caught up first.
		// (An abandoned JOINING member or a stray counts for nothing.)
		floor := min(s.want(sp), s.aliveCount())
		counted := s.alive[m.node] && m.applied+placement.DefaultCatchUpLag >= g.applied
		if after := s.caughtUpAlive(g, a.ReplicaID); counted && after < floor {
			t.Fatalf("round %d: %+v leaves %d caught-up members on alive nodes, want >= %d", s.rounds, a, after, floor)
		}
		others := 0
		for _, r := range sp.GetReplicas() {
			if r.GetReplicaId() != a.ReplicaID && placement.CaughtUp(r.GetState()) {
				others++
			}
		}
		if s.wasCaughtUp[[2]uint64{a.ShardID, a.ReplicaID}] && others < s.want(sp) {
			t.Fatalf("round %d: %+v before its replacement caught up: placement %v", s.rounds, a, sp)
		}
		delete(g.members, a.ReplicaID)
		s.removed++
		if g.leader == a.ReplicaID {
			g.leader = 0
		}
	case transfer:
		m := g.members[a.ReplicaID]
		if m == nil || !s.alive[m.node] || m.applied+placement.DefaultCatchUpLag < g.applied {
			t.Fatalf("round %d: %+v to a replica that cannot lead", s.rounds, a)
		}
		g.leader = a.ReplicaID
		g.term++
	default:
		t.Fatalf("round %d: unknown op in %+v", s.rounds, a)
	}
}

// movesInFlight counts replicas on the move: LEAVING ones, plus JOINING or
// surplus ones, whichever is more, per shard.
func (s *sim) movesInFlight() int {
	n := 0
	for _, sp := range s.state.GetShards() {
		var j, l, stay int
		for _, r := range sp.GetReplicas() {
			switch r.GetState() {
			case joining:
				j++
			case leaving:
				l++
			}
			if r.GetState() != leaving {
				stay++
			}
		}
		n += l + max(j, stay-s.want(sp))
	}
	return n
}

// settled reports whether every shard has exactly its desired replicas, all
// caught up on alive nodes and all members, and nothing else is a member.
func (s *sim) settled() error {
	for _, sp := range s.state.GetShards() {
		if got, want := len(sp.GetReplicas()), s.want(sp); got != want {
			return fmt.Errorf("shard %d has %d replicas, want %d", sp.GetShardId(), got, want)
		}
		g := s.groups[sp.GetShardId()]
		if g == nil || len(g.members) != len(sp.GetReplicas()) {
			return fmt.Errorf("shard %d: members %v, placement %v", sp.GetShardId(), g, sp)
		}
		for _, r := range sp.GetReplicas() {
			if !placement.CaughtUp(r.GetState()) || !s.alive[r.GetNodeId()] || g.members[r.GetReplicaId()] == nil {
				return fmt.Errorf("shard %d: replica %v", sp.GetShardId(), r)
			}
		}
	}
	return nil
}

// converge steps until a round plans nothing and the cluster is settled,
// failing after limit rounds; it returns the rounds taken.
func (s *sim) converge(limit int) int {
	s.t.Helper()
	start := s.rounds
	for s.rounds-start < limit {
		if d := s.step(); d.Empty() && s.settled() == nil {
			return s.rounds - start
		}
	}
	s.t.Fatalf("not converged after %d rounds: %v\nstate: %v", limit, s.settled(), s.state)
	return 0
}

func (s *sim) loads() (lo, hi int) {
	load := placement.Load(s.state)
	first := true
	for node, a := range s.alive {
		if !a {
			continue
		}
		if first || load[node] < lo {
			lo = load[node]
		}
		if first || load[node] > hi {
			hi = load[node]
		}
		first = false
	}
	return lo, hi
}

func (s *sim) leaderSpread() (lo, hi int) {
	count := map[uint64]int{}
	for node, a := range s.alive {
		if a {
			count[node] += 0
		}
	}
	for _, g := range s.groups {
		if n := s.leaderNode(g); n != 0 {
			count[n]++
		}
	}
	vals := slices.Collect(maps.Values(count))
	return slices.Min(vals), slices.Max(vals)
}

func simClasses() []*odgmv1.ClassSpec {
	return []*odgmv1.ClassSpec{class("a", 4, 3), class("b", 4, 3)}
}

func TestSimKillNode(t *testing.T) {
	s := newSim(t, 4, cfg(), simClasses()...)
	t.Logf("bootstrap: %d rounds", s.converge(50))
	s.alive[4] = false
	n := s.converge(50)
	t.Logf("repair after losing node 4: %d rounds, %d removals", n, s.removed)
	for _, sp := range s.state.GetShards() {
		if placement.ReplicaOn(sp, 4) != nil {
			t.Errorf("shard %d still has a replica on dead node 4", sp.GetShardId())
		}
		for _, m := range s.groups[sp.GetShardId()].members {
			if m.node == 4 {
				t.Errorf("shard %d still has a member on dead node 4", sp.GetShardId())
			}
		}
	}
}

func TestSimAddNode(t *testing.T) {
	for _, moves := range []int{1, 2} {
		t.Run(fmt.Sprintf("MaxMovesInFlight=%d", moves), func(t *testing.T) {
			c := cfg()
			c.MaxMovesInFlight = moves
			s := newSim(t, 4, c, simClasses()...)
			s.checkMoves = true
			s.converge(50)
			s.addNode(5)
			n := s.converge(150)
			lo, hi := s.loads()
			t.Logf("rebalance onto node 5: %d rounds, loads %v", n, placement.Load(s.state))
			if hi-lo > 1 {
				t.Errorf("loads %v: max-min = %d", placement.Load(s.state), hi-lo)
			}
		})
	}
}

func TestSimLeaderBalance(t *testing.T) {
	c := cfg()
	c.BalanceLeaders = true
	s := newSim(t, 4, c, simClasses()...)
	s.checkMoves = true
	s.converge(80)
	s.addNode(5)
	n := s.converge(200)
	lo, hi := s.leaderSpread()
	t.Logf("leaders after adding node 5: %d rounds, spread %d..%d", n, lo, hi)
	if hi-lo > 1 {
		t.Errorf("leader counts %d..%d", lo, hi)
	}
	if lo, hi := s.loads(); hi-lo > 1 {
		t.Errorf("loads %v", placement.Load(s.state))
	}
}

// TestSimChurn kills, revives and adds nodes at random (seeded) moments,
// checking the safety invariants every round; once the churn stops and
// every node is back the cluster must settle, balanced. With twoFailures a
// second node also fails for three rounds now and then, while another is
// down.
func TestSimChurn(t *testing.T) {
	seeds := uint64(40)
	if testing.Short() {
		seeds = 5
	}
	for _, twoFailures := range []bool{false, true} {
		for seed := range seeds {
			t.Run(fmt.Sprintf("twoFailures=%v/%d", twoFailures, seed), func(t *testing.T) {
				churn(t, seed, twoFailures)
			})
		}
	}
}

func churn(t *testing.T, seed uint64, twoFailures bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	c := cfg()
	c.BalanceLeaders = seed%2 == 0
	c.MaxMovesInFlight = 1 + int(seed%3)
	s := newSim(t, 4, c, simClasses()...)
	var dead uint64
	for range 150 {
		if rng.IntN(5) == 0 {
			switch {
			case dead != 0 && twoFailures && rng.IntN(2) == 0:
				nodes := slices.Sorted(maps.Keys(s.alive))
				second := nodes[rng.IntN(len(nodes))]
				s.alive[second] = false
				for range 3 {
					s.step()
				}
				s.alive[second] = true
			case dead != 0:
				s.alive[dead] = true
				dead = 0
			case rng.IntN(3) == 0 && len(s.state.Nodes) < 6:
				s.addNode(uint64(len(s.state.Nodes)) + 1)
			default:
				nodes := slices.Sorted(maps.Keys(s.alive))
				dead = nodes[rng.IntN(len(nodes))]
				s.alive[dead] = false
			}
		}
		s.step()
	}
	for n := range s.alive {
		s.alive[n] = true
	}
	n := s.converge(200)
	if lo, hi := s.loads(); hi-lo > 1 {
		t.Errorf("loads %v", placement.Load(s.state))
	}
	if lo, hi := s.leaderSpread(); c.BalanceLeaders && hi-lo > 1 {
		t.Errorf("leader counts %d..%d", lo, hi)
	}
	t.Logf("%d nodes, settled %d rounds after churn; %d removals, %d refused actions", len(s.state.Nodes), n, s.removed, s.failed)
}
