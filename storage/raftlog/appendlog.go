package raftlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	pb "github.com/lni/dragonboat/v4/raftpb"
	"golang.org/x/sys/unix"
)

// pos is where an entry's bytes are: 16 bytes of memory per entry.
type pos struct {
	seg uint32 // segment sequence number
	n   uint32 // encoded length
	off int64  // file offset
}

func (p pos) size() uint64 { return uint64(p.n) }

const segmentExt = ".log"

type segment struct {
	seq  uint32
	path string
	f    *os.File
	size int64 // bytes of records: the file may be longer (preallocated zeros)
	// preallocated: the file extends past size with zeros, so appends
	// overwrite allocated blocks (see prealloc.go).
	preallocated bool
	// maxIdx is, per replica, the highest entry index stored here: the
	// segment can go once every replica has compacted past it.
	maxIdx map[Node]uint64
}

// appendLog is the append_log backend: one node-wide log of numbered
// segment files. Each Commit is one framed record, so a batch is atomic
// whatever it spans; each new segment starts with a checkpoint record of
// every replica's metadata, so deleting the oldest segments loses nothing
// still needed.
//
// Locks, taken in this order: syncMu (one fsync at a time), wmu (one
// writer: the buffer and the active segment), mu (the index, read-locked
// by readers). Readers do pread(2) under mu's read lock, which keeps a
// segment from being closed under them.
type appendLog struct {
	dir  string
	opts Options
	lock *os.File // flock on dir/LOCK

	syncMu sync.Mutex
	synced uint64 // guarded by syncMu: records known durable

	wmu      sync.Mutex
	active   *segment // guarded by wmu (and mu for readers of segs)
	writeSeq uint64   // guarded by wmu: records written
	failed   error    // guarded by wmu: a failed write or sync; sticky
	enc      encoder  // guarded by wmu: checkpoint encoding

	mu struct {
		sync.RWMutex
		closed bool
		nodes  map[Node]*nodeIndex[pos]
		segs   []*segment // oldest first; the last is active
	}

	cache    *entryCache
	prealloc *preallocator // nil when preallocation is off
	// ends maps a segment number to where its records end, as the next
	// segment's checkpoint says: filled and checked during recovery.
	ends map[uint32]int64

	segmentsDeleted  atomic.Uint64
	segmentsRecycled atomic.Uint64
	diskReclaimed    atomic.Uint64
	syncs            atomic.Uint64 // fdatasync calls on segments

	stop chan struct{} // closed by Close to stop the batch syncer
	done chan struct{} // closed by the batch syncer when it returns
}

var _ Store = (*appendLog)(nil)

var encoders = sync.Pool{New: func() any { return new(encoder) }}

func openAppendLog(dir string, opts Options) (*appendLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("raftlog: %s is in use by another store: %w", dir, err)
	}
	l := &appendLog{dir: dir, opts: opts, lock: lock, cache: newEntryCache(opts.CacheSize)}
	l.mu.nodes = map[Node]*nodeIndex[pos]{}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	if opts.SyncPolicy == SyncBatch {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.syncLoop(opts.FlushInterval())
	}
	if !opts.DisablePreallocation && opts.SyncPolicy != SyncNone {
		l.prealloc = newPreallocator(dir, opts.SegmentSize)
		if l.active.size >= opts.SegmentSize/2 {
			l.prealloc.request()
		}
	}
	return l, nil
}

func segmentName(seq uint32) string { return fmt.Sprintf("%010d%s", seq, segmentExt) }

// recover replays every segment into the index, cutting a torn tail off
// the newest one.
func (l *appendLog) recover() error {
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	var seqs []uint32
	for _, d := range names {
		name := d.Name()
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 32)
		if err != nil {
			continue
		}
		seqs = append(seqs, uint32(seq))
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	l.ends = map[uint32]int64{}
	defer func() { l.ends = nil }()
	for i, seq := range seqs {
		s := &segment{seq: seq, path: filepath.Join(l.dir, segmentName(seq)), maxIdx: map[Node]uint64{}}
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
		s.f = f
		l.mu.segs = append(l.mu.segs, s)
		if err := l.replay(s, i == len(seqs)-1); err != nil {
			return err
		}
	}
	// A segment's replay stops at the first thing that is not one of its
	// records; the next segment's checkpoint says where that should be.
	for _, s := range l.mu.segs[:max(len(l.mu.segs)-1, 0)] {
		if end, ok := l.ends[s.seq]; ok && end != s.size {
			return &CorruptError{File: s.path, Offset: s.size, Reason: fmt.Sprintf("records end at offset %d, but the next segment's checkpoint says %d", s.size, end)}
		}
	}
	if len(l.mu.segs) == 0 {
		s, err := l.createSegment(1)
		if err != nil {
			return err
		}
		l.mu.segs = append(l.mu.segs, s)
	}
	l.active = l.mu.segs[len(l.mu.segs)-1]
	if l.active.size == 0 && len(l.mu.segs) > 1 {
		// A crash came between creating this segment and writing its
		// checkpoint: write it now, or deleting the older segments would
		// lose metadata.
		if err := l.writeCheckpointLocked(l.active, l.mu.segs[len(l.mu.segs)-2]); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
		if err := fdatasync(l.active.f); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
	}
	return nil
}

