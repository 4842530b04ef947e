package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Reader decodes one snapshot from an io.Reader as it is read. Every check
// the format allows is made: the header's CRC when NewReader returns, each
// compressed frame's CRC before it reaches the decompressor, and the
// trailer (record count, raw length, CRC-32C of the records) before Next
// returns io.EOF. A Reader therefore never returns a record from a frame
// that failed its check; a stream whose damage escapes the frame checks (a
// bug or a CRC collision) still fails with ErrCorrupt before io.EOF.
//
// The stream must end with the trailer: bytes after it are reported as
// corruption.
//
// A Reader is not safe for concurrent use. Call Close when done, whether or
// not the stream was read to the end.
type Reader struct {
	h       Header
	src     *bufio.Reader // the encoded stream
	frames  *frameReader
	dec     io.Reader // decompressed record stream, checksummed
	recs    *bufio.Reader
	zdec    *zstd.Decoder
	crc     uint32
	raw     uint64
	records uint64
	meta    Meta
	err     error // sticky: io.EOF after the trailer checked, or the failure
	closer  io.Closer
	key     []byte
	val     []byte
}

// NewReader reads and checks the header of the snapshot in r. It returns
// ErrCorrupt if the header is damaged or truncated and ErrUnsupportedVersion
// for a format it does not know. o is accepted for symmetry with NewWriter
// and future tuning; readers take the codec from the header.
func NewReader(r io.Reader, o Options) (*Reader, error) {
	src := bufio.NewReaderSize(r, 64<<10)
	h, n, err := readHeader(src)
	if err != nil {
		return nil, err
	}
	sr := &Reader{h: h, src: src}
	sr.frames = &frameReader{src: src, off: n}
	switch h.Codec {
	case CodecZstd:
		zd, err := zstd.NewReader(sr.frames,
			zstd.WithDecoderConcurrency(1), // synchronous: no goroutines, flat memory
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(2*zstdWindow),
			zstd.WithDecoderMaxMemory(2*zstdWindow))
		if err != nil {
			return nil, fmt.Errorf("snapshot: zstd decoder: %w", err)
		}
		sr.zdec, sr.dec = zd, zd
	case CodecS2:
		sr.dec = s2.NewReader(sr.frames, s2.ReaderMaxBlockSize(s2Block), s2.ReaderAllocBlock(64<<10))
	case CodecNone:
		sr.dec = sr.frames
	}
	sr.recs = bufio.NewReaderSize(crcReader{sr}, 64<<10)
	return sr, nil
}

// readHeader reads and checks the prefix and header from r and returns the
// header and the number of bytes read.
func readHeader(r io.Reader) (Header, int64, error) {
	var prefix [prefixSize]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return Header{}, 0, readErr("prefix", 0, err)
	}
	if [8]byte(prefix[:8]) != magic {
		return Header{}, 0, corruptf("bad magic %q at offset 0", prefix[:8])
	}
	version := binary.LittleEndian.Uint32(prefix[8:])
	hlen := binary.LittleEndian.Uint32(prefix[12:])
	if hlen > maxHeaderSize {
		return Header{}, 0, corruptf("header length %d at offset 12 exceeds %d", hlen, maxHeaderSize)
	}
	body := make([]byte, hlen)
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, 0, readErr("header", prefixSize, err)
	}
	if want, got := binary.LittleEndian.Uint32(prefix[16:]), headerCRC(prefix[8:16], body); want != got {
		return Header{}, 0, corruptf("header checksum %08x, computed %08x", want, got)
	}
	if version != FormatVersion {
		return Header{}, 0, fmt.Errorf("%w: %d (this build reads %d)", ErrUnsupportedVersion, version, FormatVersion)
	}
	h, err := decodeHeader(body)
	if err != nil {
		return Header{}, 0, err
	}
	return h, prefixSize + int64(hlen), nil
}

// Header returns the snapshot's header.
func (r *Reader) Header() Header { return r.h }

// Meta returns the snapshot's complete Meta once Next has returned io.EOF;
// before that only the ID and Header are set.
func (r *Reader) Meta() Meta {
	if r.err == io.EOF {
		return r.meta
	}
	return Meta{ID: r.h.ID(), Header: r.h}
}

// Next returns the next record. The key and value slices are owned by the
// Reader and valid only until the next call to Next or Close; copy them to
// keep them. Next returns io.EOF after the last record once the trailer has
// been checked, ErrCorrupt if any check fails, or the error of the
// underlying io.Reader; after an error it keeps returning that error.
func (r *Reader) Next() (key, value []byte, err error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	key, value, err = r.next()
	if err != nil {
		r.err = err
		return nil, nil, err
	}
	r.records++
	return key, value, nil
}

func (r *Reader) next() ([]byte, []byte, error) {
	klen, err := binary.ReadUvarint(r.recs)
	if err == io.EOF {
		return nil, nil, r.finish()
	}
	if err != nil {
		return nil, nil, r.bodyErr("record key length", err)
	}
	vlen, err := binary.ReadUvarint(r.recs)
	if err != nil {
		return nil, nil, r.bodyErr("record value length", err)
	}
	if klen > MaxKeySize {
		return nil, nil, corruptf("record %d: key length %d exceeds %d", r.records, klen, MaxKeySize)
	}
	if vlen > MaxValueSize {
		return nil, nil, corruptf("record %d: value length %d exceeds %d", r.records, vlen, MaxValueSize)
	}
	if r.key, err = readN(r.recs, r.key, int(klen)); err != nil {
		return nil, nil, r.bodyErr("record key", err)
	}
	if r.val, err = readN(r.recs, r.val, int(vlen)); err != nil {
		return nil, nil, r.bodyErr("record value", err)
	}
	return r.key, r.val, nil
}

