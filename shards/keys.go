package shards

import (
	"encoding/binary"
	"strings"
)

// Key layout of a shard's app store (see the package doc).
const (
	objectPrefix = "o/"
	// State-machine keys live under "s/", outside the object namespace, so
	// that no user index pattern ("o/...") covers them.
	keyApplied    = "s/applied"    // 8 bytes, big endian: last applied Raft index
	keyRecovering = "s/recovering" // present while a snapshot is being loaded
	keyRequests   = "s/rq"         // 16 bytes: next sequence number, count (see requestTable)
)

// MaxRequestIDLen bounds a command's request id in bytes.
const MaxRequestIDLen = 256

func objectKeyPrefix(class, id string) string { return objectPrefix + class + "/" + id + "/" }
func metaKey(class, id string) string         { return objectKeyPrefix(class, id) + "m" }
func entryPrefix(class, id string) string     { return objectKeyPrefix(class, id) + "e/" }
func entryKey(class, id, name string) string  { return entryPrefix(class, id) + name }
func classPrefix(class string) string         { return objectPrefix + class + "/" }

// The append forms build keys into a reused buffer: the apply path makes
// several keys per command, and appdata copies what it keeps.

func appendObjectKeyPrefix(b []byte, class, id string) []byte {
	b = append(b, objectPrefix...)
	b = append(b, class...)
	b = append(b, '/')
	b = append(b, id...)
	return append(b, '/')
}

func appendMetaKey(b []byte, class, id string) []byte {
	return append(appendObjectKeyPrefix(b, class, id), 'm')
}

func appendEntryKey(b []byte, class, id, name string) []byte {
	b = append(appendObjectKeyPrefix(b, class, id), 'e', '/')
	return append(b, name...)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// parseObjectKey splits "o/<class>/<id>/m" or "o/<class>/<id>/e/<name>".
// Class, id and name never contain '/'.
func parseObjectKey(k string) (class, id, name string, meta, ok bool) {
	rest, found := strings.CutPrefix(k, objectPrefix)
	if !found {
		return "", "", "", false, false
	}
	parts := strings.SplitN(rest, "/", 4)
	switch {
	case len(parts) == 3 && parts[2] == "m":
		return parts[0], parts[1], "", true, true
	case len(parts) == 4 && parts[2] == "e":
		return parts[0], parts[1], parts[3], false, true
	}
	return "", "", "", false, false
}