// replay applies the records of s. A bad record in the newest segment
// with no good record after it is a torn write and is cut off; any other
// bad record is corruption.
func (l *appendLog) replay(s *segment, newest bool) error {
	r := bufio.NewReaderSize(s.f, 1<<20)
	var off int64
	h := make([]byte, headerSize)
	var payload []byte
	for {
		n, err := io.ReadFull(r, h)
		if err == io.EOF {
			break
		}
		if err == io.ErrUnexpectedEOF && isZero(h[:n]) {
			// The last few bytes of a preallocated segment, too few for
			// a header.
			s.preallocated = true
			break
		}
		if err == nil && isZero(h) {
			// The unused tail of a preallocated segment, unless a record
			// follows (then the zeros are damage).
			good, at, err := hasRecordAfter(s.f, off+1, s.seq)
			if err != nil {
				return fmt.Errorf("raftlog: %w", err)
			}
			if good {
				return &CorruptError{File: s.path, Offset: off, Reason: fmt.Sprintf("zeroed record header, with a valid record after it at offset %d", at)}
			}
			s.preallocated = true
			break
		}
		reason := ""
		var size uint32
		var crc uint32
		if err != nil {
			reason = fmt.Sprintf("short header (%d bytes)", n)
		} else if sz, c, ok := header(h, s.seq); !ok {
			reason = "bad header checksum"
		} else {
			size, crc = sz, c
			if cap(payload) < int(size) {
				payload = make([]byte, size)
			}
			payload = payload[:size]
			if m, err := io.ReadFull(r, payload); err != nil {
				reason = fmt.Sprintf("short record (%d of %d bytes)", m, size)
			} else if crc32Checksum(payload) != crc {
				reason = "bad record checksum"
			}
		}
		if reason == "" {
			if err := l.applyRecord(s, off, payload); err != nil {
				return &CorruptError{File: s.path, Offset: off, Reason: err.Error()}
			}
			off += headerSize + int64(size)
			continue
		}
		if good, at, err := hasRecordAfter(s.f, off+1, s.seq); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		} else if good {
			return &CorruptError{File: s.path, Offset: off, Reason: fmt.Sprintf("%s, with a valid record after it at offset %d", reason, at)}
		}
		if !newest {
			// The bytes a recycled file held before: the end of this
			// segment's records, which recover checks against the next
			// segment's checkpoint.
			s.preallocated = true
			break
		}
		// A torn tail: the write in flight when the process died.
		if err := s.f.Truncate(off); err != nil {
			return fmt.Errorf("raftlog: cutting torn tail: %w", err)
		}
		if err := fdatasync(s.f); err != nil {
			return fmt.Errorf("raftlog: cutting torn tail: %w", err)
		}
		break
	}
	s.size = off
	return nil
}

func (l *appendLog) node(n Node) *nodeIndex[pos] {
	x, ok := l.mu.nodes[n]
	if !ok {
		x = newNodeIndex[pos]()
		l.mu.nodes[n] = x
	}
	return x
}

