package store

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestDamagedRecordsAreSkipped(t *testing.T) {
	s := openT(t, t.TempDir())
	good := fixture(t, s) // ids 1..30
	put := func(bucket []byte, k, v []byte) {
		t.Helper()
		if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k, v) }); err != nil {
			t.Fatal(err)
		}
	}
	validRec, err := encodeRecord(Event{Time: t0.Add(time.Hour), Service: "www", Type: TypeState})
	if err != nil {
		t.Fatal(err)
	}
	mismatched, err := encodeRecord(Event{Time: t0.Add(time.Hour), Service: "www", Type: TypeState})
	if err != nil {
		t.Fatal(err)
	}
	mismatched = bytes.Replace(mismatched, []byte(`"service":"www"`), []byte(`"service":"api"`), 1)
	put(bucketEvents, seqKey(31), []byte{recordVersion, 1, 2})                             // short header
	put(bucketEvents, seqKey(32), append(validRec[:len(validRec)-5:len(validRec)-5], 'x')) // broken JSON
	put(bucketEvents, seqKey(33), append([]byte{9}, validRec[1:]...))                      // unknown version
	put(bucketEvents, seqKey(34), mismatched)                                              // header and JSON disagree
	put(bucketEvents, []byte("odd-key"), validRec)                                         // not an 8-byte key
	put(bucketByService, indexKey("www", 99), timeBytes(t0.Add(time.Hour)))                // dangling index entry
	put(bucketByService, append(indexKey("www", 98), 'x'), timeBytes(t0))                  // malformed index key
	put(bucketStates, []byte("www"), []byte(`{"phase":`))                                  // broken state
	put(bucketStates, []byte("api"), []byte(`{"phase":"healthy"}`))

	got, err := s.Events(Query{})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if len(got) != len(good) {
		t.Errorf("Events returned %d, want the %d good ones", len(got), len(good))
	}
	if n := s.Skipped(); n < 5 {
		t.Errorf("Skipped = %d after a scan over 5 damaged records", n)
	}
	before := s.Skipped()
	www, err := s.Events(Query{Service: "www"})
	if err != nil || len(www) != 10 {
		t.Errorf("Events(www) = %d events, %v; want 10", len(www), err)
	}
	if s.Skipped() < before+2 {
		t.Errorf("Skipped did not count the dangling and malformed index entries: %d -> %d", before, s.Skipped())
	}
	if _, ok, err := s.LoadState("www"); ok || err != nil {
		t.Errorf("LoadState of a broken state = %v, %v; want none", ok, err)
	}
	all, err := s.LoadAllStates()
	if err != nil || len(all) != 1 || string(all["api"]) != `{"phase":"healthy"}` {
		t.Errorf("LoadAllStates = %q, %v", all, err)
	}
}

func TestPruneRemovesDamagedOldest(t *testing.T) {
	s := openT(t, t.TempDir())
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		if _, err := b.NextSequence(); err != nil {
			return err
		}
		return b.Put(seqKey(1), []byte("garbage"))
	}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, Event{Time: t0, Service: "www", Type: TypeState})
	removed, err := s.Prune(t0, time.Hour, 0)
	if err != nil || removed != 1 {
		t.Fatalf("Prune = %d, %v; want the damaged record removed", removed, err)
	}
	if left, _ := s.Events(Query{}); len(left) != 1 || left[0].ID != FormatID(2) {
		t.Errorf("left %+v", left)
	}
}

// TestDamagedFile overwrites the pages of a store file with garbage: Open
// or the queries fail with an error, or skip what they cannot read, but
// nothing panics.
func TestDamagedFile(t *testing.T) {
	for _, offset := range []int64{4096 * 2, 4096 * 3, 4096 * 4, 4096 * 6} {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		evs := make([]Event, 400)
		for i := range evs {
			evs[i] = Event{Time: t0, Service: "www", Type: TypeState, Message: strings.Repeat("m", 100)}
		}
		if _, err := s.AppendMany(evs); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(s.Path(), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), offset); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		s2, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
		if err != nil {
			if !errors.Is(err, ErrNotStore) && !errors.Is(err, ErrCorrupt) {
				t.Errorf("offset %d: Open err = %v, want ErrNotStore or ErrCorrupt", offset, err)
			}
			continue
		}
		_, qerr := s2.Events(Query{})
		_, serr := s2.Events(Query{Service: "www"})
		t.Logf("offset %d: Events: %v; by service: %v; skipped %d", offset, qerr, serr, s2.Skipped())
		for _, err := range []error{qerr, serr} {
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("offset %d: query err = %v, want nil or ErrCorrupt", offset, err)
			}
		}
		if err := s2.Close(); err != nil {
			t.Logf("offset %d: Close: %v", offset, err)
		}
	}
}
