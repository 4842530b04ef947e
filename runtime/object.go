package runtime

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/odgm-go/odgm"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/shards"
)

// Object is a method's view of one object: the state it read, plus the
// writes it makes. Writes are applied, as one command, only when the
// method returns a nil error. An Object is valid only during the method
// call and only on the method's goroutine.
type Object struct {
	class, id string
	meta      *odgmv1.ObjectMeta // nil: does not exist
	base      map[string][]byte  // read-only
	puts      map[string][]byte  // nil until the first Set
	dels      map[string]bool    // nil until the first Delete
	err       error              // the first invalid Set or Delete
	limits    *Limits
}

func newObject(class, id string, st *objState, limits *Limits) *Object {
	o := &Object{class: class, id: id, limits: limits}
	if st != nil {
		o.meta, o.base = st.meta, st.entries
	}
	return o
}

// ID is the object's normalised id.
func (o *Object) ID() string { return o.id }

// Class is the object's class.
func (o *Object) Class() string { return o.class }

// Version is the version the method reads: 0 if the object does not exist.
func (o *Object) Version() uint64 { return o.meta.GetVersion() }

// Exists reports whether the object existed when the method started.
func (o *Object) Exists() bool { return o.meta != nil }

// CreatedAt and UpdatedAt are the object's times (zero if it does not
// exist).
func (o *Object) CreatedAt() time.Time { return tsTime(o.meta.GetCreatedAt()) }

// UpdatedAt is when the object was last changed.
func (o *Object) UpdatedAt() time.Time { return tsTime(o.meta.GetUpdatedAt()) }

// Get returns an entry's value as the method sees it (its own writes
// included). The slice must not be modified.
func (o *Object) Get(name string) ([]byte, bool) {
	if o.dels[name] {
		return nil, false
	}
	if v, ok := o.puts[name]; ok {
		return v, true
	}
	v, ok := o.base[name]
	return v, ok
}

// Entries returns every entry as the method sees it. The map is the
// caller's; the values must not be modified.
func (o *Object) Entries() map[string][]byte {
	out := maps.Clone(o.base)
	if out == nil {
		out = map[string][]byte{}
	}
	maps.Copy(out, o.puts)
	for n := range o.dels {
		delete(out, n)
	}
	return out
}

// Names returns the entry names as the method sees them, sorted.
func (o *Object) Names() []string {
	return slices.Sorted(maps.Keys(o.Entries()))
}

// Set writes an entry (value is copied). An invalid name or a value over
// the node's limit fails the invocation (odgm.ErrInvalidArgument or
// odgm.ErrTooLarge) and nothing is written.
func (o *Object) Set(name string, value []byte) {
	if err := checkEntry(o.limits, name, value); err != nil {
		o.fail(err)
		return
	}
	delete(o.dels, name)
	if o.puts == nil {
		o.puts = map[string][]byte{}
	}
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	o.puts[name] = v
}

// Delete removes an entry (nothing if it does not exist).
func (o *Object) Delete(name string) {
	if err := checkEntry(o.limits, name, nil); err != nil {
		o.fail(err)
		return
	}
	delete(o.puts, name)
	if o.dels == nil {
		o.dels = map[string]bool{}
	}
	o.dels[name] = true
}

func (o *Object) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// writes returns the method's net writes against the state it read: puts
// of values already stored and deletes of missing entries are dropped, so
// that a method that changes nothing proposes nothing.
func (o *Object) writes() (puts []*odgmv1.Entry, dels []string) {
	for _, name := range slices.Sorted(maps.Keys(o.puts)) {
		v := o.puts[name]
		if old, ok := o.base[name]; ok && string(old) == string(v) {
			continue
		}
		puts = append(puts, &odgmv1.Entry{Name: name, Value: v})
	}
	for _, name := range slices.Sorted(maps.Keys(o.dels)) {
		if _, ok := o.base[name]; ok {
			dels = append(dels, name)
		}
	}
	return puts, dels
}

