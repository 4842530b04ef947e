// Package meta is the cluster's truth: the replicated state machine of the
// meta shard (dragonboat shard 1), which holds the nodes and their
// addresses, the classes and the placement of every shard's replicas as one
// odgmv1.ClusterState.
//
// The state is small (a few records per node, class and shard), so the
// state machine is a regular in-memory dragonboat state machine: Raft's
// log and dragonboat's snapshots (the whole state as one protobuf) make it
// durable, and a restart replays the log since the last snapshot.
//
// A change is an odgmv1.MetaCommand applied all or nothing, returning an
// odgmv1.MetaResult:
//   - expected_version, when set, must equal the state's version (the
//     placement supervisor plans on one version and proposes with it);
//     otherwise nothing is applied and the result says so;
//   - create_classes adds classes; a class that exists with the same shape
//     (partitions, replicas, indexes) is left alone, one with another
//     shape fails the whole command (class_exists);
//   - put_nodes and put_shards add or replace records by id; remove_nodes
//     deletes nodes.
//
// Every applied command that changed something bumps the version by one.
// Apply is deterministic: no clocks (times travel in the command), and the
// state's lists are kept sorted by id.
//
// Lookup takes nil and returns a deep copy of the state (*odgmv1.ClusterState).
package meta
