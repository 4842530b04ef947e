// Package snapshot is the snapshot layer of ODGM's storage: a compressed,
// checksummed, streaming format for the key/value records of one shard, and
// stores that keep such snapshots (Store: create from a stream, list, open as
// a stream, verify, delete, clean up by a retention policy, import/export).
//
// # Using the format without a store
//
// The Raft state machine streams SaveSnapshot straight into dragonboat's
// io.Writer and RecoverFromSnapshot from its io.Reader:
//
//	w, err := snapshot.NewWriter(dst, snapshot.Header{ShardID: s, Index: i, Term: t, Created: now}, opts)
//	for each record { err = w.Write(key, value) }
//	meta, err := w.Close()        // writes the trailer; does not close dst
//
//	r, err := snapshot.NewReader(src, opts) // checks the header
//	defer r.Close()
//	for { k, v, err := r.Next(); if err == io.EOF { break } ... }
//
// Next returns io.EOF only after the trailer has been read and checked, so a
// caller must treat the records it applied as provisional until then (the
// state machine applies them in one transaction, committed on io.EOF).
//
// # Using a store
//
//	st, err := snapshot.Open(snapshot.BackendCompressedFile, dir, opts, snapshot.WithClock(clock))
//	c, err := st.Create(ctx, header)   // c.Write(k, v)...; c.Commit() or c.Abort()
//	m, err := st.Latest(ctx, shardID)
//	r, err := st.Open(ctx, m.ID)       // stream the records back
//	removed, err := st.Cleanup(ctx, opts.Retention)
//
// Store's doc comment is the contract of every backend (concurrency,
// ownership, visibility and durability, errors). Backends:
//
//   - compressed_file: one file <ID>.snap per snapshot in a directory. A
//     snapshot is written to a uniquely named .tmp file, fsynced, hard-linked
//     to its final name (which never replaces an existing file; rename where
//     links are not supported), and the directory fsynced, so a crash leaves
//     either the whole snapshot or nothing visible. Open removes stale .tmp
//     files: a directory belongs to one open store at a time. List reads
//     each file's header and trailer (not just its name); a file whose
//     header or trailer fails its checks, whose name does not match its
//     header, or whose name is not an ID is left out of List and logged
//     (WithLogger), and Verify/Open on its ID report ErrCorrupt (a name that
//     is not an ID is ErrNotFound). Cleanup never removes such files: an
//     operator decides.
//   - memory_snapshot: encoded snapshots kept as byte slices, at most
//     Options.MaxSnapshots (committing one more evicts the one committed
//     first). For tests and ephemeral nodes.
//
// # Byte format (version 1)
//
// All integers are little-endian; CRC is CRC-32C (Castagnoli).
//
//	offset 0   8 bytes  magic "ODGMSNAP"
//	       8   uint32   format version (1)
//	      12   uint32   header length H (at most 4 KiB)
//	      16   uint32   CRC of bytes 8..15 and the header
//	      20   H bytes  header: protobuf odgm.v1.SnapshotHeader (format
//	                    version, shard, replica, index, term, created, codec)
//	then the body, the codec's output cut into frames:
//	           uint32   frame length N (1 .. 1 MiB; writers use 256 KiB)
//	           uint32   CRC of the length field and the N data bytes
//	           N bytes  compressed data
//	        ... repeated, then the end of the body:
//	           uint32   0
//	then the trailer:
//	           uint32   trailer length T (at most 256)
//	           T bytes  protobuf odgm.v1.SnapshotTrailer (record count, raw
//	                    length and CRC of the uncompressed record stream)
//	           uint32   CRC of the trailer length field and the T bytes
//	           uint32   T again (so the trailer can be read from the end)
//	           8 bytes  end magic "ODGMSEND"
//
// The uncompressed record stream, which the codec (zstd, s2 framed stream,
// or none) compresses as one stream, is a sequence of records:
//
//	uvarint key length (at most MaxKeySize, 64 KiB)
//	uvarint value length (at most MaxValueSize, 64 MiB)
//	key bytes, value bytes
//
// Empty keys and values are allowed. Nothing may follow the end magic.
//
// # Integrity
//
// Every byte is covered by a check: the magic and end magic are compared,
// the header, each frame and the trailer carry CRCs, and the trailer's count,
// length and CRC cover the decompressed records. Frame CRCs are checked
// before the data reaches the decompressor, so damaged compressed data is
// caught before it is decoded and a Reader never returns a record from a
// damaged frame; the trailer check then catches anything that slipped past
// (a CRC collision, a writer bug) before io.EOF. Any failure is an error
// wrapping ErrCorrupt whose message says what failed at which offset; a
// truncation anywhere is ErrCorrupt, never a short success. Lengths are
// bounded before anything is allocated, and record buffers grow only as data
// arrives, so a damaged length cannot cause a huge allocation.
//
// # Memory
//
// Nothing holds a whole snapshot (except memory_snapshot, by design). A
// Writer holds a 64 KiB record buffer, a 256 KiB frame buffer and the
// codec's state: zstd with a 4 MiB window and the encoder's lower-memory
// mode (about 6 MiB at level 3; more at high levels), s2 with 1 MiB blocks.
// A Reader holds a 64 KiB input buffer, one frame (at most 1 MiB) and the
// decoder: zstd synchronous (no goroutines) with its window limited to 8 MiB,
// s2 with blocks limited to 1 MiB. Options.Concurrency > 1 lets the
// compressor use that many goroutines (owned and stopped by Close).
//
// # Design choices
//
//   - Codec output is framed with CRCs rather than relying on the codec's
//     own checks: uniform across codecs (none has none), detects damage
//     before decompression, and tells the reader where the body ends without
//     the decompressor reading ahead into the trailer. zstd's frame checksum
//     is turned off as redundant.
//   - The header is uncompressed protobuf so that List can read it cheaply;
//     the trailer is readable from the end of a file for the same reason.
//   - IDs are the header's shard, index, term and created time (Unix
//     nanoseconds) as fixed-width hex joined by "-": sortable, stable, and
//     safe as file names. Two snapshots with the same four values are the
//     same snapshot: the second Commit returns ErrExists.
//   - The clock and logger are injected with OpenOptions (WithClock,
//     WithLogger) rather than Options fields, so that Options stays plain,
//     comparable configuration. Retention decisions are the pure function
//     Plan; Cleanup carries them out.
//   - A Reader requires the stream to end at the trailer (trailing bytes
//     are ErrCorrupt), so a snapshot cannot be silently concatenated with
//     other data.
//
// # Concurrency
//
// Stores are safe for concurrent use; Writer, Reader and Creation values are
// not (one goroutine each). Store.Close does not wait for open readers.
//
// # Errors
//
// ErrCorrupt, ErrUnsupportedVersion, ErrNotFound, ErrExists, ErrClosed,
// ErrAborted, ErrTooLarge and ErrInvalid are sentinels, always wrapped with
// context; test them with errors.Is. Their doc comments say which methods
// return them. I/O errors from the underlying files or streams are wrapped
// and returned as they are.
package snapshot
