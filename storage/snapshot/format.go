package snapshot

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// Limits of the format. A reader refuses anything larger as corrupt, so a
// damaged length can never make it allocate more than these.
const (
	// FormatVersion is the version of the framing this package writes.
	FormatVersion = 1
	// MaxKeySize is the largest key a record may have, in bytes.
	MaxKeySize = 64 << 10
	// MaxValueSize is the largest value a record may have, in bytes.
	MaxValueSize = 64 << 20

	maxHeaderSize  = 4 << 10 // encoded SnapshotHeader
	maxTrailerSize = 256     // encoded SnapshotTrailer
	maxFrameSize   = 1 << 20 // compressed body frame accepted by readers
	frameSize      = 256 << 10
	prefixSize     = 8 + 4 + 4 + 4 // magic, version, header length, header CRC
	tailSize       = 4 + 4 + 8     // trailer CRC, trailer length, end magic
)

var (
	magic    = [8]byte{'O', 'D', 'G', 'M', 'S', 'N', 'A', 'P'}
	endMagic = [8]byte{'O', 'D', 'G', 'M', 'S', 'E', 'N', 'D'}
	castagn  = crc32.MakeTable(crc32.Castagnoli)
)

// Header describes a snapshot: what it is a snapshot of. It is written
// uncompressed at the start of the stream.
type Header struct {
	ShardID   uint64
	ReplicaID uint64
	// Index and Term are those of the last Raft entry the snapshot includes.
	Index uint64
	Term  uint64
	// Created is when the snapshot was taken; stored with nanosecond
	// precision, read back in UTC.
	Created time.Time
	// Codec is the compression of the record stream. Writers set it from
	// Options.Compression and ignore the value given.
	Codec Codec
}

// ID is the snapshot's identifier: shard, index, term and created time as
// fixed-width hexadecimal, so that IDs sort like (shard, index, term,
// created) and are safe file names.
func (h Header) ID() string {
	return fmt.Sprintf("%016x-%016x-%016x-%016x", h.ShardID, h.Index, h.Term, uint64(h.Created.UnixNano()))
}

// validID reports whether id has the shape Header.ID produces.
func validID(id string) bool {
	parts := strings.Split(id, "-")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if len(p) != 16 {
			return false
		}
		if _, err := strconv.ParseUint(p, 16, 64); err != nil {
			return false
		}
	}
	return true
}

// Meta is what a reader knows of a whole snapshot: its header, and from its
// trailer the number and raw size of its records.
type Meta struct {
	// ID is Header.ID(): stable and unique within a store.
	ID string
	Header
	// Records is the number of key/value records.
	Records uint64
	// RawBytes is the length of the uncompressed record stream.
	RawBytes uint64
	// Checksum is the CRC-32C of the uncompressed record stream.
	Checksum uint32
	// Size is the length of the encoded snapshot in bytes, framing and
	// compression included.
	Size int64
}

func codecToProto(c Codec) (odgmv1.SnapshotCodec, error) {
	switch c {
	case CodecNone:
		return odgmv1.SnapshotCodec_SNAPSHOT_CODEC_NONE, nil
	case CodecZstd:
		return odgmv1.SnapshotCodec_SNAPSHOT_CODEC_ZSTD, nil
	case CodecS2:
		return odgmv1.SnapshotCodec_SNAPSHOT_CODEC_S2, nil
	}
	return 0, fmt.Errorf("%w: codec %q", ErrInvalid, c)
}

func codecFromProto(c odgmv1.SnapshotCodec) (Codec, bool) {
	switch c {
	case odgmv1.SnapshotCodec_SNAPSHOT_CODEC_NONE:
		return CodecNone, true
	case odgmv1.SnapshotCodec_SNAPSHOT_CODEC_ZSTD:
		return CodecZstd, true
	case odgmv1.SnapshotCodec_SNAPSHOT_CODEC_S2:
		return CodecS2, true
	}
	return "", false
}

