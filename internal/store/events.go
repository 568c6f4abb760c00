package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Event types (CONTRACT §4).
const (
	TypeState    = "state"
	TypeDNS      = "dns"
	TypeWarmup   = "warmup"
	TypeHook     = "hook"
	TypeOverride = "override"
	TypeConfig   = "config"
	TypeVantage  = "vantage"
)

// Types lists every event type.
var Types = []string{TypeState, TypeDNS, TypeWarmup, TypeHook, TypeOverride, TypeConfig, TypeVantage}

// Limits.
const (
	// MaxLimit caps Query.Limit; it is also the limit when none is given.
	MaxLimit = 10000
	// MaxEventBytes bounds one event's JSON.
	MaxEventBytes = 1 << 20
	// PruneBatch is the most events one Prune transaction deletes.
	PruneBatch = 5000
)

// Event is an entry of the audit trail, in the JSON shape of CONTRACT §4.
// Evidence is always an object ({} when empty).
type Event struct {
	ID       string         `json:"id"`
	Time     time.Time      `json:"time"`
	Service  string         `json:"service"`
	Type     string         `json:"type"`
	From     string         `json:"from"`
	To       string         `json:"to"`
	Message  string         `json:"message"`
	Evidence map[string]any `json:"evidence"`
}

// FormatID renders an event sequence number as an id.
func FormatID(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// ParseID parses an id (zero padding is optional). The empty id is 0, which
// precedes every event.
func ParseID(id string) (uint64, error) {
	if id == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: event id %q is not a decimal number", ErrInvalid, id)
	}
	return n, nil
}

// Append stores ev and returns it with its id (and its time, when ev.Time
// was zero). It returns after the event is committed to disk. The service
// may be empty (an event about the whole controller, such as config);
// otherwise it must be a valid name. The type must be one of Types.
func (s *Store) Append(ev Event) (Event, error) {
	out, err := s.AppendMany([]Event{ev})
	if err != nil {
		return Event{}, err
	}
	return out[0], nil
}