// readN reads n bytes into buf, growing it only as data arrives so that a
// damaged length cannot make it allocate far beyond the stream.
func readN(r io.Reader, buf []byte, n int) ([]byte, error) {
	const step = 1 << 20
	if n <= cap(buf) {
		buf = buf[:n]
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	buf = buf[:0]
	for len(buf) < n {
		k := min(n-len(buf), max(step, len(buf)))
		buf = append(buf, make([]byte, k)...)
		if _, err := io.ReadFull(r, buf[len(buf)-k:]); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// bodyErr classifies an error met while reading the record stream.
func (r *Reader) bodyErr(what string, err error) error {
	if r.frames.err != nil && !errors.Is(r.frames.err, io.EOF) {
		return r.frames.err // a frame check or the source failed first
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corruptf("record %d: %s truncated (record stream ended)", r.records, what)
	}
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	return corruptf("record %d: %s: %v", r.records, what, err)
}

// finish checks that the record stream ended where the body did, then reads
// and checks the trailer.
func (r *Reader) finish() error {
	if r.frames.err != io.EOF {
		if r.frames.err != nil {
			return r.frames.err
		}
		return corruptf("record stream ended before the body's last frame (offset %d)", r.frames.off)
	}
	off := r.frames.off
	var lenField [4]byte
	if _, err := io.ReadFull(r.src, lenField[:]); err != nil {
		return readErr("trailer length", off, err)
	}
	tlen := binary.LittleEndian.Uint32(lenField[:])
	if tlen > maxTrailerSize {
		return corruptf("trailer length %d at offset %d exceeds %d", tlen, off, maxTrailerSize)
	}
	rest := make([]byte, int(tlen)+tailSize)
	if _, err := io.ReadFull(r.src, rest); err != nil {
		return readErr("trailer", off+4, err)
	}
	t, err := decodeTrailer(lenField[:], rest[:tlen], rest[tlen:])
	if err != nil {
		return fmt.Errorf("%w (offset %d)", err, off)
	}
	switch {
	case t.records != r.records:
		return corruptf("trailer says %d records, stream had %d", t.records, r.records)
	case t.raw != r.raw:
		return corruptf("trailer says %d raw bytes, stream had %d", t.raw, r.raw)
	case t.sum != r.crc:
		return corruptf("record checksum %08x, computed %08x", t.sum, r.crc)
	}
	size := off + 4 + int64(len(rest))
	if _, err := r.src.ReadByte(); err == nil {
		return corruptf("data after the trailer at offset %d", size)
	} else if err != io.EOF {
		return fmt.Errorf("snapshot: read: %w", err)
	}
	r.meta = Meta{ID: r.h.ID(), Header: r.h, Records: t.records, RawBytes: t.raw, Checksum: t.sum, Size: size}
	return io.EOF
}

// Close releases the decoder and, for readers returned by Store.Open, the
// stored snapshot. It does not close an io.Reader given to NewReader.
func (r *Reader) Close() error {
	if r.zdec != nil {
		r.zdec.Close()
		r.zdec = nil
	}
	if r.err == nil {
		r.err = ErrClosed
	}
	if c := r.closer; c != nil {
		r.closer = nil
		return c.Close()
	}
	return nil
}

// crcReader checksums and counts the decompressed record stream.
type crcReader struct{ r *Reader }

func (c crcReader) Read(p []byte) (int, error) {
	n, err := c.r.dec.Read(p)
	c.r.crc = crc32.Update(c.r.crc, castagn, p[:n])
	c.r.raw += uint64(n)
	return n, err
}

// frameReader yields the data of the body's frames, checking each frame's
// CRC before any of it is returned, and io.EOF at the end-of-body frame.
type frameReader struct {
	src *bufio.Reader
	buf []byte
	pos int
	off int64 // offset in the stream of the next unread frame header
	err error // sticky; io.EOF after the end-of-body frame
}

func (f *frameReader) Read(p []byte) (int, error) {
	for f.pos == len(f.buf) {
		if f.err != nil {
			return 0, f.err
		}
		f.err = f.nextFrame()
	}
	n := copy(p, f.buf[f.pos:])
	f.pos += n
	return n, nil
}

func (f *frameReader) nextFrame() error {
	f.buf, f.pos = f.buf[:0], 0
	var hdr [4]byte
	if _, err := io.ReadFull(f.src, hdr[:]); err != nil {
		return readErr("frame length", f.off, err)
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n == 0 {
		f.off += 4
		return io.EOF
	}
	if n > maxFrameSize {
		return corruptf("frame length %d at offset %d exceeds %d", n, f.off, maxFrameSize)
	}
	var sum [4]byte
	if _, err := io.ReadFull(f.src, sum[:]); err != nil {
		return readErr("frame checksum", f.off+4, err)
	}
	var err error
	if f.buf, err = readN(f.src, f.buf, int(n)); err != nil {
		f.buf = f.buf[:0]
		return readErr("frame", f.off+8, err)
	}
	want := binary.LittleEndian.Uint32(sum[:])
	if got := crc32.Update(crc32.Update(0, castagn, hdr[:]), castagn, f.buf); got != want {
		f.buf = f.buf[:0]
		return corruptf("frame at offset %d: checksum %08x, computed %08x", f.off, want, got)
	}
	f.off += 8 + int64(n)
	return nil
}

// readErr turns a short read of the encoded stream into ErrCorrupt and
// passes other I/O errors through.
func readErr(what string, off int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corruptf("truncated in %s at offset %d", what, off)
	}
	return fmt.Errorf("snapshot: read %s at offset %d: %w", what, off, err)
}
