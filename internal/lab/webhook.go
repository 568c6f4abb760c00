package lab

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// verifyWebhook checks a Standard Webhooks request: webhook-signature must
// hold a "v1,<base64 HMAC-SHA256>" of "<webhook-id>.<webhook-timestamp>.<body>"
// under the secret, and webhook-timestamp (Unix seconds) must lie within skew
// of now. A secret "whsec_<base64>" signs with the decoded key, any other
// with its bytes. A replayed id is accepted: scaling is idempotent and a
// webhook's retries reuse their id.
func verifyWebhook(secret string, h http.Header, body []byte, now time.Time, skew time.Duration) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q is not Unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > skew || d < -skew {
		return fmt.Errorf("webhook-timestamp is %s away from now, more than %s", d.Round(time.Second), skew)
	}
	key, err := webhookKey(secret)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid v1 signature")
}

func webhookKey(secret string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("webhook secret: whsec_ prefix without a base64 key")
		}
		return key, nil
	}
	return []byte(secret), nil
}
