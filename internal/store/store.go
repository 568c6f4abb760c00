// Package store keeps failover's audit trail (the events of CONTRACT §4) and
// the state of every service on disk, in one bbolt file, failover.db, in the
// controller's data directory.
//
// Durability. Every write is one bbolt read-write transaction, which bbolt
// commits with fsync before Update returns; so Append, AppendMany and
// SaveState return only once what they wrote is on disk. The loop records an
// action as done only after that.
//
// Locking. bbolt takes an exclusive flock on the file. A second Open of the
// same file (from another process, or another Open in this one) waits at most
// Options.LockTimeout and then fails with an error wrapping ErrLocked.
//
// Layout. Four top-level buckets:
//
//	meta        "format" -> "1"
//	events      id (8-byte big-endian sequence) -> record (see below)
//	by_service  service 0x00 id -> event time (8 bytes), the service index
//	states      service -> the service's state, as raw JSON
//
// An event's id is the events bucket's bbolt sequence, so ids increase
// strictly in append order and are never reused, even after Prune. Outside
// the store an id is rendered as a 20-digit zero-padded decimal string
// ("00000000000000000042"), so that ids sort as strings the same way as
// numbers (see FormatID and ParseID). Because Prune deletes only from the
// oldest end and appends only add at the newest, the ids held are always one
// contiguous range.
//
// A record is a version byte (1), the event time (Unix nanoseconds, 8 bytes
// big-endian), the service name (1 length byte then the bytes) and the
// event's JSON. The header lets queries filter by time and Prune drop index
// entries without decoding JSON.
//
// Service state is stored as raw JSON bytes: the store does not import
// package controller, and the loop marshals controller.State itself. This
// keeps the store a leaf package that any part of the program may use.
//
// Damage. A stored record that cannot be decoded (a bad header, bad JSON,
// an index entry whose event is gone, a state that is not JSON) is skipped,
// logged and counted (Skipped); it never causes a panic or fails the whole
// query. A panic raised by bbolt itself on a damaged page is turned into an
// error wrapping ErrCorrupt. A file that is not a bbolt database, or a bbolt
// database that is not a failover store, is refused by Open with an error
// wrapping ErrNotStore.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the store's file inside the data directory.
const FileName = "failover.db"

// formatVersion is the value of meta/format this code reads and writes.
const formatVersion = "1"

// DefaultLockTimeout is how long Open waits for the file lock when
// Options.LockTimeout is zero.
const DefaultLockTimeout = time.Second

var (
	bucketMeta      = []byte("meta")
	bucketEvents    = []byte("events")
	bucketByService = []byte("by_service")
	bucketStates    = []byte("states")
	keyFormat       = []byte("format")
)

var (
	// ErrLocked: another process (or another Open) holds the store.
	ErrLocked = errors.New("store is locked by another process")
	// ErrNotStore: the file is not a bbolt database, or not a failover
	// store, or of a format this version cannot read.
	ErrNotStore = errors.New("not a failover store")
	// ErrCorrupt: bbolt found the file damaged while reading or writing it.
	ErrCorrupt = errors.New("store is corrupt")
	// ErrInvalid: the argument (an event, a service name, a state, a
	// query) is not acceptable.
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store is closed")
)

// Options configures Open. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for the file lock; DefaultLockTimeout
	// when zero.
	LockTimeout time.Duration
	// Logger receives one warning per skipped damaged record. Nothing is
	// logged when nil.
	Logger *slog.Logger
	// Now gives the time of events appended with a zero Time; time.Now
	// when nil.
	Now func() time.Time
}

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	db      *bolt.DB
	path    string
	log     *slog.Logger
	now     func() time.Time
	skipped atomic.Uint64
	closed  atomic.Bool
}

// Open opens (creating it if needed) the store in the data directory dir:
// the directory is created with mode 0700 when missing and the file
// dir/failover.db with mode 0600.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("store: %w: empty data directory", ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	db, err := openBolt(path, timeout)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, log: opts.Logger, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.update(initBuckets); err != nil {
		_ = db.Close() // the init error is the one worth reporting
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// openBolt opens the bbolt file and maps its errors to the store's.
func openBolt(path string, timeout time.Duration) (db *bolt.DB, err error) {
	defer func() {
		// bbolt may panic on a file whose meta pages look valid but whose
		// contents are not; report that as what it is.
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("store: %s: %w: %v", path, ErrNotStore, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("store: %s: %w (gave up after %s)", path, ErrLocked, timeout)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, fmt.Errorf("store: %s: %w (%v)", path, ErrNotStore, err)
	default:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
}

// initBuckets creates the buckets of a new store, or checks those of an
// existing one.
func initBuckets(tx *bolt.Tx) error {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if f := string(meta.Get(keyFormat)); f != formatVersion {
			return fmt.Errorf("%w: format %q, want %q", ErrNotStore, f, formatVersion)
		}
	} else {
		var other []string
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			other = append(other, string(name))
			return nil
		}); err != nil {
			return err
		}
		if len(other) > 0 {
			return fmt.Errorf("%w: a bbolt database with other buckets %q", ErrNotStore, other)
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyFormat, []byte(formatVersion)); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketEvents, bucketByService, bucketStates} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

// Path returns the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the store; it waits for transactions in progress. Closing a
// closed store does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Skipped returns how many damaged records were skipped since Open.
func (s *Store) Skipped() uint64 { return s.skipped.Load() }

// skip counts and logs a damaged record.
func (s *Store) skip(what string, key []byte, err error) {
	s.skipped.Add(1)
	if s.log != nil {
		s.log.Warn("store: skipped damaged record", "bucket", what, "key", fmt.Sprintf("%x", key), "err", err)
	}
}

// view runs fn in a read transaction, turning a bbolt panic into ErrCorrupt.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	defer recoverCorrupt(&err)
	// A damaged page can send bbolt outside its mapping: make that a
	// panic (recovered above) rather than a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.db.View(fn)
}

// update runs fn in a read-write transaction (committed and fsynced when fn
// returns nil), turning a bbolt panic into ErrCorrupt.
func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	defer recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.db.Update(fn)
}

func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %v", ErrCorrupt, r)
	}
}

// Stats describes the store's contents.
type Stats struct {
	// Events is the number of events held.
	Events int `json:"events"`
	// FirstID and LastID are the oldest and newest ids held ("" when
	// there are none).
	FirstID string `json:"first_id"`
	LastID  string `json:"last_id"`
	// States is the number of services with a stored state.
	States int `json:"states"`
	// Skipped is Skipped().
	Skipped uint64 `json:"skipped"`
	// FileBytes is the size of the file.
	FileBytes int64 `json:"file_bytes"`
}

// Stats returns the store's Stats.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.view(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEvents)
		st.Events = eb.Stats().KeyN
		c := eb.Cursor()
		if k, _ := c.First(); len(k) == 8 {
			st.FirstID = FormatID(binary.BigEndian.Uint64(k))
		}
		if k, _ := c.Last(); len(k) == 8 {
			st.LastID = FormatID(binary.BigEndian.Uint64(k))
		}
		st.States = tx.Bucket(bucketStates).Stats().KeyN
		st.FileBytes = tx.Size()
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	st.Skipped = s.Skipped()
	return st, nil
}

// validName reports whether name is a valid service name (CONTRACT:
// ^[a-z0-9][a-z0-9-]{0,62}$).
func validName(name string) bool {
	if len(name) == 0 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}
