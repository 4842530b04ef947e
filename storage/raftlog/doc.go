// Package raftlog is the Raft log layer: it stores every replica's log
// entries, hard state (term, vote, commit), snapshot metadata and bootstrap
// record, and plugs into dragonboat as its raftio.ILogDB.
//
// # Types
//
//   - Store is the node-wide store: one per node, serving every replica.
//     Store.Commit applies a Batch of operations spanning any replicas
//     atomically and, under sync_policy always, durably with one fsync.
//   - Log (LogOf) is the per-shard view with the seed's operations: Append
//     a batch atomically, read a range bounded by bytes (Entries), Truncate
//     from an index, Compact up to an index, FirstIndex/LastIndex, hard
//     state and Stats.
//   - LogDB adapts a Store to dragonboat's raftio.ILogDB; NewFactory gives
//     the config.LogDBFactory to set in NodeHostConfig.Expert.LogDBFactory,
//     OpenLogDB an ILogDB outside a NodeHost.
//
// # Backends
//
//   - append_log (the default): one node-wide log of segment files
//     (segment_size bytes each, named by sequence number). A Commit is one
//     record: a 12-byte header (payload length, CRC32C of the payload,
//     CRC32C of the header) then the operations, encoded into one buffer
//     (buffers up to buffer_size bytes are kept for reuse) and written with
//     one pwrite(2). Because a batch is one record it is atomic: after a
//     crash it is wholly there or wholly cut. Memory holds, per entry, only
//     its position (16 bytes), plus a cache of entries read back from disk
//     (for lagging followers) bounded by cache_size bytes of memory.
//
//     On Open every segment is replayed. In the newest one, a bad record
//     with no good record after it is a torn write and is cut off (so
//     damage to the very last record cannot be told from a torn write);
//     any other bad record fails Open with a *CorruptError (ErrCorrupt,
//     naming the file and offset): damage is never skipped.
//
//     Every new segment starts with a checkpoint record holding every
//     replica's metadata, so the oldest segments can be deleted as soon as
//     every entry in them is compacted (Store.Reclaim, called by
//     Log.Compact and by the LogDB's RemoveEntriesTo, CompactEntriesTo and
//     RemoveNodeData); when the active segment itself holds only compacted
//     entries, Reclaim starts a new one so that it can go too. Only the
//     oldest segments go, in order, so replay always starts at a checkpoint
//     with nothing missing after it; a replica that compacts late holds
//     back the segments after its oldest live entry.
//
//     Segments are preallocated (unless disable_preallocation, or with
//     sync_policy none): once the active segment is half full, a background
//     goroutine writes one spare file of segment_size zero bytes, fsynced,
//     and rotation renames it into place, so records overwrite allocated blocks and each fdatasync
//     has no file-size change to journal (up to 1.8 times the fsyncs a
//     second here; see prealloc.go and BENCHMARKS.md). A segment that grew
//     by appending (the first after Open, or when the spare was late) is
//     left for the spare as soon as one is ready. On replay an all-zero
//     header ends a segment's records, unless a well-formed record follows
//     it: then the zeros are damage (ErrCorrupt).
//
//   - memory_log: entries in memory, nothing survives Close; for
//     development and tests. A Commit that would leave a replica holding
//     more than max_entries entries fails with ErrFull and changes nothing;
//     the error names the shard and max_entries. Under dragonboat a failed
//     SaveRaftState panics the process (its policy for any LogDB failure,
//     a full disk included), so the operator sees it at once. It never
//     compacts by itself, since dropping entries Raft still needs would
//     break it: set the shard's SnapshotEntries and CompactionOverhead so
//     that Raft compacts well before the bound.
//
//   - kv_log: the legacy layout, every entry a key in a buntdb file of its
//     own (raftlog.db), one buntdb transaction per Commit. It keeps every
//     entry in memory (buntdb does), which is what append_log avoids. Never
//     the default; kept for comparison and as a compatibility path.
//
//   - pebble and tan: dragonboat's own engines, available only through
//     NewFactory/OpenLogDB, sized by memory_profile (tiny by default).
//
// # Durability
//
// sync_policy always (the default) fsyncs (fdatasync) before Commit and
// SaveRaftState return: what Raft needs. Concurrent committers share
// fsyncs: while one runs, others write their records, and the next fsync
// covers them all. sync_policy batch fsyncs at most every
// flush_interval_ms from a goroutine owned by the store (started by Open,
// stopped and waited for by Close): acknowledged entries can be lost if
// every replica loses power at once, which Raft does not tolerate; use it
// only where that risk is accepted. sync_policy none never fsyncs (tests,
// benchmarks). kv_log maps batch to buntdb's once-a-second sync. A failed
// write or fsync makes an append_log or kv_log store refuse every later
// write (the page cache can no longer be trusted); reopen it.
//
// # Goroutines
//
// dragonboat calls SaveRaftState from its exec workers, concurrently
// (each worker for its own shards); IterateEntries, ReadRaftState and
// GetSnapshot from its step workers and snapshot goroutines, concurrently
// with writes; RemoveEntriesTo and CompactEntriesTo from the step workers
// after snapshots. All Store and LogDB methods are safe for concurrent use.
// Only one goroutine at a time may write one replica's log. The methods
// take no context: dragonboat's ILogDB has none, and a write or fsync in
// progress cannot be abandoned halfway anyway.
//
// # Semantics shared by every backend of this package
//
//   - An append replaces entries from its first index on (Raft's suffix
//     overwrite); entries at or below the compacted index are ignored; a
//     first index past last+1 restarts the log there (Log.Append refuses
//     it with ErrGap instead).
//   - A snapshot carried by an Update (a follower installing its leader's
//     snapshot) is kept only if newer, and restarts the log after it;
//     SaveSnapshots records only newer snapshot metadata and keeps the log.
//   - Compaction to an index past the last entry stops at the last entry.
//   - ReadRaftState returns raftio.ErrNoSavedLog until a hard state is
//     saved; GetBootstrapInfo returns raftio.ErrNoBootstrapInfo until a
//     bootstrap record is. ListNodeInfo lists replicas with a bootstrap
//     record, as dragonboat's engines do.
//   - Name() and BinaryFormat() are constants: dragonboat records them in
//     the NodeHost directory.
package raftlog
