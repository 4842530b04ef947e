package appdata

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// buntdb loads its append-only file trusting it: some malformed files make
// it panic (a command name shorter than three bytes, a length that overflows)
// or allocate without bound (a huge length), and a file of garbage with no
// newline is taken for a torn record and silently truncated to nothing.
// checkAOF therefore reads the file once before buntdb does and refuses
// anything malformed with ErrCorrupt.
//
// A torn tail — the last command cut short by a crash, possibly padded with
// zero bytes by the filesystem — is what a crash leaves behind: it is cut
// off (buntdb does so too, but not for zero padding).

var (
	errMalformed = errors.New("malformed record")
	errZeroByte  = errors.New("zero byte")
)

// checkAOF validates the buntdb file at path, if there is one, and truncates
// a torn tail.
func checkAOF(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("appdata: open %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("appdata: open %s: %w", path, err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("appdata: open %s: not a regular file", path)
	}
	end, torn, err := scanAOF(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		if errors.Is(err, errMalformed) {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
		}
		return fmt.Errorf("appdata: read %s: %w", path, err)
	}
	if torn {
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("appdata: cut torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("appdata: cut torn tail of %s: %w", path, err)
		}
	}
	return nil
}

type aofReader struct {
	r   *bufio.Reader
	pos int64
}

// scanAOF reads every command and returns the offset after the last complete
// one, and whether a torn tail follows it.
func scanAOF(r *bufio.Reader) (end int64, torn bool, err error) {
	a := &aofReader{r: r}
	for {
		start := a.pos
		b, err := a.byte()
		if err == io.EOF {
			return start, false, nil
		} else if err != nil {
			return 0, false, err
		}
		err = a.command(b)
		switch {
		case err == nil:
		case err == io.EOF:
			return start, true, nil
		case errors.Is(err, errZeroByte):
			zero, err := a.restIsZero()
			if err != nil {
				return 0, false, err
			}
			if zero {
				return start, true, nil
			}
			return 0, false, fmt.Errorf("%w: zero byte inside the record at offset %d", errMalformed, start)
		case errors.Is(err, errMalformed):
			return 0, false, fmt.Errorf("%w at offset %d", err, start)
		default:
			return 0, false, err
		}
	}
}

func (a *aofReader) byte() (byte, error) {
	b, err := a.r.ReadByte()
	if err == nil {
		a.pos++
	}
	return b, err
}

func bad(b byte, what string) error {
	if b == 0 {
		return errZeroByte
	}
	return fmt.Errorf("%w: want %s, have %q", errMalformed, what, b)
}

// number reads "<digits>\r\n".
func (a *aofReader) number() (int64, error) {
	var n int64
	digits := 0
	for {
		b, err := a.byte()
		if err != nil {
			return 0, err
		}
		if b == '\r' && digits > 0 {
			break
		}
		if b < '0' || b > '9' {
			return 0, bad(b, "a digit")
		}
		if digits++; digits > 18 {
			return 0, fmt.Errorf("%w: number too long", errMalformed)
		}
		n = n*10 + int64(b-'0')
	}
	b, err := a.byte()
	if err != nil {
		return 0, err
	}
	if b != '\n' {
		return 0, bad(b, `"\n"`)
	}
	return n, nil
}

// command reads one "*<n>\r\n" followed by n "$<len>\r\n<bytes>\r\n" parts
// and checks it is a command buntdb loads: set, del or flushdb.
func (a *aofReader) command(first byte) error {
	if first != '*' {
		return bad(first, `"*"`)
	}
	n, err := a.number()
	if err != nil {
		return err
	}
	if n > 5 {
		return fmt.Errorf("%w: %d parts", errMalformed, n)
	}
	var parts [5]string // only short parts (names, options) are kept
	for i := range int(n) {
		b, err := a.byte()
		if err != nil {
			return err
		}
		if b != '$' {
			return bad(b, `"$"`)
		}
		l, err := a.number()
		if err != nil {
			return err
		}
		if (i == 0 || i >= 3) && l <= 32 {
			buf := make([]byte, l)
			m, err := io.ReadFull(a.r, buf)
			a.pos += int64(m)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			if err != nil {
				return err
			}
			parts[i] = string(buf)
		} else {
			for l > 0 {
				step := min(l, 1<<30)
				m, err := a.r.Discard(int(step))
				a.pos += int64(m)
				if err != nil {
					return err
				}
				l -= step
			}
		}
		for _, want := range []byte{'\r', '\n'} {
			b, err := a.byte()
			if err != nil {
				return err
			}
			if b != want {
				return bad(b, strconv.QuoteRune(rune(want)))
			}
		}
	}
	if n == 0 {
		return nil
	}
	switch strings.ToLower(parts[0]) {
	case "set":
		if n == 3 {
			return nil
		}
		if n == 5 {
			opt := strings.ToLower(parts[3])
			if _, err := strconv.ParseInt(parts[4], 10, 64); (opt == "ex" || opt == "ae") && err == nil {
				return nil
			}
		}
	case "del":
		if n == 2 {
			return nil
		}
	case "flushdb":
		return nil
	}
	return fmt.Errorf("%w: not a set, del or flushdb command", errMalformed)
}

func (a *aofReader) restIsZero() (bool, error) {
	for {
		b, err := a.byte()
		if err == io.EOF {
			return true, nil
		} else if err != nil {
			return false, err
		}
		if b != 0 {
			return false, nil
		}
	}
}