// applyRecord applies a record found at offset off of s to the index.
// Called during recovery, and under wmu and mu by Commit.
func (l *appendLog) applyRecord(s *segment, off int64, payload []byte) error {
	d := decoder{p: payload}
	var o decodedOp
	for d.next(&o) {
		switch o.kind {
		case opRemove:
			delete(l.mu.nodes, o.node)
			for _, sg := range l.mu.segs {
				delete(sg.maxIdx, o.node)
			}
		case opAppend:
			ps := make([]pos, len(o.refs))
			base := off + headerSize
			for i, r := range o.refs {
				ps[i] = pos{seg: s.seq, n: uint32(r.n), off: base + int64(r.off)}
			}
			l.node(o.node).append(o.first, ps)
			if last := o.first + uint64(len(ps)) - 1; last > s.maxIdx[o.node] {
				s.maxIdx[o.node] = last
			}
		case opCheckpoint:
			x := l.node(o.node)
			x.compactTo(o.index)
			x.state, x.hasState = o.state, o.hasState
			x.saveSnapshot(o.snapshot)
			x.boot, x.hasBoot = o.bootstrap, o.hasBoot
		case opSegmentEnd:
			if l.ends != nil {
				l.ends[uint32(o.node.ShardID)] = int64(o.index)
			}
		case opCompact:
			// Recorded capped at the last index of its time; entries up to
			// it may have left with deleted segments.
			l.node(o.node).compactTo(o.index)
		default:
			l.node(o.node).applyMeta(&o.op)
		}
	}
	return d.err
}

func (l *appendLog) createSegment(seq uint32) (*segment, error) {
	s := &segment{seq: seq, path: filepath.Join(l.dir, segmentName(seq)), maxIdx: map[Node]uint64{}}
	if l.prealloc != nil {
		if f := l.prealloc.take(s.path); f != nil {
			s.f, s.preallocated = f, true
			if err := syncDir(l.dir); err != nil {
				f.Close()
				return nil, err
			}
			return s, nil
		}
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	s.f = f
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// rotateLocked makes the active segment durable and starts the next one
// with a checkpoint of every replica. Called with wmu held.
func (l *appendLog) rotateLocked() error {
	if l.opts.SyncPolicy != SyncNone {
		if err := l.sync(l.active.f); err != nil {
			return err
		}
	}
	prev := l.active
	s, err := l.createSegment(prev.seq + 1)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.segs = append(l.mu.segs, s)
	l.active = s
	l.mu.Unlock()
	return l.writeCheckpointLocked(s, prev)
}

// writeCheckpointLocked writes, at the start of the empty segment s, where
// the records of prev (the segment before it) end, and every replica's
// metadata. Called with wmu held, or during recovery.
func (l *appendLog) writeCheckpointLocked(s, prev *segment) error {
	l.enc.reset()
	l.enc.segmentEnd(prev.seq, prev.size)
	l.mu.RLock()
	for n, x := range l.mu.nodes {
		l.enc.checkpoint(n, x)
	}
	l.mu.RUnlock()
	rec := l.enc.finish()
	seal(rec, s.seq)
	if _, err := s.f.WriteAt(rec, s.size); err != nil {
		return err
	}
	s.size += int64(len(rec))
	return nil
}

func (l *appendLog) Commit(b *Batch) error {
	if len(b.ops) == 0 {
		return nil
	}
	e := encoders.Get().(*encoder)
	defer func() {
		// Keep buffers up to buffer_size for the next Commit.
		if cap(e.buf) <= l.opts.BufferSize {
			encoders.Put(e)
		}
	}()
	e.reset()
	var lasts map[Node]uint64 // for compactions: the last index before each op
	for i := range b.ops {
		o := &b.ops[i]
		if o.kind == opCompact {
			// Record the effective index: on replay the entries it caps
			// against may be gone with their segments.
			if lasts == nil {
				lasts = l.lastIndexes(b)
			}
			c := *o
			c.index = min(c.index, lasts[o.node])
			e.op(&c)
			continue
		}
		e.op(o)
	}
	rec := e.finish()

	l.wmu.Lock()
	seq, err := l.writeLocked(b, e, rec)
	l.wmu.Unlock()
	if err != nil {
		return err
	}
	if l.opts.SyncPolicy == SyncAlways {
		return l.syncTo(seq)
	}
	return nil
}

// lastIndexes returns, for each replica compacted in b, its last index at
// the point of the compaction, following b's appends and truncations.
func (l *appendLog) lastIndexes(b *Batch) map[Node]uint64 {
	m := map[Node]uint64{}
	l.mu.RLock()
	for i := range b.ops {
		if n := b.ops[i].node; b.ops[i].kind == opCompact {
			if _, ok := m[n]; !ok {
				m[n] = 0
				if x, ok := l.mu.nodes[n]; ok {
					m[n] = x.last()
				}
			}
		}
	}
	l.mu.RUnlock()
	out := map[Node]uint64{}
	last := m
	for i := range b.ops {
		o := &b.ops[i]
		if _, ok := m[o.node]; !ok {
			continue
		}
		switch o.kind {
		case opAppend:
			last[o.node] = max(last[o.node], o.entries[len(o.entries)-1].Index)
		case opTruncate:
			last[o.node] = min(last[o.node], o.index-1)
		case opCompact:
			out[o.node] = last[o.node]
		}
	}
	return out
}

// writeLocked writes rec, then applies b to the index. Called with wmu.
func (l *appendLog) writeLocked(b *Batch, e *encoder, rec []byte) (uint64, error) {
	if l.failed != nil {
		return 0, l.failed
	}
	if l.closed() {
		return 0, ErrClosed
	}
	full := l.active.size+int64(len(rec)) > l.opts.SegmentSize
	// A segment that grows by appending is left for a preallocated spare
	// as soon as one is ready (after opening, or when the spare was late).
	upgrade := !l.active.preallocated && l.prealloc != nil && l.prealloc.available()
	if l.active.size > 0 && (full || upgrade) {
		if err := l.rotateLocked(); err != nil {
			l.failed = fmt.Errorf("raftlog: rotating segment: %w", err)
			return 0, l.failed
		}
	}
	s := l.active
	off := s.size
	seal(rec, s.seq)
	if _, err := s.f.WriteAt(rec, off); err != nil {
		l.failed = fmt.Errorf("raftlog: write %s: %w", s.path, err)
		return 0, l.failed
	}
	s.size += int64(len(rec))
	l.writeSeq++
	if l.prealloc != nil && s.size >= l.opts.SegmentSize/2 {
		l.prealloc.request() // the next segment will be needed soon
	}

	l.mu.Lock()
	ai := 0
	for i := range b.ops {
		o := &b.ops[i]
		switch o.kind {
		case opRemove:
			delete(l.mu.nodes, o.node)
			for _, sg := range l.mu.segs {
				delete(sg.maxIdx, o.node)
			}
		case opAppend:
			refs := e.refs[ai]
			ai++
			ps := make([]pos, len(refs))
			for j, r := range refs {
				ps[j] = pos{seg: s.seq, n: uint32(r.n), off: off + headerSize + int64(r.off)}
			}
			first := o.entries[0].Index
			l.node(o.node).append(first, ps)
			if last := first + uint64(len(ps)) - 1; last > s.maxIdx[o.node] {
				s.maxIdx[o.node] = last
			}
		default:
			l.node(o.node).applyMeta(o)
		}
	}
	l.mu.Unlock()
	return l.writeSeq, nil
}

func (l *appendLog) closed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.closed
}

// syncTo returns once record seq is durable. Callers that arrive while an
// fsync is running share the next one: group commit across callers.
func (l *appendLog) syncTo(seq uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= seq {
		return nil
	}
	l.wmu.Lock()
	if l.failed != nil {
		l.wmu.Unlock()
		return l.failed
	}
	target, f := l.writeSeq, l.active.f
	l.wmu.Unlock()
	if err := l.sync(f); err != nil {
		l.wmu.Lock()
		l.failed = fmt.Errorf("raftlog: fsync: %w", err)
		l.wmu.Unlock()
		return l.failed
	}
	l.synced = target
	return nil
}

func (l *appendLog) syncLoop(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.wmu.Lock()
			seq := l.writeSeq
			l.wmu.Unlock()
			_ = l.syncTo(seq) // a failure is sticky: the next Commit reports it
		}
	}
}

