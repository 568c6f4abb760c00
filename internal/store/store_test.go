package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("STORE_TEST_HOLD_LOCK"); dir != "" {
		holdLock(dir)
		return
	}
	goleak.VerifyTestMain(m)
}

// holdLock is the helper process of TestOpenLockedByOtherProcess: it opens
// the store, says so, and keeps it open until its stdin closes.
func holdLock(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		os.Exit(1)
	}
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustAppend(t testing.TB, s *Store, ev Event) Event {
	t.Helper()
	out, err := s.Append(ev)
	if err != nil {
		t.Fatalf("Append(%+v): %v", ev, err)
	}
	return out
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s := openT(t, dir)
	if s.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path = %q", s.Path())
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("file mode = %o, want 600", m)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o700 {
		t.Errorf("dir mode = %o, want 700", m)
	}
}

func TestDurableAcrossCloseAndOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []Event
	for i := range 5 {
		want = append(want, mustAppend(t, s, Event{
			Time: t0.Add(time.Duration(i) * time.Second), Service: "www", Type: TypeState,
			From: "healthy", To: "degraded", Message: fmt.Sprintf("event %d", i),
			Evidence: map[string]any{"vantages": []any{"lab-a", "lab-b"}, "n": float64(i)},
		}))
	}
	state := []byte(`{"phase":"failed_over","routing":{"primary":0,"backup":100}}`)
	if err := s.SaveState("www", state); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(Query{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Events after Close: err = %v, want ErrClosed", err)
	}

	s2 := openT(t, dir)
	got, err := s2.Events(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events after reopen (-want +got):\n%s", diff)
	}
	st, ok, err := s2.LoadState("www")
	if err != nil || !ok || string(st) != string(state) {
		t.Errorf("LoadState = %s, %v, %v; want %s", st, ok, err, state)
	}
	next := mustAppend(t, s2, Event{Time: t0, Service: "www", Type: TypeDNS})
	if next.ID <= want[len(want)-1].ID {
		t.Errorf("id after reopen %s is not after %s", next.ID, want[len(want)-1].ID)
	}
}

func TestEventJSONShape(t *testing.T) {
	s := openT(t, t.TempDir())
	ev := mustAppend(t, s, Event{Time: t0, Type: TypeConfig, Message: "reloaded"})
	if ev.ID != "00000000000000000001" {
		t.Errorf("first id = %q", ev.ID)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	want := []string{"evidence", "from", "id", "message", "service", "time", "to", "type"}
	if diff := cmp.Diff(want, slices.Sorted(slices.Values(keys))); diff != "" {
		t.Errorf("JSON keys (-want +got):\n%s", diff)
	}
	if string(m["evidence"]) != "{}" {
		t.Errorf("empty evidence = %s, want {}", m["evidence"])
	}
}

func TestAppendZeroTimeUsesClock(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, err := s.Append(Event{Service: "www", Type: TypeHook})
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Time.Equal(t0) {
		t.Errorf("Time = %v, want %v", ev.Time, t0)
	}
}

func TestAppendRejectsInvalid(t *testing.T) {
	s := openT(t, t.TempDir())
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"unknown type", Event{Time: t0, Service: "www", Type: "reboot"}, `event type "reboot" is not one of`},
		{"empty type", Event{Time: t0, Service: "www"}, `event type "" is not one of`},
		{"bad service", Event{Time: t0, Service: "WWW", Type: TypeState}, `service "WWW" is not a valid name`},
		{"service with NUL", Event{Time: t0, Service: "a\x00b", Type: TypeState}, `is not a valid name`},
		{"time out of range", Event{Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Service: "www", Type: TypeState}, "out of range"},
		{"unencodable evidence", Event{Time: t0, Service: "www", Type: TypeState, Evidence: map[string]any{"f": func() {}}}, "event: json: unsupported type"},
		{"too large", Event{Time: t0, Service: "www", Type: TypeState, Message: strings.Repeat("x", MaxEventBytes)}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(tt.ev)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Append err = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
	if got, err := s.Events(Query{}); err != nil || len(got) != 0 {
		t.Errorf("after rejected appends: %d events, %v", len(got), err)
	}
	// AppendMany is all or nothing.
	_, err := s.AppendMany([]Event{{Time: t0, Type: TypeConfig}, {Time: t0, Type: "nope"}})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("AppendMany with one bad event: %v", err)
	}
	if got, _ := s.Events(Query{}); len(got) != 0 {
		t.Errorf("AppendMany stored %d events of a rejected batch", len(got))
	}
}

