// Package placement decides where the replicas of the cluster's shards go
// and how the cluster repairs and balances itself. It only decides: Plan is
// a pure function from the cluster state, the failure detector's view and
// the nodes' replica reports to a Decision (a change of the cluster state
// and Raft membership actions). It starts no goroutine, does no I/O, reads
// no clock and draws no random number, so the same Input always gives the
// same Decision. Any goroutine may call it at any time, provided nobody
// modifies the Input meanwhile.
//
// # The loop
//
// On the meta shard's leader, a placement actor runs, every tick:
//
//  1. d := Plan(Input{State, Alive, Reports, Config}).
//  2. If d.Change is not nil, propose it to the meta shard. Its
//     ExpectedVersion is the planned State.Version, so a decision made on a
//     stale state is refused, and the next tick plans again.
//  3. Carry out d.Membership: each Action on the node Via (its shard's
//     leader when known) — ADD_REPLICA, REMOVE_REPLICA or TRANSFER_LEADER of
//     ReplicaID, whose node is NodeID.
//
// A Decision is only the next safe step; the next Plan sees its effects in
// the new state and reports and takes the step after. Plan is idempotent:
// while an action has not taken effect, Plan emits it again, so executors
// must tolerate repeats (adding a member that is already one, removing one
// that is gone). Every node runs the replicas ReplicasOn returns for it:
// an INITIAL one starts its Raft group with InitialMembers, a JOINING one
// starts as a joining replica, ACTIVE and LEAVING ones keep running, and
// one no longer listed is stopped.
//
// # Terms
//
//   - A node is alive when it is in State.Nodes and Input.Alive says so;
//     other nodes are dead. Only alive nodes' reports are read.
//   - R, a shard's desired replicas: its class's replicas, or for the meta
//     shard (MetaShardID, class "") min(Config.MetaReplicas, len(State.Nodes)).
//     A shard of a class missing from State.Classes only finishes its moves
//     under way (rules 3 and 6); nothing is added to it or taken from it.
//   - Caught up: a replica in state INITIAL or ACTIVE.
//   - Healthy: INITIAL, ACTIVE or JOINING on an alive node.
//   - Load of a node: the replicas, in any state, placed on it, counting
//     the ones this Decision places.
//   - The shard's leader: the alive node reporting IsLeader for it (highest
//     term, then lowest node id); its report's Members are the membership
//     and its AppliedIndex the reference for catching up. A replica has
//     reported catching up when its own node reports it with an applied
//     index >= the leader's minus Config.CatchUpLag.
//   - Via: the leader's node; else the lowest alive node reporting a
//     caught-up replica of the shard, else any replica of it; with none, no
//     action is emitted (rule 3 emits it later).
//
// # Rules
//
// Plan first places new shards (rule 1), then takes at most one step per
// existing shard, in shard id order: the first of rules 6, 3, stray
// removal, 4, 2 and 5 that can make progress. Then at most one rebalancing
// move (rule 7), then, if nothing else was planned, at most one leadership
// transfer (rule 8).
//
//  1. Initial placement. Each partition p of a class in State.Classes whose
//     shard Config.ShardID(class, p) is missing from State.Shards gets R
//     INITIAL replicas, ids 1..R, next_replica_id R+1, on R distinct alive
//     nodes, least loaded first, ties to the lowest node id. A class with
//     fewer alive nodes than R is not placed yet. No membership action: the
//     founding members start the group themselves. Classes are taken in
//     State.Classes order. A ShardID equal to MetaShardID is skipped; with
//     no ShardID function nothing is placed.
//
//  2. Meta shard. Without a shard MetaShardID in State.Shards, nothing (the
//     first node bootstraps it). While it has fewer than R non-LEAVING
//     replicas and none JOINING, it gets a JOINING replica (id
//     next_replica_id, which is bumped) on the lowest-id alive node not
//     hosting it, and an ADD_REPLICA. The other rules apply to it too.
//
//  3. JOINING replica. On a dead node it becomes LEAVING (it would never
//     catch up, and would block repair). Else, with a leader reported:
//     while not in the leader's members, ADD_REPLICA via the leader; once a
//     member and reported caught up, it becomes ACTIVE.
//
//  4. Repair. A shard with fewer than R healthy replicas (a replica on a
//     dead node, or an abandoned JOINING one) and no JOINING replica gets a
//     JOINING replica on the least-loaded alive node hosting none of its
//     replicas (ties to the lowest id), and an ADD_REPLICA. It is not
//     limited by Config.MaxMovesInFlight.
//
//  5. Over-replication. A shard with more than R caught-up replicas loses
//     one: on a dead node first, else on the most-loaded node (ties to the
//     highest node id). If the victim leads the shard, its leadership is
//     transferred first (TRANSFER_LEADER via the leader to a caught-up,
//     reported caught-up member on an alive node, on the node leading the
//     fewest shards, then the lowest id); else it becomes LEAVING. A victim
//     on an alive node goes only if R other caught-up replicas are on alive
//     nodes.
//
//  6. LEAVING replica (needs a reported leader; without one, nothing). Not
//     in the leader's members: dropped from the placement. Else, if it is
//     on an alive node and its removal would now leave fewer than R
//     caught-up replicas on alive nodes (another node died since it was
//     chosen), it goes back to ACTIVE if reported caught up, else waits. If
//     it leads, TRANSFER_LEADER as in rule 5. Else REMOVE_REPLICA via the
//     leader.
//
//     Stray member: a member the leader reports that the placement does not
//     know (an ADD_REPLICA that landed after its replica was dropped) gets a
//     REMOVE_REPLICA with NodeID 0, unless it leads.
//
//  7. Rebalance, when Config.MaxMovesInFlight > 0, no shard needs repair (has
//     fewer than R healthy replicas or a non-LEAVING one on a dead node), and
//     fewer than MaxMovesInFlight moves are in flight, counted on the
//     planned state: per shard, its LEAVING replicas plus its JOINING ones
//     or its replicas beyond R, whichever is more (a move is JOINING, then a
//     surplus ACTIVE replica, then LEAVING). If the loads of the alive nodes
//     differ by more than one, the lowest-id settled shard (R caught-up
//     replicas on alive nodes, a leader, not planned for in this call)
//     hosted on the most-loaded node (ties to the highest id) and not on the
//     least-loaded one (ties to the lowest id) gets a JOINING replica there
//     and an ADD_REPLICA; rule 5 later retires the one on the most-loaded
//     node. If no shard fits that pair, the next pairs whose loads differ by
//     more than one are tried. One move per call.
//
//  8. Leader balance, with Config.BalanceLeaders, when this call planned
//     nothing else and no replica is JOINING or LEAVING. Leaders per alive
//     node are counted from the reports. One TRANSFER_LEADER of a shard to a
//     caught-up, reported caught-up member on another node whose count is at
//     least two lower than its leader's: the widest such gap, then the
//     lowest shard id, then the lowest node id. If none exists but the
//     counts still differ by more than one, the first hop of the shortest
//     chain of transfers from a most-leading node to a node leading two
//     fewer (each hop keeps the spread, the last narrows it).
//
//  9. One Decision is consistent: one MetaCommand, ExpectedVersion =
//     State.Version, whose PutShards carry every shard placement changed or
//     created by the call, each once, by shard id; each shard gets at most
//     one membership action, and a shard is planned for at most once.
//
// Never mutated: Plan clones (proto.Clone) the placements it changes; the
// Decision's messages are new and belong to the caller.
//
// # Safety
//
// A caught-up replica on an alive node is removed only while R others are
// caught up on alive nodes, and a replica on a dead node only once R others
// are caught up: a replacement always catches up before what it replaces
// leaves, and no removal takes a shard below R caught-up replicas on alive
// nodes. The tests drive Plan against a simulated cluster, with nodes
// failing (one, or two at once), returning and joining, and check this
// every round.
//
// # Helpers
//
// Load, Shard, ReplicaOn, Replica, ReplicasOn, InitialMembers,
// DesiredReplicas, LeaderReport, LeaderNode and CaughtUp are pure helpers
// for the actors that carry decisions out.
package placement
