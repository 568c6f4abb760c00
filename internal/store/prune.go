package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Prune enforces retention: it deletes events from the oldest end while
// they are older than maxAge (their Time before now-maxAge) or while more
// than maxEvents events are held. A maxAge or maxEvents <= 0 disables that
// bound. Damaged records reached at the oldest end are deleted too.
//
// It works in transactions of at most PruneBatch events, so a large backlog
// never makes one huge transaction, and appends interleave with it. Because
// it stops at the first event that is kept, an old event behind a newer one
// (a clock that stepped back) stays until the events before it go.
func (s *Store) Prune(now time.Time, maxAge time.Duration, maxEvents int) (removed int, err error) {
	if maxAge <= 0 && maxEvents <= 0 {
		return 0, nil
	}
	var cutoff int64
	if maxAge > 0 {
		cutoff = now.Add(-maxAge).UnixNano()
	}
	for {
		n, more, err := s.pruneBatch(maxAge > 0, cutoff, maxEvents)
		removed += n
		if err != nil {
			return removed, fmt.Errorf("store: prune: %w", err)
		}
		if !more {
			return removed, nil
		}
	}
}

// pruneBatch deletes up to PruneBatch events; more reports that it stopped
// at the batch size rather than at an event to keep.
func (s *Store) pruneBatch(byAge bool, cutoff int64, maxEvents int) (n int, more bool, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		eb, ib := tx.Bucket(bucketEvents), tx.Bucket(bucketByService)
		c := eb.Cursor()
		// The ids held are contiguous, so everything up to last-maxEvents
		// is over the count.
		var overCount uint64
		if last, _ := c.Last(); maxEvents > 0 && len(last) == 8 {
			if l := binary.BigEndian.Uint64(last); l > uint64(maxEvents) {
				overCount = l - uint64(maxEvents)
			}
		}
		type victim struct {
			key     []byte
			service []byte
		}
		var victims []victim
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(victims) == PruneBatch {
				more = true
				break
			}
			t, svc, ok := recordHeader(v)
			drop := !ok || len(k) != 8 ||
				binary.BigEndian.Uint64(k) <= overCount ||
				(byAge && t < cutoff)
			if !drop {
				break
			}
			victims = append(victims, victim{key: append([]byte(nil), k...), service: append([]byte(nil), svc...)})
		}
		// Delete after the walk: deleting under a cursor skips keys.
		for _, v := range victims {
			if err := eb.Delete(v.key); err != nil {
				return err
			}
			if len(v.service) > 0 && len(v.key) == 8 {
				if err := ib.Delete(indexKey(string(v.service), binary.BigEndian.Uint64(v.key))); err != nil {
					return err
				}
			}
		}
		n = len(victims)
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return n, more, nil
}