// fixture appends 30 events: services www, api and "" in turn, one second
// apart, and returns them.
func fixture(t *testing.T, s *Store) []Event {
	t.Helper()
	services := []string{"www", "api", ""}
	var evs []Event
	for i := range 30 {
		evs = append(evs, Event{
			Time: t0.Add(time.Duration(i) * time.Second), Service: services[i%3],
			Type: TypeState, Message: fmt.Sprint(i),
		})
	}
	out, err := s.AppendMany(evs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEventsQueries(t *testing.T) {
	s := openT(t, t.TempDir())
	all := fixture(t, s)
	pick := func(idx ...int) []Event {
		var out []Event
		for _, i := range idx {
			out = append(out, all[i])
		}
		return out
	}
	rng := func(from, to, step int) []int {
		var out []int
		for i := from; i < to; i += step {
			out = append(out, i)
		}
		return out
	}
	tests := []struct {
		name string
		q    Query
		want []Event
	}{
		{"all", Query{}, all},
		{"service", Query{Service: "www"}, pick(rng(0, 30, 3)...)},
		{"other service", Query{Service: "api"}, pick(rng(1, 30, 3)...)},
		{"unknown service", Query{Service: "nope"}, nil},
		{"limit keeps newest", Query{Limit: 4}, pick(26, 27, 28, 29)},
		{"limit oldest", Query{Limit: 4, Oldest: true}, pick(0, 1, 2, 3)},
		{"service limit", Query{Service: "www", Limit: 2}, pick(24, 27)},
		{"service limit oldest", Query{Service: "www", Limit: 2, Oldest: true}, pick(0, 3)},
		{"since", Query{Since: t0.Add(27 * time.Second)}, pick(27, 28, 29)},
		{"since between events", Query{Since: t0.Add(26500 * time.Millisecond)}, pick(27, 28, 29)},
		{"since future", Query{Since: t0.Add(time.Hour)}, nil},
		{"service since", Query{Service: "api", Since: t0.Add(20 * time.Second)}, pick(22, 25, 28)},
		{"after", Query{After: all[26].ID}, pick(27, 28, 29)},
		{"after unpadded", Query{After: "27"}, pick(27, 28, 29)},
		{"after last", Query{After: all[29].ID}, nil},
		{"after max", Query{After: "18446744073709551615"}, nil},
		{"after oldest paging", Query{After: all[9].ID, Limit: 3, Oldest: true}, pick(10, 11, 12)},
		{"service after", Query{Service: "www", After: all[20].ID}, pick(21, 24, 27)},
		{"service after oldest", Query{Service: "www", After: all[3].ID, Limit: 2, Oldest: true}, pick(6, 9)},
		{"since and after", Query{Since: t0.Add(20 * time.Second), After: all[25].ID, Limit: 2}, pick(28, 29)},
		{"limit over max", Query{Limit: MaxLimit + 1}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Events(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Events(%+v) (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

func TestEventsRejectsBadQuery(t *testing.T) {
	s := openT(t, t.TempDir())
	for _, q := range []Query{{After: "abc"}, {After: "-1"}, {Service: "Bad Name"}} {
		if _, err := s.Events(q); !errors.Is(err, ErrInvalid) {
			t.Errorf("Events(%+v) err = %v, want ErrInvalid", q, err)
		}
	}
}

func TestEventsLimitIsCapped(t *testing.T) {
	s := openT(t, t.TempDir())
	evs := make([]Event, MaxLimit+5)
	for i := range evs {
		evs[i] = Event{Time: t0, Service: "www", Type: TypeDNS}
	}
	if _, err := s.AppendMany(evs); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{{}, {Limit: MaxLimit * 2}, {Service: "www"}} {
		got, err := s.Events(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != MaxLimit || got[len(got)-1].ID != FormatID(MaxLimit+5) {
			t.Errorf("Events(%+v): %d events ending at %s, want %d ending at %s", q, len(got), got[len(got)-1].ID, MaxLimit, FormatID(MaxLimit+5))
		}
	}
}

func TestConcurrentAppends(t *testing.T) {
	s := openT(t, t.TempDir())
	const writers, each = 8, 25
	ids := make([][]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			svc := fmt.Sprintf("svc-%d", w)
			for i := range each {
				ev, err := s.Append(Event{Time: t0, Service: svc, Type: TypeState, Message: fmt.Sprint(i)})
				if err != nil {
					t.Error(err)
					return
				}
				ids[w] = append(ids[w], ev.ID)
			}
		})
	}
	// Readers run alongside.
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.Events(Query{Limit: 50}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for w := range writers {
		for i, id := range ids[w] {
			if seen[id] {
				t.Fatalf("id %s assigned twice", id)
			}
			seen[id] = true
			if i > 0 && id <= ids[w][i-1] {
				t.Errorf("writer %d: id %s after %s", w, id, ids[w][i-1])
			}
		}
		got, err := s.Events(Query{Service: fmt.Sprintf("svc-%d", w)})
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for i, ev := range got {
			gotIDs = append(gotIDs, ev.ID)
			if ev.Message != fmt.Sprint(i) {
				t.Errorf("writer %d event %d has message %q", w, i, ev.Message)
			}
		}
		if diff := cmp.Diff(ids[w], gotIDs); diff != "" {
			t.Errorf("writer %d ids (-appended +queried):\n%s", w, diff)
		}
	}
	all, err := s.Events(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*each || all[0].ID != FormatID(1) || all[len(all)-1].ID != FormatID(writers*each) {
		t.Errorf("%d events from %s to %s, want ids 1..%d", len(all), all[0].ID, all[len(all)-1].ID, writers*each)
	}
}

func TestOpenLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	openT(t, dir)
	start := time.Now()
	_, err := Open(dir, Options{LockTimeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "store is locked by another process") {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	// bbolt polls the lock every 50ms and gives up one poll early.
	if elapsed < 100*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("second Open gave up after %s, want about the 200ms timeout", elapsed)
	}
}

func TestOpenLockedByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STORE_TEST_HOLD_LOCK="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	_, err = Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Errorf("Open while another process holds it: err = %v, want ErrLocked", err)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	// Released: it opens now.
	openT(t, dir)
}

func TestOpenRejectsForeignFiles(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, path string)
		want  string
	}{
		{"text file", func(t *testing.T, path string) {
			writeFile(t, path, []byte(strings.Repeat("this is not a database\n", 1000)))
		}, "invalid database"},
		{"short file", func(t *testing.T, path string) {
			writeFile(t, path, []byte("hello"))
		}, ""},
		{"zero page", func(t *testing.T, path string) {
			writeFile(t, path, make([]byte, 16384))
		}, ""},
		{"other bbolt database", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("someone-else"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}, `other buckets ["someone-else"]`},
		{"future format", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				return b.Put(keyFormat, []byte("9"))
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}, `format "9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.write(t, filepath.Join(dir, FileName))
			s, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a foreign file")
			}
			if !errors.Is(err, ErrNotStore) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open err = %v, want ErrNotStore containing %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStates(t *testing.T) {
	s := openT(t, t.TempDir())
	if _, ok, err := s.LoadState("www"); ok || err != nil {
		t.Errorf("LoadState of nothing = %v, %v", ok, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SaveState("www", []byte(`{"phase":"healthy"}`)))
	must(s.SaveState("api", []byte(`{"phase":"frozen"}`)))
	must(s.SaveState("www", []byte(`{"phase":"degraded"}`)))
	all, err := s.LoadAllStates()
	must(err)
	want := map[string]string{"www": `{"phase":"degraded"}`, "api": `{"phase":"frozen"}`}
	got := map[string]string{}
	for k, v := range all {
		got[k] = string(v)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadAllStates (-want +got):\n%s", diff)
	}
	must(s.DeleteState("api"))
	must(s.DeleteState("api"))
	if _, ok, _ := s.LoadState("api"); ok {
		t.Error("state of api still there after DeleteState")
	}
	for _, bad := range []struct {
		svc   string
		state string
	}{{"www", `{"phase":`}, {"www", ``}, {"Bad", `{}`}, {"", `{}`}} {
		if err := s.SaveState(bad.svc, []byte(bad.state)); !errors.Is(err, ErrInvalid) {
			t.Errorf("SaveState(%q, %q) err = %v, want ErrInvalid", bad.svc, bad.state, err)
		}
	}
	if err := s.SaveState("www", make([]byte, MaxStateBytes+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized state: err = %v", err)
	}
}

func TestStats(t *testing.T) {
	s := openT(t, t.TempDir())
	fixture(t, s)
	if err := s.SaveState("www", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 30 || st.FirstID != FormatID(1) || st.LastID != FormatID(30) || st.States != 1 || st.FileBytes <= 0 {
		t.Errorf("Stats = %+v", st)
	}
}
