package store

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// indexLen counts the entries of the service index.
func indexLen(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketByService).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPrune(t *testing.T) {
	now := t0.Add(30 * time.Second) // fixture events are at t0 .. t0+29s
	tests := []struct {
		name      string
		maxAge    time.Duration
		maxEvents int
		removed   int
		firstMsg  string
	}{
		{"nothing to do", 0, 0, 0, "0"},
		{"age keeps young", time.Hour, 0, 0, "0"},
		{"age", 15 * time.Second, 0, 15, "15"},
		{"age boundary kept", 10 * time.Second, 0, 20, "20"},
		{"age just past boundary", 10*time.Second - time.Nanosecond, 0, 21, "21"},
		{"count", 0, 5, 25, "25"},
		{"count larger than held", 0, 100, 0, "0"},
		{"age wins", 5 * time.Second, 20, 25, "25"},
		{"count wins", 20 * time.Second, 3, 27, "27"},
		{"everything", time.Nanosecond, 0, 30, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openT(t, t.TempDir())
			fixture(t, s)
			removed, err := s.Prune(now, tt.maxAge, tt.maxEvents)
			if err != nil {
				t.Fatal(err)
			}
			if removed != tt.removed {
				t.Errorf("removed %d, want %d", removed, tt.removed)
			}
			left, err := s.Events(Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 30-tt.removed {
				t.Errorf("%d events left, want %d", len(left), 30-tt.removed)
			}
			if len(left) > 0 && left[0].Message != tt.firstMsg {
				t.Errorf("oldest left is %q, want %q", left[0].Message, tt.firstMsg)
			}
			// The index lost exactly the pruned events of named services.
			wantIndex := 0
			for _, ev := range left {
				if ev.Service != "" {
					wantIndex++
				}
			}
			if n := indexLen(t, s); n != wantIndex {
				t.Errorf("service index has %d entries, want %d", n, wantIndex)
			}
			// Ids keep counting after a prune.
			ev := mustAppend(t, s, Event{Time: now, Service: "www", Type: TypeState})
			if ev.ID != FormatID(31) {
				t.Errorf("id after prune = %s, want %s", ev.ID, FormatID(31))
			}
		})
	}
}

func TestPruneStopsAtFirstKeptEvent(t *testing.T) {
	s := openT(t, t.TempDir())
	// A clock that stepped back: the third event is older than the second.
	for _, sec := range []int{0, 100, 1, 101} {
		mustAppend(t, s, Event{Time: t0.Add(time.Duration(sec) * time.Second), Service: "www", Type: TypeDNS, Message: fmt.Sprint(sec)})
	}
	removed, err := s.Prune(t0.Add(110*time.Second), 50*time.Second, 0)
	if err != nil || removed != 1 {
		t.Fatalf("Prune = %d, %v; want 1", removed, err)
	}
	left, _ := s.Events(Query{})
	if len(left) != 3 || left[0].Message != "100" {
		t.Errorf("left %v", left)
	}
}

func TestPruneInBatches(t *testing.T) {
	s := openT(t, t.TempDir())
	const n = 2*PruneBatch + 123
	evs := make([]Event, 1000)
	for done := 0; done < n; done += len(evs) {
		batch := evs[:min(len(evs), n-done)]
		for i := range batch {
			batch[i] = Event{Time: t0.Add(time.Duration(done+i) * time.Millisecond), Service: fmt.Sprintf("s%d", (done+i)%7), Type: TypeVantage}
		}
		if _, err := s.AppendMany(batch); err != nil {
			t.Fatal(err)
		}
	}
	// One batch deletes PruneBatch events and says there is more.
	first, more, err := s.pruneBatch(false, 0, 100)
	if err != nil || first != PruneBatch || !more {
		t.Fatalf("pruneBatch = %d, %v, %v; want %d, true", first, more, err, PruneBatch)
	}
	removed, err := s.Prune(t0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if first+removed != n-100 {
		t.Errorf("removed %d+%d, want %d", first, removed, n-100)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 100 || st.LastID != FormatID(n) || st.FirstID != FormatID(n-99) {
		t.Errorf("after prune: %+v", st)
	}
	if got := indexLen(t, s); got != 100 {
		t.Errorf("index has %d entries, want 100", got)
	}
}
