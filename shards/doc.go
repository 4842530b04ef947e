// Package shards runs ODGM's shards: the replicated state machine of a
// shard over the application-data layer, the Host that runs replicas on a
// dragonboat NodeHost, and the protoactor actor tree that supervises them.
//
// # Main types
//
//   - StateMachine: dragonboat's IOnDiskStateMachine over one replica's
//     app store (storage.Composite.OpenApp("shard-<shard>-<replica>")).
//     NewStateMachineFactory makes them.
//   - Config: per-shard settings (Raft snapshot/compaction/election,
//     exactly-once bound, snapshot codec, read consistency, export schedule
//     and retention, secondary indexes); EnsureDefaults and Validate.
//   - Host: one node's NodeHost, its LogDB built from the storage's log
//     config (storage.Composite.LogDBFactory), its event Dispatcher. StartReplica,
//     Propose / ProposeAsync, Read / ReadAsync, Export, Health, and
//     RestoreReplica (disaster recovery from an exported snapshot).
//   - Queries for Lookup / Host.Read: GetObject, ListObjects, QueryIndex,
//     GetStats.
//   - Actors: SupervisorProps (the node's shards supervisor), ShardProps
//     (one shard: children log, snapshot, data), messages Write, Read,
//     GetHealth, ExportNow, StartShard, StopShard.
//   - Supervision: Decide (a pure function) and Strategy, which carries
//     its decisions out as a protoactor SupervisorStrategy.
//
// # Key layout of a shard's app store
//
//	o/<class>/<id>/m          object metadata: protobuf odgm.v1.ObjectMeta
//	o/<class>/<id>/e/<name>   entry value, raw bytes
//	s/applied                 last applied Raft index, 8 bytes big endian
//	s/rq                      exactly-once table header: next seq, count (2 x 8 bytes)
//	s/rq/<request id>         8-byte seq, then protobuf CommandResult (the first result)
//	s/rs/<seq as 16 hex>      request id (orders the table by apply order)
//	s/recovering              present only while a snapshot is being loaded
//	s/restored                ID of the snapshot RestoreReplica loaded (if any)
//
// Classes, ids and entry names never contain '/' (see package object), so
// a user index pattern such as "o/account/*/e/balance" covers exactly the
// "balance" entries of class account and never metadata or state-machine
// keys. Objects list in the bytewise order of "<id>/".
//
// # Apply semantics
//
// A Command changes one object. Its version is 0 while it does not exist,
// 1 after its first write, and +1 for each command that changes something
// (a command with many puts counts once). Puts are applied, then deletes (a
// delete wins over a put of the same name); what counts is the net effect:
// an empty command, deleting missing entries, putting the values already
// stored, or a put and delete of a name that did not exist change nothing,
// and return NOOP with the current metadata, nothing written. An object
// exists from its first write until delete_object, even with no entries
// left. delete_object removes metadata and entries (NOOP if missing) and
// may not be combined with puts or deletes; a deleted object starts again
// at version 1 (there is no tombstone: a CAS on a version read before the
// deletion can succeed against the re-created object).
// expected_version, if set, must equal the current version (0: must not
// exist), else VERSION_MISMATCH with the current metadata and nothing
// written. created_at and updated_at come from the command's proposed_at
// (required for a mutating command; Host stamps it if missing), never from
// the applying node's clock.
//
// A command that cannot be decoded, names no object, another class, an
// invalid id (object.NormalizeID; ids are normalised on apply) or entry
// name, or has a request id over MaxRequestIDLen gets INVALID and changes
// nothing. Update never returns an error for bad input (dragonboat would
// stop the replica); it returns one only when the app store fails.
//
// Every Update batch is one app write transaction, which also stores
// s/applied: Open returns it, so a restart re-applies nothing, and an
// entry at or below it is skipped if dragonboat ever offers one.
//
// # Durability and limits of the app store
//
// The app store need not fsync every commit: the Raft log is durable, Open
// returns the applied index that reached the disk, and dragonboat replays
// the entries after it; before it compacts the log it takes a snapshot,
// which calls Sync (an fsync of the app store). Shard stores are therefore
// opened with Config.AppSync (default never, overriding the node's
// app_storage sync_policy through storage.WithSyncPolicy): one fsync per
// Update batch (the log's) instead of two. A process crash loses nothing
// (the page cache survives it); a power loss may leave the store's tail,
// written after the last Sync, torn, which appdata trims on open, and the
// entries it held are applied again from the log. Set AppSync "always" to
// fsync every batch instead; bench/shardbench -app-sync measures both.
//
// An app store that would pass app_storage.config.max_size_mb fails the
// whole Update: the replica stops (fail-stop) rather than refusing the
// command, because the limit is node configuration and could differ
// between replicas, which would make apply non-deterministic.
//
// # Exactly-once
//
// Dragonboat's client sessions do not work with on-disk state machines, so
// a command with a request id has its first result remembered, in the same
// transaction. A later command with the same id gets that result (of
// whatever status) and is not applied. The table is bounded by
// Config.MaxRememberedRequests: each remembered id takes the next sequence
// number, in apply order, and an id is remembered while it is among the
// last MaxRememberedRequests of them. That rule depends on the applied log
// alone, so every replica, and a replica restored from a snapshot or
// restarted, decides the same way. A retry after its id was forgotten is
// applied again: size the bound for the retry horizon. The bound is node
// configuration, so it must be the same on every replica of a shard; the
// table keeps its forget point, so raising the bound later never brings
// back ids already forgotten (some replicas could still hold them, others
// not), and lowering it forgets at once.
//
// The ids of one Update are stored as records of about 1 MiB, s/rb/<first
// sequence number> -> (id, result)..., each deleted once all its ids are
// forgotten; lookups go to an in-memory index of the records, rebuilt when the
// replica opens or recovers a snapshot. Remembering an id thus costs an
// append to the batch's record and a map entry instead of the six B-tree
// operations of the earlier layout (s/rq/<id> and s/rs/<seq>, converted
// when found). Which ids share a record differs between replicas (batches
// do); the window rule does not depend on it. A command may carry
// the reply of the invocation that made it (Command.reply): APPLIED and
// NOOP results keep it, so a retry gets the first attempt's reply too
// (remembered replies count in the table's size).
//
// # Snapshots
//
// Dragonboat's local snapshots of an on-disk state machine are metadata
// only, taken after Sync (which fsyncs the app store). Full data is
// streamed only to a follower that needs it and for exports: SaveSnapshot
// writes every key of the app store through the snapshot format of
// storage/snapshot (zstd by default, Config.SnapshotCodec) straight to
// dragonboat's writer, and RecoverFromSnapshot reads it back; neither holds
// more than a record and the codec's window in memory.
//
// Consistency: buntdb has no MVCC, so SaveSnapshot reads from one read
// transaction (View) for the whole stream, which holds buntdb's lock: the
// replica's Update waits while a full snapshot streams. That is the cost;
// it is paid only when a follower is far behind or on export, never for
// local snapshots. Because SaveSnapshot runs concurrently with Update, its
// transaction may start after PrepareSnapshot's index: the stream then
// holds a state at a later index X' (recorded inside it, in s/applied).
// That is safe because Update skips entries at or below s/applied: the
// recovering follower is at X', and the entries between dragonboat's
// snapshot index and X' are skipped when dragonboat hands them over.
// (Copying the data in PrepareSnapshot would materialise it; holding the
// lock from PrepareSnapshot to SaveSnapshot would block apply if
// dragonboat never called SaveSnapshot.)
//
// Crash safety of RecoverFromSnapshot: it first writes s/recovering
// (fsynced), deletes everything else in transactions of 4096 keys, loads
// the records in transactions of at most Config.RecoverBatchBytes, and
// removes the mark only after the stream's trailer has been verified. If
// the process dies on the way, Open finds the mark, empties the store and
// returns 0, so that dragonboat (whose received snapshot is recorded in
// its log) recovers from the snapshot again. A corrupt stream leaves the
// mark too.
//
// Host.Export streams a consistent copy (after a ReadIndex) into the
// node's snapshot.Store, with header index = the copy's applied index and
// term 0; the snapshot actor does so every Config.ExportInterval and then
// applies Config.ExportRetention to the store (the store is node-wide: the
// same policy applies to the other shards' snapshots in it).
//
// # Restoring a shard from an exported snapshot
//
// Host.RestoreReplica is disaster recovery: it makes a replica's data the
// data of an exported snapshot, as the first state of a NEW incarnation
// of the shard's Raft group, and everything written after the snapshot is
// lost. Loading older data into a replica that keeps its Raft history
// cannot work (dragonboat panics: the data would be behind the index its
// log and metadata-only snapshots say was applied), so the replica's Raft
// state on the NodeHost is removed (dragonboat's RemoveData, which reaches
// the LogDB's RemoveNodeData, and the replica's snapshot directory, which
// RemoveData leaves marked deleted) and the restored store's s/applied is
// 0, so that every entry of the new group applies on top of it. The
// exactly-once table comes with the data: a retry of a request the
// snapshot had applied gets its first result; one it had not is applied.
//
// The procedure, for a shard whose members are r1..rn:
//
//  1. Stop every member (StopReplica, or stop the shard actors).
//  2. Put the snapshot in every member node's snapshot store (Export
//     writes it on one node; snapshot.Store Export/Import copy it).
//  3. On every member node: RestoreReplica(ctx, shard, ri, id, cfg).
//  4. Start every member as a new group: StartReplica(shard, ri, members,
//     false, ...) with the full membership (later restarts as usual, with
//     nil members).
//
// All members must be restored from the same snapshot before any starts:
// a member with the old history, or another snapshot's data, would mix two
// histories. RestoredFrom reports the snapshot a running replica came
// from (s/restored, replicated with the data), so that a mismatch can be
// spotted. A member may also be a brand-new node (fresh directories).
//
// Crash safety: the snapshot is loaded into a temporary store
// (shard-<shard>-<replica>.restore) in transactions of at most
// Config.RecoverBatchBytes, and its trailer verified, before anything of
// the replica is touched: a missing, corrupt or foreign snapshot, a
// cancelled context or a crash leave the replica as it was
// (ErrRestoreFailed; the temporary store is removed, or by the next
// restore). Then an intent (key shards/restoring/<shard>/<replica> in the
// node's own app store, fsynced) is recorded, the Raft state removed, the
// temporary store renamed over the replica's (directory fsynced) and the
// intent cleared. While the intent exists StartReplica refuses the replica
// with ErrRestorePending: after a failure or crash past that point, run
// RestoreReplica again (it is idempotent). Restore needs buntdb app stores
// (ErrRestoreUnsupported for memory ones).
//
// # Goroutines
//
// Dragonboat calls Open, Update, Sync, PrepareSnapshot and
// RecoverFromSnapshot on the replica's apply goroutine; SaveSnapshot on a
// snapshot goroutine, concurrently with Update; Lookup from readers,
// concurrently with everything. Hooks.Applied runs on the apply goroutine
// after each committed batch and must not block.
//
// The Host owns: the NodeHost; the Dispatcher's goroutine, to which
// dragonboat's event listener calls only append (never block); one
// goroutine per ProposeAsync/ReadAsync, which ends when dragonboat
// completes the request (it always does, at the latest when the replica
// or NodeHost stops). Close stops the NodeHost, then waits for them.
//
// # Actors
//
//	shards supervisor (SupervisorProps: restarts shard actors with backoff)
//	 └─ shard-<id>     (ShardProps) owns the replica: starts it on Started,
//	     │             re-attaches on restart, stops it on Stopping
//	     ├─ log        asks dragonboat to reclaim compacted log space on a schedule
//	     ├─ snapshot   scheduled exports + retention; ExportNow
//	     ├─ data       Read: linearizable (ReadIndex) or stale, on Host goroutines
//	     └─ objects    ShardSpec.Objects, if set: the parent of the shard's object
//	                   actors (package runtime's); gets every message the shard
//	                   actor does not handle (sender kept) and every shard event
//
// Without an objects child, a request the shard actor does not handle is
// answered with an *UnhandledReply at once.
//
// A Write is proposed with ProposeAsync; the completion comes back to the
// shard actor as a message, which replies to the original sender: the
// mailbox never waits on Raft, and a completion that arrives after the
// shard actor restarted is still delivered (same PID). Dragonboat events
// reach the shard actor as Event messages through the Dispatcher. Failures
// are decided by Decide (restart with exponential backoff, at most
// MaxRestarts within Within, then stop or escalate) with an injected clock;
// a panic drops the message being handled (its sender times out: the write
// was not acknowledged, and a retry with the same request id is safe).
package shards
