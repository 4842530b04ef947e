// Package storage puts Raft's three storage needs behind three specialised
// layers and holds them together:
//
//   - raftlog: the append-only Raft log (append_log, memory_log, kv_log,
//     pebble, tan), served to dragonboat as its LogDB;
//   - snapshot: compressed, streaming snapshot files (compressed_file,
//     memory_snapshot) with retention;
//   - appdata: the transactional, indexed application data (buntdb, memory)
//     that the replicated state machine writes.
//
// Config is the raft_cluster.storage section of the seed plan's YAML, one
// part per layer, each with a type, a path and a type-specific config map:
//
//	raft_cluster:
//	  storage:
//	    log_storage:      {type: append_log, path: raftlog, config: {sync_policy: always}}
//	    snapshot_storage: {type: compressed_file, path: snapshots, config: {compression: zstd}}
//	    app_storage:      {type: buntdb, path: appdata, config: {sync_policy: always}}
//
// Parse reads it strictly (unknown keys are errors), EnsureDefaults fills safe
// defaults (durable types, fsync before acknowledging, zstd), ResolvePaths
// places relative paths under a data directory, and Validate reports every
// problem at once with its field's path, changing nothing. Validate also
// refuses layer combinations that cannot survive a restart; memory everywhere
// is allowed and Durability reports it as ephemeral.
//
// Open builds a Composite from a valid config: the snapshot store and the
// node's app store open at once, each shard replica's app store with OpenApp;
// the log layer is opened by dragonboat through LogDBFactory, because
// dragonboat owns its lifetime. KV is the plain get/put/delete/scan view of the app layer for
// code that wants nothing more (the seed plan's backward-compatibility
// adapter).
//
// A Composite is safe for concurrent use; Close closes what Open opened, once.
package storage
