package shards

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/odgm-go/odgm/storage/appdata"
)

// requestTable is a replica's exactly-once table (see "Exactly-once" in the
// package doc): the first result of every request id among the last max
// remembered ones.
//
// Each remembered id takes the next sequence number, in apply order. An id
// is remembered while its sequence number is at least the forget point,
// which each remembered id moves up to next-max and which never moves
// down (raising max later does not bring back ids already forgotten, which
// some replicas may still hold in a record and others not): a function of
// the applied log alone, what every replica decides by. The header stores
// next and next minus the forget point.
//
// The store holds the ids of each Update in records, s/rb/<first
// sequence number> → (id, result)... (of about maxRecordBytes), so
// remembering costs a write per batch instead of several B-tree operations
// per command; a record is deleted once all its ids are forgotten. Lookups go to an
// in-memory index of the records, rebuilt when the state machine opens or
// recovers a snapshot. Which ids share a record can differ between
// replicas (batches do); the window rule does not depend on it.
//
// It belongs to the apply goroutine, like Update.
type requestTable struct {
	max  uint64
	next uint64 // sequence number of the next remembered id
	// forgotten is the forget point: ids of lower sequence numbers are
	// forgotten.
	forgotten uint64
	// stored is the next of the stored header.
	stored uint64
	ids    map[string]remembered
	// records are the stored records, oldest first.
	records []requestRecord
	// batch is the record being built by the current Update.
	batch requestRecord
	buf   []byte
	key   []byte
	// stale is set when an Update failed after changing the table in
	// memory: it is loaded again from the store before its next use.
	stale bool
}

// remembered is one id's sequence number and encoded first result. result
// is never modified: it aliases the buffer of its record (built by
// remember, or read by the loader), so a record's memory lives while one
// of its ids is remembered.
type remembered struct {
	seq    uint64
	result []byte
}

// requestRecord is one stored record: ids[i] has sequence number first+i.
type requestRecord struct {
	first uint64
	ids   []string
}

func (r requestRecord) last() uint64 { return r.first + uint64(len(r.ids)) - 1 }

// Store keys of the table (besides keyRequests, the header: next sequence
// number and count).
const (
	reqRecordPrefix = "s/rb/" // s/rb/<first seq, 16 hex digits> -> record
	// The format before records, converted when found: s/rq/<id> ->
	// 8-byte seq + result, s/rs/<seq> -> id.
	oldReqPrefix    = "s/rq/"
	oldReqSeqPrefix = "s/rs/"
)

func appendSeqKey(b []byte, prefix string, seq uint64) []byte {
	const digits = "0123456789abcdef"
	b = append(b, prefix...)
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(seq>>uint(shift))&0xf])
	}
	return b
}

