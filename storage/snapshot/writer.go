package snapshot

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Writer encodes one snapshot into an io.Writer as it is written: header
// first, then records through the codec in checksummed frames, then the
// trailer on Close. It holds a bounded amount of memory (a frame buffer and
// the codec's window) whatever the snapshot's size.
//
// A Writer is not safe for concurrent use. It never closes the io.Writer it
// was given. After any error, every later call returns that error. Always
// call Close, even after an error: with Options.Concurrency > 1 it stops the
// codec's goroutines.
type Writer struct {
	h       Header
	buf     *bufio.Writer // records → buf → crc → codec → frames → out
	codec   io.WriteCloser
	frames  *frameWriter
	crc     uint32
	raw     uint64
	records uint64
	err     error
	closed  bool
	scratch [2 * binary.MaxVarintLen64]byte
}

// NewWriter writes the header to w and returns a Writer for the records. The
// codec, level and concurrency come from o (zero fields take their defaults);
// h.Codec is ignored and set from o.
func NewWriter(w io.Writer, h Header, o Options) (*Writer, error) {
	o.EnsureDefaults()
	if err := o.Validate(""); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	h.Codec = o.Compression
	prefix, err := encodePrefix(h)
	if err != nil {
		return nil, err
	}
	fw := &frameWriter{out: w, buf: make([]byte, 0, frameSize)}
	if err := fw.writeRaw(prefix); err != nil {
		return nil, err
	}
	sw := &Writer{h: h, frames: fw}
	switch o.Compression {
	case CodecZstd:
		enc, err := zstd.NewWriter(fw,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(o.CompressionLevel)),
			zstd.WithEncoderConcurrency(o.Concurrency),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderCRC(false), // our frames and trailer carry CRCs
			zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, fmt.Errorf("snapshot: zstd encoder: %w", err)
		}
		sw.codec = enc
	case CodecS2:
		sw.codec = s2.NewWriter(fw, s2.WriterConcurrency(o.Concurrency), s2.WriterBlockSize(s2Block))
	case CodecNone:
		sw.codec = nopCloser{fw}
	}
	sw.buf = bufio.NewWriterSize(crcWriter{sw}, 64<<10)
	return sw, nil
}

// Codec window and block sizes, which bound the memory of writers and readers.
const (
	zstdWindow = 4 << 20
	s2Block    = 1 << 20
)

// Header returns the header written, with its codec.
func (w *Writer) Header() Header { return w.h }

// Write appends one record. The key and value are copied or encoded before
// Write returns; the caller may reuse them. Returns ErrTooLarge for a key
// over MaxKeySize or a value over MaxValueSize (the Writer stays usable),
// ErrClosed after Close, or the error of the underlying io.Writer.
func (w *Writer) Write(key, value []byte) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes (at most %d)", ErrTooLarge, len(key), MaxKeySize)
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes (at most %d)", ErrTooLarge, len(value), MaxValueSize)
	}
	n := binary.PutUvarint(w.scratch[:], uint64(len(key)))
	n += binary.PutUvarint(w.scratch[n:], uint64(len(value)))
	if _, err := w.buf.Write(w.scratch[:n]); err != nil {
		return w.fail(err)
	}
	if _, err := w.buf.Write(key); err != nil {
		return w.fail(err)
	}
	if _, err := w.buf.Write(value); err != nil {
		return w.fail(err)
	}
	w.records++
	return nil
}

// Records returns the number of records written so far.
func (w *Writer) Records() uint64 { return w.records }

// Close flushes the records, writes the trailer and returns the snapshot's
// Meta. It does not close or sync the underlying io.Writer. A second Close
// returns ErrClosed.
func (w *Writer) Close() (Meta, error) {
	if w.closed {
		return Meta{}, ErrClosed
	}
	w.closed = true
	if w.err != nil {
		w.codec.Close()
		return Meta{}, w.err
	}
	if err := w.buf.Flush(); err != nil {
		w.codec.Close()
		return Meta{}, w.fail(err)
	}
	if err := w.codec.Close(); err != nil {
		return Meta{}, w.fail(err)
	}
	if err := w.frames.flush(); err != nil {
		return Meta{}, w.fail(err)
	}
	t, err := encodeTrailer(w.records, w.raw, w.crc)
	if err != nil {
		return Meta{}, w.fail(err)
	}
	if err := w.frames.writeRaw(t); err != nil {
		return Meta{}, w.fail(err)
	}
	return Meta{
		ID:       w.h.ID(),
		Header:   w.h,
		Records:  w.records,
		RawBytes: w.raw,
		Checksum: w.crc,
		Size:     w.frames.written,
	}, nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("snapshot: write: %w", err)
	}
	return w.err
}

// crcWriter checksums and counts the raw record stream on its way to the
// codec.
type crcWriter struct{ w *Writer }

func (c crcWriter) Write(p []byte) (int, error) {
	c.w.crc = crc32.Update(c.w.crc, castagn, p)
	c.w.raw += uint64(len(p))
	return c.w.codec.Write(p)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// frameWriter cuts the codec's output into frames of at most frameSize
// bytes, each preceded by its length and CRC-32C (of length and data).
type frameWriter struct {
	out     io.Writer
	buf     []byte
	written int64
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(f.buf[len(f.buf):cap(f.buf)], p)
		f.buf = f.buf[:len(f.buf)+k]
		p = p[k:]
		if len(f.buf) == cap(f.buf) {
			if err := f.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (f *frameWriter) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(f.buf)))
	c := crc32.Update(crc32.Update(0, castagn, hdr[0:4]), castagn, f.buf)
	binary.LittleEndian.PutUint32(hdr[4:], c)
	if err := f.writeRaw(hdr[:]); err != nil {
		return err
	}
	if err := f.writeRaw(f.buf); err != nil {
		return err
	}
	f.buf = f.buf[:0]
	return nil
}

func (f *frameWriter) writeRaw(p []byte) error {
	n, err := f.out.Write(p)
	f.written += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}
