// Package runtime is the embeddable ODGM node: start one inside your
// program, declare classes of objects with methods, and work with objects
// by (class, id). Every write is replicated by Raft (dragonboat, through
// package shards) and stored in the three storage layers of package
// storage.
//
//	node, err := runtime.Start(ctx, runtime.Config{DataDir: "data"}) // or Memory: true
//	if err != nil { ... }
//	defer node.Stop(ctx)
//	err = node.RegisterClass(ctx, runtime.Class{
//		Name: "counter",
//		Methods: map[string]runtime.Method{
//			"incr": func(ctx context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
//				v, _ := o.Get("n")
//				n, _ := strconv.Atoi(string(v))
//				o.Set("n", []byte(strconv.Itoa(n+1)))
//				return nil, nil
//			},
//		},
//	})
//	_, err = node.Invoke(ctx, "counter", "visits", "incr", nil)
//	st, err := node.Get(ctx, "counter", "visits") // st.Version, st.Entries["n"]
//
// # Node
//
// A Node is one dragonboat NodeHost (shards.Host) and one protoactor
// ActorSystem (logging discarded) over one data directory. Config's zero
// value plus DataDir is a durable single node (append_log fsyncing before
// acknowledging, zstd snapshot files, buntdb); Memory: true keeps
// everything in memory (no DataDir needed: a temporary directory holds
// dragonboat's flag files and is removed by Stop). A single node with no
// RaftAddress uses dragonboat's in-process transport and never listens on
// a port; its placeholder address is kept in DataDir/raft-address.
// Several nodes form a static cluster through Config.Cluster (node id →
// Raft address, loopback or not). Stop is graceful and idempotent: calls
// already queued are answered, object actors finish what they hold, then
// shards, NodeHost, actor system and storage close, releasing every
// goroutine and file. Start sets dragonboat's process-wide loggers to
// CRITICAL (dragonboat has no per-NodeHost logger).
//
// # Classes and shards
//
// RegisterClass creates a class's shards: partition p of class c is the
// dragonboat shard ShardID(c, p) = (high 48 bits of FNV-1a-64(c)) | p —
// deterministic on every node and across restarts, without coordination;
// ids below 65536 stay free for the node's own groups. An object's
// partition is object.Partition(id, partitions) (FNV-1a-64 mod
// partitions): a class's partitions and replicas cannot change over
// existing data (they are recorded in the node's own app store under
// runtime/class/<name>, and RegisterClass refuses another shape). The
// replicas of a shard are placed by Replicas: the class's replica count of
// the cluster's nodes, in id order, starting at shardID mod nodes; the
// replica id is the node id. Each node registers the class; a node starts
// only the replicas placed on it, and a shard elects a leader once a
// quorum of its nodes has registered. In a static cluster every request on
// a node must find a replica of its shard on that node (odgm.ErrUnavailable
// otherwise); a dynamic cluster (below) routes.
//
// # Cluster
//
// Setting RemoteAddress makes the node a member of a dynamic cluster
// (cmd/odgm runs such nodes from YAML). One node starts it (Bootstrap: the
// meta shard, dragonboat shard 1, with this node its first replica); the
// others join through Seeds. The meta shard (package actors/meta) holds
// the cluster's truth: nodes and their addresses, classes, and the
// placement of every shard's replicas (replica ids are allocated per shard
// and never reused). It grows to Placement.MetaReplicas replicas as nodes
// join.
//
// Every HeartbeatInterval each node sends a heartbeat to the meta leader
// (the node it last heard was leader, else a meta member, else a seed)
// with reports of its replicas; the reply carries the cluster state when
// it changed and the leaders of all shards. The node keeps the last state
// in its own app store, so a restarted node finds the cluster without
// seeds. A first heartbeat registers the node; a node id already used by
// another raft address is refused.
//
// On the meta leader the placement supervisor (package actors/placement:
// pure decisions) runs every heartbeat: nodes not heard of for
// NodeDeadTimeout are dead (the clock starts when a node becomes meta
// leader); new classes get their shards placed; a shard with a replica on
// a dead node gets a new replica on another node (added to the Raft group,
// caught up, then the dead one removed); a node that joins takes a fair
// share by the same add-then-remove moves, at most
// Placement.MaxMovesInFlight at once; leaders are spread by leader
// transfer. Meta changes are conditional on the state's version; Raft
// membership changes run on a node with a replica of the shard (through
// its gateway actor). Every node reconciles its replicas with the
// placement: it starts those placed on it (founding members with the
// initial membership, added ones as joining replicas) and removes, data
// and all, those no longer placed on it — a node that comes back after
// being replaced drops its stale replicas this way.
//
// Routing: any node accepts any request. A request on an object goes to
// the node of its shard's leader (this node's replica's view, else the
// leaders the meta leader reported), over protoactor remote to that
// node's gateway actor; if the route is stale the receiver forwards again
// (at most twice in all) or serves it with its own replica. An unreachable
// node or an unavailable shard is retried with the route looked up again
// until the call's deadline, with the same request id (writes and
// invocations get one before they are first forwarded), so a leader
// change costs latency, not errors. List and QueryIndex ask each
// partition's leader node for its part. CreateClass, ListClasses and
// Status serve data-only classes and the operators (odgm class create,
// odgm status); RegisterClass on a cluster node registers the class's
// code on this node and creates the class in the cluster if needed: every
// node of an application registers the same classes. The gateway also
// serves remote clients (package client); GRPCAddress adds the gRPC
// ObjectService (with reflection). Remote and gRPC ports reject unknown
// or malformed messages (internal/remoteguard) and bound message sizes
// (MaxMessageBytes); TLS turns on mutual TLS for Raft, remote and gRPC.
//
// # Objects, versions and writes
//
// Get, Put, Delete, DeleteObject, CompareAndSwap, List, QueryIndex, Invoke
// and InvokeStateless take a context first and return the typed errors of
// package odgm (errors.Is). Versions: 0 while an object does not exist,
// 1 after its first write, +1 for every write that changes something (a
// batch counts once); writing stored values, deleting missing entries and
// an empty batch change nothing. A stale expected version →
// odgm.ErrVersionMismatch and nothing written. Limits (id, entry name,
// value size, batch size) are Config.Limits → odgm.ErrTooLarge.
//
// Every write carries a request id (RequestID sets it; otherwise a fresh
// one): the shard's state machine remembers the first result of each id
// (shards.Config.MaxRememberedRequests), so a retry — by the caller, or by
// the runtime itself after a dropped or timed-out proposal — is applied at
// most once. An invocation's method may run several times (after version
// mismatches); its k-th run proposes with request id "<id>#k", so a
// retried invocation finds its earlier runs' results. The reply travels
// with the writes and is remembered with the result: a retry returns the
// reply of the run that was applied, not one computed again on the state
// that run already changed. (A method that writes nothing proposes
// nothing, so its reply is computed afresh each time.)
//
// Reads (Get, List, QueryIndex) are linearizable (Raft ReadIndex) unless
// StaleRead or ListOptions.Stale / IndexQuery.Stale ask for this node's
// applied state. List merges the class's partitions into one order (the
// bytewise order of id+"/"), with the last id of a page as the cursor;
// QueryIndex goes partition by partition with a "<partition>:<resume>"
// cursor.
//
// # Object actors
//
//	shards supervisor
//	 └─ shard-<id>         the shard actor (package shards): replica, log,
//	     │                 snapshot and data children
//	     └─ objects        one per local shard (ShardSpec.Objects): routes
//	         │             calls to object actors, passivates them,
//	         │             restarts them after a panic
//	         └─ object actor  one per active object (virtual: spawned by
//	                          its first call)
//
// Calls are sent to the shard actor, which forwards them to its objects
// child with their sender, and hands it the shard's events. A restart of
// the shard actor stops the object actors with it (calls they held fail
// with a typed error, and a retry with the same request id is applied at
// most once); the next call activates them again.
//
// Writes (Put, Delete, DeleteObject, CompareAndSwap) and invocations of an
// object go through its actor, one at a time in arrival order. An
// invocation runs the method on the object's state (cached in the actor,
// or read linearizably), collects its Sets and Deletes, drops the ones that
// change nothing, and proposes the rest as one command conditioned on the
// version and the incarnation (created_at) it read — versions restart at 1
// when an object is deleted and created again, so the version alone could
// not tell the new object from the one read; no writes → no proposal. A method error or panic →
// nothing written and a *odgm.MethodError; after a panic the actor is
// restarted (fresh state). While a read or proposal is in flight the actor
// is in a waiting behaviour (BecomeStacked) that buffers every message; the
// completion arrives as a message, the actor unbecomes and replays the
// buffer in order (the buffer lives outside the actor instance, so a
// restart loses nothing). The mailbox never blocks on Raft.
//
// An actor is passivated after Config.IdleTimeout without messages
// (Class.Options.IdleTimeout overrides), and at once when a leader change
// of its shard (an event from the Host's Dispatcher) names another node or
// no leader: it first finishes what it holds, and calls for the object
// wait in the objects actor until it has stopped, so an object never has
// two actors on one node. ActiveObjects counts them. When the shard gets a new leader, every actor with a read
// or proposal in flight sends it again (same request id), rather than
// waiting for a request lost with the old leader to time out; any attempt
// is bounded by Config.AttemptTimeout and retried up to Config.MaxRetries
// times within the call's deadline.
//
// Caching and coherence: an object actor keeps the object's state between
// calls unless the class sets NoStateCache, whatever its replica count;
// it reads the object only on its first call and after the cache is
// dropped. This keeps every guarantee:
//
//   - Writes. A method's writes are proposed conditioned on the version of
//     the state it ran on, cached or not, and after a write the cache is
//     advanced only when the result is the next version of the same
//     incarnation (same created_at); otherwise it is dropped. A cache made
//     stale by a write that bypassed this actor (an actor of the object on
//     another node, or shards.Host directly) only costs a version-mismatch
//     result, on which the actor reads the object again (linearizably) and
//     runs the method once more — the same path as a conflict between two
//     uncached calls. (A version alone does not name a state when an
//     object is deleted and re-created up to the same version between a
//     read and a conditioned write; that window, which a cache widens,
//     exists with or without it.)
//   - Read-only invocations. A method that writes nothing (or returns an
//     error) proposes nothing, so nothing would catch a stale cache: its
//     reply (or error) is returned only after the object's metadata
//     (version, created_at, updated_at; no entries) is read and found
//     equal to the cached state's. With several replicas that read is
//     linearizable (a ReadIndex round, then the metadata from the local
//     state machine), so the reply reflects every write acknowledged
//     before the invocation started, on any node; with one replica it is
//     the local state, which holds every acknowledged write (see Object
//     actors). If the metadata differs, the cache is dropped, the object
//     read, and the method run again. A call made with StaleRead skips the
//     check. (A method that panics is answered at once, on whatever state
//     it ran on, and its actor restarted with no cache.)
//   - Per-object order and exactly-once are the actor's and the state
//     machine's, unchanged: the cache only decides what a run starts from.
//
// Passivation on a leader change still drops the caches of a shard whose
// leader moved away. No leader lease is used: dragonboat offers none, and
// a lease would trust clocks, which ReadIndex does not.
//
// # Goroutines
//
// All Node methods are safe for concurrent use. Methods run on their
// object actor's goroutine (a worker of its shard's pool, owned by the
// shard's objects actor), stateless methods on the caller's. Proposals and reads complete on goroutines owned by the
// shards.Host; their completions are messages to the actors.
package runtime