// loadRequestHeader reads the table's next sequence number and count.
func loadRequestHeader(tx appdata.ReadTx) (next, count uint64, err error) {
	v, err := tx.Get([]byte(keyRequests))
	if errors.Is(err, appdata.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	if len(v) != 16 {
		return 0, 0, fmt.Errorf("shards: request table header is %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:]), nil
}

// loadRequestTable reads the table from tx, converting the older format if
// it finds it.
func loadRequestTable(tx appdata.WriteTx, bound int) (*requestTable, error) {
	next, count, err := loadRequestHeader(tx)
	if err != nil {
		return nil, err
	}
	rt := &requestTable{max: uint64(bound), next: next, forgotten: next - min(count, next), stored: next,
		ids: map[string]remembered{}}
	if next > rt.max {
		rt.forgotten = max(rt.forgotten, next-rt.max) // a lowered bound applies at once
	}
	if err := rt.convertOld(tx); err != nil {
		return nil, err
	}
	err = ascendPrefix(tx, reqRecordPrefix, func(k, v []byte) (bool, error) {
		rec, err := rt.parse(k, v)
		if err != nil {
			return false, err
		}
		rt.records = append(rt.records, rec)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if n := len(rt.records); n > 0 && rt.records[n-1].last() >= rt.next {
		return nil, fmt.Errorf("shards: request table record %d..%d is past the header's next sequence number %d",
			rt.records[n-1].first, rt.records[n-1].last(), rt.next)
	}
	return rt, nil
}

// parse indexes the record stored under k.
func (rt *requestTable) parse(k, v []byte) (requestRecord, error) {
	damaged := func(why string) error {
		return fmt.Errorf("shards: request table record %q is damaged: %s", k, why)
	}
	first, err := strconv.ParseUint(string(k[len(reqRecordPrefix):]), 16, 64)
	if err != nil || len(k) != len(reqRecordPrefix)+16 {
		return requestRecord{}, damaged("bad key")
	}
	rec := requestRecord{first: first}
	for len(v) > 0 {
		id, n := protowire.ConsumeBytes(v)
		if n < 0 {
			return requestRecord{}, damaged("bad id")
		}
		v = v[n:]
		res, n := protowire.ConsumeBytes(v)
		if n < 0 {
			return requestRecord{}, damaged("bad result")
		}
		v = v[n:]
		seq := first + uint64(len(rec.ids))
		rid := string(id)
		rec.ids = append(rec.ids, rid)
		if prev, ok := rt.ids[rid]; !ok || prev.seq < seq {
			rt.ids[rid] = remembered{seq: seq, result: res}
		}
	}
	if len(rec.ids) == 0 {
		return requestRecord{}, damaged("empty")
	}
	return rec, nil
}

// lookup returns the remembered result of rid, if rid is in the window.
func (rt *requestTable) lookup(rid string) ([]byte, bool) {
	r, ok := rt.ids[rid]
	if !ok || r.seq < rt.forgotten {
		return nil, false
	}
	return r.result, true
}

// maxRecordBytes bounds a record: an Update with more ids and results
// stores several (a snapshot record's value must stay far below
// snapshot.MaxValueSize).
const maxRecordBytes = 1 << 20

// remember gives rid the next sequence number with its first result.
func (rt *requestTable) remember(tx appdata.WriteTx, rid string, result []byte) error {
	if len(rt.batch.ids) == 0 {
		rt.batch.first = rt.next
	}
	rt.buf = protowire.AppendVarint(protowire.AppendString(rt.buf, rid), uint64(len(result)))
	start := len(rt.buf)
	rt.buf = append(rt.buf, result...)
	rt.ids[rid] = remembered{seq: rt.next, result: rt.buf[start:len(rt.buf):len(rt.buf)]}
	rt.batch.ids = append(rt.batch.ids, rid)
	rt.next++
	if rt.next > rt.max {
		rt.forgotten = max(rt.forgotten, rt.next-rt.max)
	}
	if len(rt.buf) >= maxRecordBytes {
		return rt.store(tx)
	}
	return nil
}

// store writes the record being built.
func (rt *requestTable) store(tx appdata.WriteTx) error {
	if len(rt.batch.ids) == 0 {
		return nil
	}
	rt.key = appendSeqKey(rt.key[:0], reqRecordPrefix, rt.batch.first)
	if err := tx.Put(rt.key, rt.buf); err != nil {
		return err
	}
	rt.records = append(rt.records, rt.batch)
	// Not reused: the remembered results alias it.
	rt.batch, rt.buf = requestRecord{}, nil
	return nil
}

// flush stores the Update's last record and the header, and deletes the
// records that left the window.
func (rt *requestTable) flush(tx appdata.WriteTx) error {
	if rt.next == rt.stored {
		return nil
	}
	if err := rt.store(tx); err != nil {
		return err
	}
	for len(rt.records) > 0 && rt.records[0].last() < rt.forgotten {
		old := rt.records[0]
		rt.key = appendSeqKey(rt.key[:0], reqRecordPrefix, old.first)
		if _, err := tx.Delete(rt.key); err != nil {
			return err
		}
		for i, rid := range old.ids {
			if r, ok := rt.ids[rid]; ok && r.seq == old.first+uint64(i) {
				delete(rt.ids, rid)
			}
		}
		rt.records[0] = requestRecord{}
		rt.records = rt.records[1:]
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rt.next)
	binary.BigEndian.PutUint64(b[8:], rt.next-rt.forgotten)
	if err := tx.Put([]byte(keyRequests), b[:]); err != nil {
		return err
	}
	rt.stored = rt.next
	return nil
}

// convertOld rewrites a table of the older format (two keys per id) as
// records, keeping every id's sequence number and result.
func (rt *requestTable) convertOld(tx appdata.WriteTx) error {
	var seqs [][]byte
	var ids []string
	err := ascendPrefix(tx, oldReqSeqPrefix, func(k, v []byte) (bool, error) {
		seqs, ids = append(seqs, k), append(ids, string(v))
		return true, nil
	})
	if err != nil || len(ids) == 0 {
		return err
	}
	var key []byte
	var expected uint64
	for i, rid := range ids {
		v, err := tx.Get(appendReqKey(key[:0], rid))
		if err != nil || len(v) < 8 {
			return fmt.Errorf("shards: converting the request table: id %q: %v", rid, err)
		}
		seq := binary.BigEndian.Uint64(v[:8])
		if len(rt.batch.ids) > 0 && (seq != expected || len(rt.buf) >= maxRecordBytes) {
			if err := rt.put(tx); err != nil {
				return err
			}
		}
		if len(rt.batch.ids) == 0 {
			rt.batch.first = seq
		}
		rt.batch.ids = append(rt.batch.ids, rid)
		rt.buf = protowire.AppendBytes(protowire.AppendString(rt.buf, rid), v[8:])
		expected = seq + 1
		if _, err := tx.Delete(seqs[i]); err != nil {
			return err
		}
		if _, err := tx.Delete(appendReqKey(key[:0], rid)); err != nil {
			return err
		}
	}
	return rt.put(tx)
}

// put stores the batch being built as a record, without indexing it (the
// loader indexes what it reads).
func (rt *requestTable) put(tx appdata.WriteTx) error {
	if len(rt.batch.ids) == 0 {
		return nil
	}
	err := tx.Put(appendSeqKey(nil, reqRecordPrefix, rt.batch.first), rt.buf)
	rt.batch, rt.buf = requestRecord{}, nil
	return err
}

// ascendPrefix calls fn for every key starting with p, in key order.
func ascendPrefix(tx appdata.ReadTx, p string, fn func(k, v []byte) (bool, error)) error {
	return tx.Ascend([]byte(p), prefixEnd(p), fn)
}

func appendReqKey(b []byte, id string) []byte { return append(append(b, oldReqPrefix...), id...) }
