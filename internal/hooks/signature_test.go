package hooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// The test vector of the Standard Webhooks specification.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// handSign computes a Standard Webhooks signature from first principles,
// independently of Sign: the key is the base64 after whsec_, the message
// id.timestamp.body.
func handSign(t *testing.T, secret, id string, ts int64, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func specHeaders(sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, specID)
	h.Set(HeaderTimestamp, fmt.Sprint(specTimestamp))
	h.Set(HeaderSignature, sig)
	return h
}

func TestSignSpecVector(t *testing.T) {
	key, err := ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, specID, time.Unix(specTimestamp, 0), []byte(specBody)); got != specSignature {
		t.Errorf("Sign = %s, want the spec's %s", got, specSignature)
	}
	if got := handSign(t, specSecret, specID, specTimestamp, []byte(specBody)); got != specSignature {
		t.Errorf("the test's own HMAC = %s, want %s", got, specSignature)
	}
	if err := Verify(specSecret, specHeaders(specSignature), []byte(specBody), time.Unix(specTimestamp, 0), 0); err != nil {
		t.Errorf("Verify of the spec's vector: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	now := time.Unix(specTimestamp, 0)
	body := []byte(specBody)
	tests := []struct {
		name    string
		secret  string
		headers http.Header
		body    []byte
		now     time.Time
		want    error
	}{
		{"tampered body", specSecret, specHeaders(specSignature), []byte(`{"test": 2432232315}`), now, ErrNoMatchingSignature},
		{"wrong secret", "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of 24 bytes!")), specHeaders(specSignature), body, now, ErrNoMatchingSignature},
		{"stale", specSecret, specHeaders(specSignature), body, now.Add(DefaultTolerance + time.Second), ErrStaleTimestamp},
		{"from the future", specSecret, specHeaders(specSignature), body, now.Add(-DefaultTolerance - time.Second), ErrFutureTimestamp},
		{"only another version", specSecret, specHeaders("v1a," + specSignature[3:]), body, now, ErrNoMatchingSignature},
		{"garbage signature", specSecret, specHeaders("v1,!!!"), body, now, ErrNoMatchingSignature},
		{"bad timestamp", specSecret, func() http.Header {
			h := specHeaders(specSignature)
			h.Set(HeaderTimestamp, "2021-02-25T15:02:10Z")
			return h
		}(), body, now, ErrBadTimestamp},
		{"no id", specSecret, func() http.Header { h := specHeaders(specSignature); h.Del(HeaderID); return h }(), body, now, ErrMissingHeader},
		{"no timestamp", specSecret, func() http.Header { h := specHeaders(specSignature); h.Del(HeaderTimestamp); return h }(), body, now, ErrMissingHeader},
		{"no signature", specSecret, func() http.Header { h := specHeaders(specSignature); h.Del(HeaderSignature); return h }(), body, now, ErrMissingHeader},
		{"bad secret", "whsec_not base64", specHeaders(specSignature), body, now, ErrBadSecret},
		{"empty secret", "", specHeaders(specSignature), body, now, ErrBadSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.secret, tt.headers, tt.body, tt.now, 0); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	now := time.Unix(specTimestamp, 0)
	body := []byte(specBody)
	tests := []struct {
		name      string
		secret    string
		sig       string
		now       time.Time
		tolerance time.Duration
	}{
		{"one of several signatures (a rotation)", specSecret, "v1,bm9wZQ== v2,xyz " + specSignature, now, 0},
		{"at the edge of the tolerance", specSecret, specSignature, now.Add(DefaultTolerance), 0},
		{"a wider tolerance", specSecret, specSignature, now.Add(time.Hour), 2 * time.Hour},
		{"a raw secret is its own key", "plain shared secret", func() string {
			m := hmac.New(sha256.New, []byte("plain shared secret"))
			fmt.Fprintf(m, "%s.%d.%s", specID, specTimestamp, specBody)
			return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		}(), now, 0},
		{"unpadded whsec", "whsec_" + base64.RawStdEncoding.EncodeToString([]byte("seventeen bytes!!")), func() string {
			m := hmac.New(sha256.New, []byte("seventeen bytes!!"))
			fmt.Fprintf(m, "%s.%d.%s", specID, specTimestamp, specBody)
			return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		}(), now, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.secret, specHeaders(tt.sig), body, tt.now, tt.tolerance); err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
		})
	}
}

func TestReplayCache(t *testing.T) {
	now := time.Unix(specTimestamp, 0)
	body := []byte(specBody)
	t.Run("a replay is rejected", func(t *testing.T) {
		c := NewReplayCache(0, 0)
		if err := c.Verify(specSecret, specHeaders(specSignature), body, now, 0); err != nil {
			t.Fatalf("first delivery: %v", err)
		}
		if err := c.Verify(specSecret, specHeaders(specSignature), body, now.Add(time.Minute), 0); !errors.Is(err, ErrReplay) {
			t.Errorf("replay: %v, want ErrReplay", err)
		}
		// Once the window is over, the timestamp is stale anyway.
		if err := c.Verify(specSecret, specHeaders(specSignature), body, now.Add(11*time.Minute), 0); !errors.Is(err, ErrStaleTimestamp) {
			t.Errorf("replay after the window: %v, want ErrStaleTimestamp", err)
		}
	})
	t.Run("a forgery is not remembered", func(t *testing.T) {
		c := NewReplayCache(0, 0)
		if err := c.Verify(specSecret, specHeaders("v1,Zm9yZ2Vk"), body, now, 0); !errors.Is(err, ErrNoMatchingSignature) {
			t.Fatalf("forgery: %v", err)
		}
		if err := c.Verify(specSecret, specHeaders(specSignature), body, now, 0); err != nil {
			t.Errorf("the genuine message after a forgery with its id: %v", err)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		c := NewReplayCache(2, time.Hour)
		for _, id := range []string{"a", "b", "c"} {
			if c.Seen(id, now) {
				t.Fatalf("%s seen before it was", id)
			}
		}
		if len(c.seen) != 2 {
			t.Errorf("%d ids kept, want at most 2", len(c.seen))
		}
		if !c.Seen("c", now) || !c.Seen("b", now) {
			t.Error("the newest ids were forgotten")
		}
		if c.Seen("a", now) {
			t.Error("the oldest id was not dropped")
		}
	})
	t.Run("window", func(t *testing.T) {
		c := NewReplayCache(100, time.Minute)
		c.Seen("a", now)
		if !c.Seen("a", now.Add(59*time.Second)) {
			t.Error("forgotten within the window")
		}
		if c.Seen("a", now.Add(61*time.Second)) {
			t.Error("remembered after the window")
		}
		for i := range 1000 {
			c.Seen(fmt.Sprint(i), now.Add(time.Duration(i)*time.Second))
		}
		if len(c.seen) > 61 || len(c.order)-c.head > 61 {
			t.Errorf("%d ids and %d entries kept for a 1-minute window at one a second", len(c.seen), len(c.order)-c.head)
		}
	})
}
