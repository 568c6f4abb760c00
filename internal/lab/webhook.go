package lab

import (
	"net/http"
	"time"

	"github.com/failoverhq/failover/internal/hooks"
)

// verifyWebhook checks a Standard Webhooks request to /lab/scale with
// hooks.Verify, the verifier the hooks' docs show receivers: the headers,
// a timestamp within skew of now, and a v1 signature under the secret
// ("whsec_<base64 key>" or a plain string, as hooks.ParseSecret reads it).
// It does not reject a replayed id (hooks.ReplayCache would): scaling is
// idempotent, and a webhook's retries reuse their id, so a retry whose first
// answer was lost must still succeed.
func verifyWebhook(secret string, h http.Header, body []byte, now time.Time, skew time.Duration) error {
	return hooks.Verify(secret, h, body, now, skew)
}
