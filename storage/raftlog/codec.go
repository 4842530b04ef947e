package raftlog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// append_log record framing: a 12-byte header then the payload.
//
//	[0:4)  payload length, little endian (never 0)
//	[4:8)  CRC32C of the payload
//	[8:12) CRC32C of bytes [0:8) followed by the segment's sequence number
//	       (4 bytes, little endian): a damaged length is caught before it is
//	       used, and a record left in a recycled file by the segment that
//	       used it before is no record of this one
//
// The payload is a sequence of operations, each
//
//	kind (1 byte) | shard (uvarint) | replica (uvarint) | body
//
// with the body by kind: append: first index, count, then count times
// (length, pb.Entry bytes); hard state, snapshots, bootstrap: (length,
// protobuf bytes); truncate and compact: the index; remove: nothing;
// checkpoint: compacted index, flags, then the present records; segment
// end (shard = the previous segment's number, replica 0): the offset where
// that segment's records end, so that replay can tell damage to its last
// record from the recycled bytes after it.
const headerSize = 12

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errBadPayload = errors.New("malformed record payload")

// entryRef is where an encoded entry sits inside a payload.
type entryRef struct {
	off int // offset of the entry's bytes in the payload
	n   int // their length
}

// encoder builds one record; refs[i] lists the entries of the i-th append.
type encoder struct {
	buf  []byte
	refs [][]entryRef
}

func (e *encoder) reset() {
	e.buf = append(e.buf[:0], make([]byte, headerSize)...)
	e.refs = e.refs[:0]
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

type marshaler interface {
	Size() int
	MarshalTo([]byte) (int, error)
}

// grow extends e.buf by n bytes without zeroing them: the caller fills
// them at once.
func (e *encoder) grow(n int) {
	e.buf = slices.Grow(e.buf, n)
	e.buf = e.buf[:len(e.buf)+n]
}

func (e *encoder) message(m marshaler) {
	n := m.Size()
	e.uvarint(uint64(n))
	l := len(e.buf)
	e.grow(n)
	if _, err := m.MarshalTo(e.buf[l:]); err != nil {
		panic("raftlog: marshal: " + err.Error()) // sized above: cannot fail
	}
}

func (e *encoder) op(o *op) {
	e.buf = append(e.buf, byte(o.kind))
	e.uvarint(o.node.ShardID)
	e.uvarint(o.node.ReplicaID)
	switch o.kind {
	case opAppend:
		e.uvarint(o.entries[0].Index)
		e.uvarint(uint64(len(o.entries)))
		refs := make([]entryRef, len(o.entries))
		for i := range o.entries {
			ent := &o.entries[i]
			n := ent.Size()
			e.uvarint(uint64(n))
			l := len(e.buf)
			e.grow(n)
			if _, err := ent.MarshalTo(e.buf[l:]); err != nil {
				panic("raftlog: marshal entry: " + err.Error())
			}
			refs[i] = entryRef{off: l - headerSize, n: n}
		}
		e.refs = append(e.refs, refs)
	case opHardState:
		e.message(&o.state)
	case opInstallSnapshot, opSaveSnapshot:
		e.message(&o.snapshot)
	case opBootstrap:
		e.message(&o.bootstrap)
	case opTruncate, opCompact:
		e.uvarint(o.index)
	case opRemove:
	}
}

// checkpoint encodes the whole metadata of a replica.
func (e *encoder) checkpoint(n Node, x *nodeIndex[pos]) {
	e.buf = append(e.buf, byte(opCheckpoint))
	e.uvarint(n.ShardID)
	e.uvarint(n.ReplicaID)
	appendMeta(e, x)
}

// appendMeta encodes a replica's metadata: compacted index, flags (1: hard
// state present, 2: bootstrap present), hard state, snapshot, bootstrap.
// It is the body of append_log's checkpoint and kv_log's metadata key.
func appendMeta[T slot](e *encoder, x *nodeIndex[T]) {
	e.uvarint(x.compacted)
	var flags byte
	if x.hasState {
		flags |= 1
	}
	if x.hasBoot {
		flags |= 2
	}
	e.buf = append(e.buf, flags)
	e.message(&x.state)
	e.message(&x.snapshot)
	e.message(&x.boot)
}

// meta decodes what appendMeta encodes.
func (d *decoder) meta(index *uint64, state *pb.State, snap *pb.Snapshot, boot *pb.Bootstrap, hasState, hasBoot *bool) {
	*index = d.uvarint()
	if d.err == nil && d.off < len(d.p) {
		*hasState, *hasBoot = d.p[d.off]&1 != 0, d.p[d.off]&2 != 0
		d.off++
	} else if d.err == nil {
		d.err = errBadPayload
	}
	d.message(state)
	d.message(snap)
	d.message(boot)
}

// segmentEnd records that segment prev's records end at offset end.
func (e *encoder) segmentEnd(prev uint32, end int64) {
	e.buf = append(e.buf, byte(opSegmentEnd))
	e.uvarint(uint64(prev))
	e.uvarint(0)
	e.uvarint(uint64(end))
}

// finish fills the header's length and payload CRC and returns the record;
// seal completes it for the segment it goes to.
func (e *encoder) finish() []byte {
	p := e.buf[headerSize:]
	binary.LittleEndian.PutUint32(e.buf[0:4], uint32(len(p)))
	binary.LittleEndian.PutUint32(e.buf[4:8], crc32.Checksum(p, castagnoli))
	return e.buf
}

// seal sets the header checksum of rec for segment seg.
func seal(rec []byte, seg uint32) {
	binary.LittleEndian.PutUint32(rec[8:12], headerCRC(rec, seg))
}

func headerCRC(h []byte, seg uint32) uint32 {
	var s [4]byte
	binary.LittleEndian.PutUint32(s[:], seg)
	return crc32.Update(crc32.Checksum(h[0:8], castagnoli), castagnoli, s[:])
}

// header checks the header of a record of segment seg and returns the
// payload length and CRC.
func header(h []byte, seg uint32) (n uint32, crc uint32, ok bool) {
	if headerCRC(h, seg) != binary.LittleEndian.Uint32(h[8:12]) {
		return 0, 0, false
	}
	n = binary.LittleEndian.Uint32(h[0:4])
	return n, binary.LittleEndian.Uint32(h[4:8]), n > 0
}

// decodedOp is an operation read back from a payload. For appends, refs
// gives each entry's place in the payload and first its index.
type decodedOp struct {
	op
	first uint64
	refs  []entryRef
	// checkpoint only
	hasState, hasBoot bool
}

type decoder struct {
	p   []byte
	off int
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p[d.off:])
	if n <= 0 {
		d.err = errBadPayload
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.p)-d.off) {
		d.err = errBadPayload
		return nil
	}
	b := d.p[d.off : d.off+int(n)]
	d.off += int(n)
	return b
}