func (l *appendLog) Entries(n Node, dst []pb.Entry, size, low, high, maxSize uint64) ([]pb.Entry, uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return dst, size, ErrClosed
	}
	x, ok := l.mu.nodes[n]
	if !ok {
		return dst, size, nil
	}
	lo, hi := x.entriesRange(low, high)
	var buf []byte
	for i := lo; i < hi; {
		p, _ := x.at(i)
		if e, ok := l.cache.get(n, p); ok {
			dst = append(dst, cloneEntry(e))
			size += uint64(e.SizeUpperLimit())
			if size > maxSize {
				return dst, size, nil
			}
			i++
			continue
		}
		// Read a run of entries that sit close together in one segment
		// with a single pread.
		j, end := i+1, p.off+int64(p.n)
		for ; j < hi && j-i < 4096; j++ {
			q, _ := x.at(j)
			if q.seg != p.seg || q.off < end || q.off-end > 64 || q.off+int64(q.n)-p.off > 1<<20 {
				break
			}
			end = q.off + int64(q.n)
		}
		s := l.segmentLocked(p.seg)
		if s == nil {
			return dst, size, &CorruptError{File: filepath.Join(l.dir, segmentName(p.seg)), Offset: p.off, Reason: "segment missing"}
		}
		if int64(cap(buf)) < end-p.off {
			buf = make([]byte, end-p.off)
		}
		buf = buf[:end-p.off]
		if _, err := s.f.ReadAt(buf, p.off); err != nil {
			return dst, size, fmt.Errorf("raftlog: read %s at %d: %w", s.path, p.off, err)
		}
		for k := i; k < j; k++ {
			q, _ := x.at(k)
			e, err := decodeEntry(buf[q.off-p.off : q.off-p.off+int64(q.n)])
			if err != nil || e.Index != k {
				return dst, size, &CorruptError{File: s.path, Offset: q.off, Reason: fmt.Sprintf("entry %d does not decode", k)}
			}
			l.cache.put(n, q, e)
			dst = append(dst, cloneEntry(e))
			size += uint64(e.SizeUpperLimit())
			if size > maxSize {
				return dst, size, nil
			}
		}
		i = j
	}
	return dst, size, nil
}

