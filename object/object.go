package object

import (
	"errors"
	"fmt"
	"hash/fnv"
)

// Limits on names.
const (
	MaxIDLen        = 160
	MaxEntryNameLen = 255
	MaxClassLen     = 64
)

// Sentinel errors; each function says which it wraps.
var (
	// ErrInvalidID is wrapped by NormalizeID.
	ErrInvalidID = errors.New("object: invalid id")
	// ErrInvalidEntryName is wrapped by ValidateEntryName.
	ErrInvalidEntryName = errors.New("object: invalid entry name")
	// ErrInvalidClass is wrapped by ValidateClass.
	ErrInvalidClass = errors.New("object: invalid class")
)

// NormalizeID returns id with ASCII upper case folded to lower case, or an
// error wrapping ErrInvalidID if the result is empty, longer than MaxIDLen
// bytes, or holds a byte outside [a-z0-9._:-].
func NormalizeID(id string) (string, error) {
	if len(id) == 0 {
		return "", fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > MaxIDLen {
		return "", fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidID, len(id), MaxIDLen)
	}
	var buf []byte // allocated only if a byte needs folding
	for i := 0; i < len(id); i++ {
		b := id[i]
		if b >= 'A' && b <= 'Z' {
			if buf == nil {
				buf = []byte(id)
			}
			buf[i] = b + ('a' - 'A')
			continue
		}
		if !idByte(b) {
			return "", fmt.Errorf("%w: byte %q at offset %d is not one of [a-z0-9._:-]", ErrInvalidID, b, i)
		}
	}
	if buf == nil {
		return id, nil
	}
	return string(buf), nil
}

func idByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == ':' || b == '-'
}

// ValidateEntryName returns nil for a valid entry name (see the package doc),
// otherwise an error wrapping ErrInvalidEntryName.
func ValidateEntryName(name string) error {
	if len(name) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidEntryName)
	}
	if len(name) > MaxEntryNameLen {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidEntryName, len(name), MaxEntryNameLen)
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if b < 0x21 || b > 0x7e || b == '/' || b == '*' || b == '?' || b == '\\' {
			return fmt.Errorf("%w: byte %q at offset %d", ErrInvalidEntryName, b, i)
		}
	}
	return nil
}

// ValidateClass returns nil for a valid class name (see the package doc),
// otherwise an error wrapping ErrInvalidClass.
func ValidateClass(class string) error {
	if len(class) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidClass)
	}
	if len(class) > MaxClassLen {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidClass, len(class), MaxClassLen)
	}
	if c := class[0]; c < 'a' || c > 'z' {
		return fmt.Errorf("%w: %q does not start with a lower-case letter", ErrInvalidClass, class)
	}
	for i := 0; i < len(class); i++ {
		b := class[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '.' || b == '-') {
			return fmt.Errorf("%w: byte %q at offset %d is not one of [a-z0-9_.-]", ErrInvalidClass, b, i)
		}
	}
	return nil
}

// Partition returns the partition of id among partitions: FNV-1a 64 of the
// id's bytes modulo partitions (0 is treated as 1). It is on-disk placement
// and must never change.
func Partition(id string, partitions uint32) uint32 {
	if partitions <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return uint32(h.Sum64() % uint64(partitions))
}
