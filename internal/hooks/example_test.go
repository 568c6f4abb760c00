package hooks_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/hooks"
)

// A receiver checks every webhook with the raw body, before it trusts the
// event, and remembers the ids it accepted so that a replayed message (or a
// retry of one it already handled) is refused.
func ExampleReplayCache_Verify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	replays := hooks.NewReplayCache(100_000, 0)
	handle := func(w http.ResponseWriter, r *http.Request, now time.Time) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := replays.Verify(secret, r.Header, body, now, hooks.DefaultTolerance); err != nil {
			fmt.Println("refused:", err)
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		fmt.Println("accepted:", string(body))
	}

	deliver := func(now time.Time) {
		r, _ := http.NewRequest(http.MethodPost, "https://ops.example.com/scale", strings.NewReader(`{"test": 2432232314}`))
		r.Header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
		r.Header.Set("webhook-timestamp", "1614265330")
		r.Header.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
		handle(discard{}, r, now)
	}
	sent := time.Unix(1614265330, 0)
	deliver(sent.Add(2 * time.Second))  // on time
	deliver(sent.Add(time.Minute))      // the same message again
	deliver(sent.Add(10 * time.Minute)) // captured and replayed later
	// Output:
	// accepted: {"test": 2432232314}
	// refused: webhook: message id already seen
	// refused: webhook: timestamp too old
}

// discard is a ResponseWriter that drops the response.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