// AppendMany stores evs in one transaction, in order, and returns them with
// their ids. Either all are stored or none is.
func (s *Store) AppendMany(evs []Event) ([]Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	out := make([]Event, len(evs))
	recs := make([][]byte, len(evs))
	for i, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = s.now()
		}
		if err := checkEvent(ev); err != nil {
			return nil, fmt.Errorf("store: append: %w", err)
		}
		if ev.Evidence == nil {
			ev.Evidence = map[string]any{}
		}
		ev.Time = ev.Time.Round(0) // no monotonic reading
		ev.ID = ""
		rec, err := encodeRecord(ev)
		if err != nil {
			return nil, fmt.Errorf("store: append: %w", err)
		}
		out[i], recs[i] = ev, rec
	}
	err := s.update(func(tx *bolt.Tx) error {
		eb, ib := tx.Bucket(bucketEvents), tx.Bucket(bucketByService)
		for i := range out {
			seq, err := eb.NextSequence()
			if err != nil {
				return err
			}
			k := seqKey(seq)
			if err := eb.Put(k, recs[i]); err != nil {
				return err
			}
			if out[i].Service != "" {
				if err := ib.Put(indexKey(out[i].Service, seq), timeBytes(out[i].Time)); err != nil {
					return err
				}
			}
			out[i].ID = FormatID(seq)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: append: %w", err)
	}
	return out, nil
}

func checkEvent(ev Event) error {
	if ev.Service != "" && !validName(ev.Service) {
		return fmt.Errorf("%w: service %q is not a valid name", ErrInvalid, ev.Service)
	}
	if !slices.Contains(Types, ev.Type) {
		return fmt.Errorf("%w: event type %q is not one of %v", ErrInvalid, ev.Type, Types)
	}
	if y := ev.Time.Year(); y < 1900 || y > 2200 {
		return fmt.Errorf("%w: event time %s is out of range", ErrInvalid, ev.Time)
	}
	return nil
}

// Query selects events. The zero Query selects the newest MaxLimit events.
type Query struct {
	// Service keeps the events of this service only ("" for all).
	Service string
	// Since keeps the events whose Time is at or after it (zero: no bound).
	Since time.Time
	// After keeps the events whose id is greater than it ("" for all): an
	// SSE client resumes with its Last-Event-ID here.
	After string
	// Limit is the most events returned; MaxLimit when <= 0 or larger.
	Limit int
	// Oldest, when more than Limit events match, returns the oldest Limit
	// of them instead of the newest; to page forward (a resuming stream),
	// set After to the last id received until fewer than Limit come back.
	Oldest bool
}

// Events returns the events that match q, in id order (newest last). With
// a Service the service index is walked, so the cost does not depend on
// other services' events. Damaged records are skipped (see Skipped).
func (s *Store) Events(q Query) ([]Event, error) {
	after, err := ParseID(q.After)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	if q.Service != "" && !validName(q.Service) {
		return nil, fmt.Errorf("store: events: %w: service %q is not a valid name", ErrInvalid, q.Service)
	}
	if after == math.MaxUint64 {
		return nil, nil // nothing can follow the largest id
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	var since int64 = math.MinInt64
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	var out []Event
	err = s.view(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEvents)
		// Each source yields (seq, event time, record) candidates in
		// the direction asked for.
		var it iterator
		if q.Service != "" {
			it = newIndexIter(tx.Bucket(bucketByService), eb, q.Service, after, q.Oldest, s)
		} else {
			it = newEventIter(eb, after, q.Oldest, s)
		}
		for len(out) < limit {
			seq, t, rec, ok := it.next()
			if !ok {
				break
			}
			if t < since {
				continue
			}
			ev, err := decodeRecord(rec)
			if err != nil {
				s.skip("events", seqKey(seq), err)
				continue
			}
			ev.ID = FormatID(seq)
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	if !q.Oldest {
		slices.Reverse(out)
	}
	return out, nil
}

type iterator interface {
	// next returns the next candidate; rec is the raw record (valid in
	// the transaction only).
	next() (seq uint64, t int64, rec []byte, ok bool)
}

// eventIter walks the events bucket, forward from after+1 or backward from
// the newest down to after+1.
type eventIter struct {
	c       *bolt.Cursor
	after   uint64
	forward bool
	started bool
	s       *Store
}

func newEventIter(eb *bolt.Bucket, after uint64, forward bool, s *Store) *eventIter {
	return &eventIter{c: eb.Cursor(), after: after, forward: forward, s: s}
}

func (it *eventIter) next() (uint64, int64, []byte, bool) {
	for {
		var k, v []byte
		switch {
		case !it.started && it.forward:
			k, v = it.c.Seek(seqKey(it.after + 1))
		case !it.started:
			k, v = it.c.Last()
		case it.forward:
			k, v = it.c.Next()
		default:
			k, v = it.c.Prev()
		}
		it.started = true
		if k == nil {
			return 0, 0, nil, false
		}
		if len(k) != 8 {
			it.s.skip("events", k, errors.New("key is not 8 bytes"))
			continue
		}
		seq := binary.BigEndian.Uint64(k)
		if seq <= it.after {
			return 0, 0, nil, false
		}
		t, _, ok := recordHeader(v)
		if !ok {
			it.s.skip("events", k, errBadHeader)
			continue
		}
		return seq, t, v, true
	}
}

// indexIter walks one service's entries of the by_service index and loads
// their records.
type indexIter struct {
	c       *bolt.Cursor
	eb      *bolt.Bucket
	prefix  []byte
	after   uint64
	forward bool
	started bool
	s       *Store
}

func newIndexIter(ib, eb *bolt.Bucket, service string, after uint64, forward bool, s *Store) *indexIter {
	return &indexIter{c: ib.Cursor(), eb: eb, prefix: append([]byte(service), 0), after: after, forward: forward, s: s}
}

func (it *indexIter) next() (uint64, int64, []byte, bool) {
	for {
		var k, v []byte
		switch {
		case !it.started && it.forward:
			k, v = it.c.Seek(append(slices.Clip(it.prefix), seqKey(it.after+1)...))
		case !it.started:
			// The first key past this service's entries, then one back.
			end := slices.Clone(it.prefix)
			end[len(end)-1] = 1
			if k, _ = it.c.Seek(end); k == nil {
				k, v = it.c.Last()
			} else {
				k, v = it.c.Prev()
			}
		case it.forward:
			k, v = it.c.Next()
		default:
			k, v = it.c.Prev()
		}
		it.started = true
		if k == nil || !bytes.HasPrefix(k, it.prefix) {
			return 0, 0, nil, false
		}
		if len(k) != len(it.prefix)+8 || len(v) != 8 {
			it.s.skip("by_service", k, errors.New("malformed index entry"))
			continue
		}
		seq := binary.BigEndian.Uint64(k[len(it.prefix):])
		if seq <= it.after {
			return 0, 0, nil, false
		}
		rec := it.eb.Get(k[len(it.prefix):])
		if rec == nil {
			it.s.skip("by_service", k, errors.New("index entry without its event"))
			continue
		}
		t := int64(binary.BigEndian.Uint64(v))
		return seq, t, rec, true
	}
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func indexKey(service string, seq uint64) []byte {
	k := make([]byte, 0, len(service)+9)
	k = append(k, service...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func timeBytes(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(t.UnixNano()))
}

// Records.

const recordVersion = 1

var errBadHeader = errors.New("malformed record header")

func encodeRecord(ev Event) ([]byte, error) {
	js, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("%w: event: %v", ErrInvalid, err)
	}
	if len(js) > MaxEventBytes {
		return nil, fmt.Errorf("%w: event of %d bytes, more than %d", ErrInvalid, len(js), MaxEventBytes)
	}
	rec := make([]byte, 0, 10+len(ev.Service)+len(js))
	rec = append(rec, recordVersion)
	rec = binary.BigEndian.AppendUint64(rec, uint64(ev.Time.UnixNano()))
	rec = append(rec, byte(len(ev.Service)))
	rec = append(rec, ev.Service...)
	return append(rec, js...), nil
}

// recordHeader returns the event time and service of a record.
func recordHeader(rec []byte) (t int64, service []byte, ok bool) {
	if len(rec) < 10 || rec[0] != recordVersion {
		return 0, nil, false
	}
	n := int(rec[9])
	if len(rec) < 10+n {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(rec[1:9])), rec[10 : 10+n], true
}

func decodeRecord(rec []byte) (Event, error) {
	_, svc, ok := recordHeader(rec)
	if !ok {
		return Event{}, errBadHeader
	}
	var ev Event
	if err := json.Unmarshal(rec[10+len(svc):], &ev); err != nil {
		return Event{}, fmt.Errorf("event JSON: %w", err)
	}
	if ev.Service != string(svc) {
		return Event{}, fmt.Errorf("event JSON names service %q, header %q", ev.Service, svc)
	}
	if ev.Evidence == nil {
		ev.Evidence = map[string]any{}
	}
	return ev, nil
}