// checkEntry applies the entry-name rules and the node's limits.
func checkEntry(l *Limits, name string, value []byte) error {
	if len(name) > l.MaxEntryNameLen {
		return fmt.Errorf("%w: entry name of %d bytes, at most %d", odgm.ErrTooLarge, len(name), l.MaxEntryNameLen)
	}
	if err := object.ValidateEntryName(name); err != nil {
		return fmt.Errorf("%w: %w", odgm.ErrInvalidArgument, err)
	}
	if len(value) > l.MaxValueSize {
		return fmt.Errorf("%w: entry %q value of %d bytes, at most %d", odgm.ErrTooLarge, name, len(value), l.MaxValueSize)
	}
	return nil
}

// checkBatch applies the batch limits to a write.
func checkBatch(l *Limits, puts []*odgmv1.Entry, dels []string) error {
	if n := len(puts) + len(dels); n > l.MaxBatchEntries {
		return fmt.Errorf("%w: %d puts and deletes in one write, at most %d", odgm.ErrTooLarge, n, l.MaxBatchEntries)
	}
	size := 0
	for _, e := range puts {
		size += len(e.Name) + len(e.Value)
	}
	for _, d := range dels {
		size += len(d)
	}
	if size > l.MaxBatchBytes {
		return fmt.Errorf("%w: write of %d bytes, at most %d", odgm.ErrTooLarge, size, l.MaxBatchBytes)
	}
	return nil
}

// objState is an object's state as an object actor holds it.
type objState struct {
	meta    *odgmv1.ObjectMeta // nil: does not exist
	entries map[string][]byte
}

func (s *objState) version() uint64 { return s.meta.GetVersion() }

// createdAt is the incarnation of the object as read (nil: it did not
// exist).
func (s *objState) createdAt() *timestamppb.Timestamp { return s.meta.GetCreatedAt() }

func metaOf(st *shards.ObjectState) *odgmv1.ObjectMeta {
	if st == nil {
		return nil
	}
	return st.Meta
}

// sameMeta reports whether a and b are the same state of an object: the
// same version of the same incarnation (a deleted and re-created object
// starts again at version 1, with a new created_at).
func sameMeta(a, b *odgmv1.ObjectMeta) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.GetVersion() == b.GetVersion() && sameTime(a.GetCreatedAt(), b.GetCreatedAt()) &&
		sameTime(a.GetUpdatedAt(), b.GetUpdatedAt())
}

func sameTime(a, b *timestamppb.Timestamp) bool {
	return a.GetSeconds() == b.GetSeconds() && a.GetNanos() == b.GetNanos()
}

// applied returns the state after a write that the state machine answered
// with res, or nil when that cannot be known from s (the write was not the
// next version of s: someone else wrote in between, or it was a retried
// request answered from the exactly-once table).
func (s *objState) applied(res *odgmv1.CommandResult, puts []*odgmv1.Entry, dels []string, deleteObject bool) *objState {
	if s == nil {
		return nil
	}
	switch res.GetStatus() {
	case odgmv1.CommandStatus_COMMAND_STATUS_NOOP:
		if res.GetMeta().GetVersion() == s.version() {
			return s
		}
	case odgmv1.CommandStatus_COMMAND_STATUS_APPLIED:
		if deleteObject {
			return &objState{entries: map[string][]byte{}}
		}
		if res.GetMeta().GetVersion() != s.version()+1 {
			return nil
		}
		if s.meta != nil && !sameTime(res.GetMeta().GetCreatedAt(), s.meta.GetCreatedAt()) {
			return nil // another incarnation of the object, at the next version
		}
		// s is the actor's alone once the method that read it has
		// returned (an Object is valid only during the call): updated in
		// place rather than copied.
		next := &objState{meta: res.GetMeta(), entries: s.entries}
		if next.entries == nil {
			next.entries = map[string][]byte{}
		}
		for _, e := range puts {
			next.entries[e.Name] = e.Value
		}
		for _, d := range dels {
			delete(next.entries, d)
		}
		return next
	}
	return nil
}
