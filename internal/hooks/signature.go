package hooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Standard Webhooks headers (https://www.standardwebhooks.com/).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook's timestamp may be from the
// receiver's clock, either way.
const DefaultTolerance = 5 * time.Minute

// secretPrefix marks a secret in the Standard Webhooks format.
const secretPrefix = "whsec_"

// Verification errors. Verify wraps one of them; none carries the secret.
var (
	ErrMissingHeader       = errors.New("webhook: missing header")
	ErrBadTimestamp        = errors.New("webhook: timestamp is not unix seconds")
	ErrStaleTimestamp      = errors.New("webhook: timestamp too old")
	ErrFutureTimestamp     = errors.New("webhook: timestamp too far in the future")
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
	ErrReplay              = errors.New("webhook: message id already seen")
	ErrBadSecret           = errors.New("webhook: bad secret")
)

// ParseSecret turns a configured secret into the HMAC key. A secret that
// starts with "whsec_" is in the Standard Webhooks format: the rest is the
// key in base64 (standard alphabet, padded or not). Any other secret is
// used as it is, its bytes being the key, for receivers that configure a
// plain shared string. An empty key is an error.
func ParseSecret(secret string) ([]byte, error) {
	if !strings.HasPrefix(secret, secretPrefix) {
		if secret == "" {
			return nil, fmt.Errorf("%w: empty", ErrBadSecret)
		}
		return []byte(secret), nil
	}
	enc := strings.TrimPrefix(secret, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(enc)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the part after whsec_ is not base64", ErrBadSecret)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadSecret)
	}
	return key, nil
}

// Sign returns the webhook-signature value for a message: "v1," and the
// base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body), the
// timestamp in unix seconds.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a webhook the way a receiver should, with the raw body as
// it came over the wire:
//
//  1. the webhook-id, webhook-timestamp and webhook-signature headers are
//     present;
//  2. the timestamp is within tolerance of now, either way (0 means
//     DefaultTolerance), which bounds how long a captured message can be
//     replayed;
//  3. one of the space-separated "v1,<base64>" signatures matches the HMAC
//     of the id, the timestamp and the body under the secret (as
//     ParseSecret reads it), compared in constant time. Several signatures
//     let a sender rotate its secret.
//
// Within the tolerance a captured message still verifies. To reject a
// replay, remember the ids of the messages accepted in the last two
// tolerances and refuse one seen before; ReplayCache.Verify does both. A
// sender keeps the id of a message across its retries, so a duplicate id
// is also how a receiver drops a retry of a message it already handled.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	for _, hv := range [][2]string{{HeaderID, id}, {HeaderTimestamp, ts}, {HeaderSignature, sigs}} {
		if hv[1] == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, hv[0])
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	switch at := time.Unix(sec, 0); {
	case now.Sub(at) > tolerance:
		return ErrStaleTimestamp
	case at.Sub(now) > tolerance:
		return ErrFutureTimestamp
	}
	want := mac(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		version, enc, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// ReplayCache remembers the ids of accepted webhooks, so that a receiver
// rejects a message it has seen before. An id needs remembering only while
// its timestamp would pass Verify, so entries expire after a window (two
// tolerances by default: a message may come early or late by one
// tolerance), and at most size ids are kept, the oldest dropped first. Size
// it above the messages a receiver takes in one window: an id dropped
// early can be replayed until its timestamp goes stale. It is safe for
// concurrent use.
type ReplayCache struct {
	size   int
	window time.Duration

	mu    sync.Mutex
	seen  map[string]time.Time
	order []replayEntry // oldest first, from head on
	head  int
}

type replayEntry struct {
	id string
	at time.Time
}

// NewReplayCache returns a cache of at most size ids (0 or less: 10,000),
// each kept for window (0 or less: 2 × DefaultTolerance).
func NewReplayCache(size int, window time.Duration) *ReplayCache {
	if size <= 0 {
		size = 10_000
	}
	if window <= 0 {
		window = 2 * DefaultTolerance
	}
	return &ReplayCache{size: size, window: window, seen: map[string]time.Time{}}
}

// Seen records id as accepted at now and reports whether it already was
// within the window.
func (c *ReplayCache) Seen(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.order) && now.Sub(c.order[c.head].at) > c.window {
		c.dropOldest()
	}
	if _, ok := c.seen[id]; ok {
		return true
	}
	for len(c.seen) >= c.size {
		c.dropOldest()
	}
	c.seen[id] = now
	c.order = append(c.order, replayEntry{id: id, at: now})
	if c.head > len(c.order)/2 {
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
	return false
}

// dropOldest forgets the oldest entry.
func (c *ReplayCache) dropOldest() {
	e := c.order[c.head]
	if at, ok := c.seen[e.id]; ok && at.Equal(e.at) {
		delete(c.seen, e.id)
	}
	c.order[c.head] = replayEntry{}
	c.head++
}

// Verify checks a webhook with the package's Verify and then rejects it
// with ErrReplay if its id was accepted before. Only a message whose
// signature verifies is remembered, so forged messages cannot fill the
// cache.
func (c *ReplayCache) Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if err := Verify(secret, h, body, now, tolerance); err != nil {
		return err
	}
	if c.Seen(h.Get(HeaderID), now) {
		return ErrReplay
	}
	return nil
}