type unmarshaler interface{ Unmarshal([]byte) error }

func (d *decoder) message(m unmarshaler) {
	b := d.bytes()
	if d.err == nil {
		if err := m.Unmarshal(b); err != nil {
			d.err = errBadPayload
		}
	}
}

// next decodes the next operation; false at the end or on error (d.err).
func (d *decoder) next(o *decodedOp) bool {
	if d.err != nil || d.off >= len(d.p) {
		return false
	}
	*o = decodedOp{}
	o.kind = opKind(d.p[d.off])
	d.off++
	o.node.ShardID = d.uvarint()
	o.node.ReplicaID = d.uvarint()
	switch o.kind {
	case opAppend:
		o.first = d.uvarint()
		cnt := d.uvarint()
		if d.err != nil || cnt > uint64(len(d.p)) {
			d.err = errBadPayload
			return false
		}
		o.refs = make([]entryRef, cnt)
		for i := range o.refs {
			b := d.bytes()
			o.refs[i] = entryRef{off: d.off - len(b), n: len(b)}
		}
	case opHardState:
		d.message(&o.state)
	case opInstallSnapshot, opSaveSnapshot:
		d.message(&o.snapshot)
	case opBootstrap:
		d.message(&o.bootstrap)
	case opTruncate, opCompact, opSegmentEnd:
		o.index = d.uvarint()
	case opRemove:
	case opCheckpoint:
		d.meta(&o.index, &o.state, &o.snapshot, &o.bootstrap, &o.hasState, &o.hasBoot)
	default:
		d.err = errBadPayload
	}
	return d.err == nil
}

// decodeEntry decodes one entry's bytes.
func decodeEntry(b []byte) (pb.Entry, error) {
	var e pb.Entry
	if err := e.Unmarshal(b); err != nil {
		return pb.Entry{}, err
	}
	return e, nil
}

func crc32Update(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