func (l *appendLog) segmentLocked(seq uint32) *segment {
	segs := l.mu.segs
	i := sort.Search(len(segs), func(i int) bool { return segs[i].seq >= seq })
	if i < len(segs) && segs[i].seq == seq {
		return segs[i]
	}
	return nil
}

func (l *appendLog) State(n Node) (NodeState, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	x, ok := l.mu.nodes[n]
	if !ok || l.mu.closed {
		return NodeState{FirstIndex: 1}, false
	}
	return x.nodeState(), true
}

func (l *appendLog) Stats(n Node) Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	x, ok := l.mu.nodes[n]
	if !ok || l.mu.closed {
		return Stats{FirstIndex: 1}
	}
	return x.stats()
}

func (l *appendLog) Nodes() []Node {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ns := make([]Node, 0, len(l.mu.nodes))
	for n := range l.mu.nodes {
		ns = append(ns, n)
	}
	return ns
}

// DiskStats describes append_log's files.
type DiskStats struct {
	Segments        int    // segment files on disk
	Bytes           int64  // their total size
	SegmentsDeleted uint64 // given up by Reclaim since Open: deleted or recycled
	// SegmentsRecycled counts those kept as the spare for a later segment
	// (their disk space stays in use, as one preallocated segment).
	SegmentsRecycled uint64
	BytesReclaimed   uint64 // the bytes of records in the segments given up
	Syncs            uint64 // fdatasync calls since Open
}

// Disk returns the file counters of an append_log store, false for other
// backends.
func Disk(s Store) (DiskStats, bool) {
	l, ok := s.(*appendLog)
	if !ok {
		return DiskStats{}, false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	d := DiskStats{Segments: len(l.mu.segs), SegmentsDeleted: l.segmentsDeleted.Load(), SegmentsRecycled: l.segmentsRecycled.Load(), BytesReclaimed: l.diskReclaimed.Load(), Syncs: l.syncs.Load()}
	for _, s := range l.mu.segs {
		d.Bytes += s.size
	}
	return d, true
}

// Reclaim deletes the oldest segments while every entry in them is
// compacted. Only a prefix goes, so that replay always starts at a
// checkpoint with nothing missing after it.
func (l *appendLog) Reclaim() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	if l.closed() {
		return ErrClosed
	}
	l.mu.RLock()
	rotate := l.active.size >= min(l.opts.SegmentSize/8, 1<<20) && l.freeLocked(l.active)
	l.mu.RUnlock()
	if rotate {
		// Everything in the active segment is compacted too: start a new
		// one so that this one can go.
		if err := l.rotateLocked(); err != nil {
			l.failed = fmt.Errorf("raftlog: rotating segment: %w", err)
			return l.failed
		}
	}
	l.mu.RLock()
	var victims []*segment
	for _, s := range l.mu.segs {
		if s == l.active || !l.freeLocked(s) {
			break
		}
		victims = append(victims, s)
	}
	l.mu.RUnlock()
	if len(victims) == 0 {
		return nil
	}
	// The compaction records that free these segments must be durable
	// before the entries go.
	if err := l.sync(l.active.f); err != nil {
		l.failed = fmt.Errorf("raftlog: fsync: %w", err)
		return l.failed
	}
	l.synced = l.writeSeq
	l.mu.Lock()
	l.mu.segs = l.mu.segs[len(victims):]
	l.mu.Unlock()
	var errs []error
	for _, s := range victims {
		l.segmentsDeleted.Add(1)
		l.diskReclaimed.Add(uint64(s.size))
		// A full-size segment becomes the spare, if none is ready: its
		// blocks are allocated and written, so the next segment gets the
		// fast fdatasync without writing zeros first.
		if l.prealloc != nil {
			if st, err := s.f.Stat(); err == nil && st.Size() >= l.opts.SegmentSize && l.prealloc.offer(s.f, s.path) {
				l.segmentsRecycled.Add(1)
				continue
			}
		}
		errs = append(errs, s.f.Close(), os.Remove(s.path))
	}
	errs = append(errs, syncDir(l.dir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("raftlog: deleting segments: %w", err)
	}
	return nil
}

// freeLocked says whether every entry in s is compacted or belongs to a
// removed replica.
func (l *appendLog) freeLocked(s *segment) bool {
	for n, maxIdx := range s.maxIdx {
		if x, ok := l.mu.nodes[n]; ok && maxIdx > x.compacted {
			return false
		}
	}
	return true
}

func (l *appendLog) Close() error {
	l.syncMu.Lock()
	l.wmu.Lock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		l.wmu.Unlock()
		l.syncMu.Unlock()
		return nil
	}
	l.mu.closed = true
	l.mu.Unlock()
	var errs []error
	if l.failed == nil {
		if l.opts.SyncPolicy != SyncNone {
			errs = append(errs, fdatasync(l.active.f))
		}
	}
	l.wmu.Unlock()
	l.syncMu.Unlock()
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	if l.prealloc != nil {
		errs = append(errs, l.prealloc.close())
	}
	errs = append(errs, l.closeFiles())
	return errors.Join(errs...)
}