// encodePrefix returns magic, version, header length, header CRC and the
// header: everything before the compressed body.
func encodePrefix(h Header) ([]byte, error) {
	pc, err := codecToProto(h.Codec)
	if err != nil {
		return nil, err
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&odgmv1.SnapshotHeader{
		FormatVersion: FormatVersion,
		ShardId:       h.ShardID,
		ReplicaId:     h.ReplicaID,
		Index:         h.Index,
		Term:          h.Term,
		CreatedAt:     timestamppb.New(h.Created),
		Codec:         pc,
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: encode header: %w", err)
	}
	if len(body) > maxHeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrInvalid, len(body))
	}
	b := make([]byte, prefixSize, prefixSize+len(body))
	copy(b, magic[:])
	binary.LittleEndian.PutUint32(b[8:], FormatVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(body)))
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[16:], headerCRC(b[8:16], body))
	return b, nil
}

// headerCRC is the checksum stored at offset 16: version, length, header.
func headerCRC(versionAndLen, body []byte) uint32 {
	c := crc32.Update(0, castagn, versionAndLen)
	return crc32.Update(c, castagn, body)
}

// decodeHeader checks and decodes the header bytes read after a prefix whose
// version is FormatVersion.
func decodeHeader(body []byte) (Header, error) {
	var ph odgmv1.SnapshotHeader
	if err := proto.Unmarshal(body, &ph); err != nil {
		return Header{}, corruptf("header: %v", err)
	}
	if ph.GetFormatVersion() != FormatVersion {
		return Header{}, corruptf("header: format version %d in a version %d frame", ph.GetFormatVersion(), FormatVersion)
	}
	codec, ok := codecFromProto(ph.GetCodec())
	if !ok {
		return Header{}, corruptf("header: unknown codec %d", ph.GetCodec())
	}
	ts := ph.GetCreatedAt()
	if err := ts.CheckValid(); err != nil {
		return Header{}, corruptf("header: created: %v", err)
	}
	return Header{
		ShardID:   ph.GetShardId(),
		ReplicaID: ph.GetReplicaId(),
		Index:     ph.GetIndex(),
		Term:      ph.GetTerm(),
		Created:   ts.AsTime(),
		Codec:     codec,
	}, nil
}

// encodeTrailer returns the end-of-body frame and the trailer.
func encodeTrailer(records, raw uint64, sum uint32) ([]byte, error) {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&odgmv1.SnapshotTrailer{
		RecordCount: records,
		RawBytes:    raw,
		Checksum:    sum,
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: encode trailer: %w", err)
	}
	b := make([]byte, 0, 8+len(body)+tailSize)
	b = binary.LittleEndian.AppendUint32(b, 0) // end of body
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[4:], castagn))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, endMagic[:]...)
	return b, nil
}

type trailer struct {
	records, raw uint64
	sum          uint32
}

// decodeTrailer checks the trailer given its length field, protobuf bytes and
// tail (CRC, repeated length, end magic).
func decodeTrailer(lenField, body, tail []byte) (trailer, error) {
	want := binary.LittleEndian.Uint32(tail[0:4])
	c := crc32.Update(crc32.Update(0, castagn, lenField), castagn, body)
	if c != want {
		return trailer{}, corruptf("trailer checksum %08x, computed %08x", want, c)
	}
	if n := binary.LittleEndian.Uint32(tail[4:8]); n != uint32(len(body)) {
		return trailer{}, corruptf("trailer length %d repeated as %d", len(body), n)
	}
	if [8]byte(tail[8:16]) != endMagic {
		return trailer{}, corruptf("bad end magic %q", tail[8:16])
	}
	var pt odgmv1.SnapshotTrailer
	if err := proto.Unmarshal(body, &pt); err != nil {
		return trailer{}, corruptf("trailer: %v", err)
	}
	return trailer{records: pt.GetRecordCount(), raw: pt.GetRawBytes(), sum: pt.GetChecksum()}, nil
}