func (l *appendLog) closeFiles() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, s := range l.mu.segs {
		errs = append(errs, s.f.Close())
	}
	l.mu.segs = nil
	l.mu.nodes = nil
	if l.lock != nil {
		errs = append(errs, l.lock.Close())
	}
	return errors.Join(errs...)
}

func crc32Checksum(b []byte) uint32 { return crc32Update(b) }

// sync is fdatasync of f, counted.
func (l *appendLog) sync(f *os.File) error {
	l.syncs.Add(1)
	return fdatasync(f)
}

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("raftlog: sync %s: %w", dir, err)
	}
	return nil
}

// entryCache keeps entries read from disk, bounded by bytes (of memory:
// see cacheCost), evicting the oldest first. It is filled on reads, not on
// appends: dragonboat keeps the newest entries in memory itself and reads
// the log for followers that lag, often the same range for several of
// them, and again on retries. An entry is found only if its position still matches
// the index, so overwritten entries never come back.
type entryCache struct {
	limit int64
	mu    struct {
		sync.Mutex
		bytes int64
		m     map[cacheKey]pb.Entry
		fifo  []cacheKey
		head  int
	}
}

type cacheKey struct {
	n Node
	p pos
}

func newEntryCache(limit int64) *entryCache {
	c := &entryCache{limit: limit}
	c.mu.m = map[cacheKey]pb.Entry{}
	return c
}

// cacheOverhead is the memory a cached entry costs beyond its command:
// the entry struct, the map slot and the FIFO slot, roughly.
const cacheOverhead = int64(unsafe.Sizeof(pb.Entry{})) + 2*int64(unsafe.Sizeof(cacheKey{})) + 16

func cacheCost(e *pb.Entry) int64 { return cacheOverhead + int64(len(e.Cmd)) }

func (c *entryCache) put(n Node, p pos, e pb.Entry) {
	if c.limit <= 0 || cacheCost(&e) > c.limit/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{n, p}
	if _, ok := c.mu.m[k]; ok {
		return
	}
	c.mu.m[k] = e
	c.mu.fifo = append(c.mu.fifo, k)
	c.mu.bytes += cacheCost(&e)
	for c.mu.bytes > c.limit && c.mu.head < len(c.mu.fifo) {
		old := c.mu.fifo[c.mu.head]
		c.mu.head++
		if oe, ok := c.mu.m[old]; ok {
			c.mu.bytes -= cacheCost(&oe)
			delete(c.mu.m, old)
		}
	}
	if c.mu.head > 1024 && c.mu.head > len(c.mu.fifo)/2 {
		c.mu.fifo = append(c.mu.fifo[:0:0], c.mu.fifo[c.mu.head:]...)
		c.mu.head = 0
	}
}

func (c *entryCache) get(n Node, p pos) (pb.Entry, bool) {
	if c.limit <= 0 {
		return pb.Entry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.mu.m[cacheKey{n, p}]
	return e, ok
}
