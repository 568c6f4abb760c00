package warmup

import (
	"net/http"
	"strconv"
	"strings"
)

// CacheStatus is what a response's cache headers say about it.
type CacheStatus string

// The cache statuses.
const (
	// CacheHit: the edge served the object from its cache.
	CacheHit CacheStatus = "hit"
	// CacheMiss: the edge went to the origin (or a parent) for it.
	CacheMiss CacheStatus = "miss"
	// CacheUncacheable: the edge says it does not cache this object
	// (BYPASS, DYNAMIC, PASS): no warm-up can make it a hit.
	CacheUncacheable CacheStatus = "uncacheable"
	// CacheUnknown: no configured header gave a verdict.
	CacheUnknown CacheStatus = "unknown"
)

// DefaultCacheHeaders are read when the config names none.
var DefaultCacheHeaders = []string{"X-Cache", "CF-Cache-Status", "Age"}

// cacheStatus reads the response's cache headers in the configured order;
// the first one that is present and understood decides.
//
//   - Age: a number of seconds; more than 0 is a hit, 0 a miss.
//   - Cache-Status (RFC 9211): the last entry (the cache closest to us); a
//     "hit" parameter is a hit, a "fwd" parameter a miss (fwd=bypass and
//     fwd=uri-miss alike, except bypass is uncacheable).
//   - Any other header (X-Cache, CF-Cache-Status, X-Cache-Status,
//     X-Proxy-Cache, ...): the last comma-separated entry, because caches
//     in a chain append their own (Fastly with shielding sends
//     "MISS, HIT": the shield missed, the edge that answered us hit). In
//     it, MISS or EXPIRED is a miss (TCP_MISS, "Miss from cloudfront"),
//     HIT, STALE, UPDATING or REVALIDATED a hit (TCP_MEM_HIT, "Hit from
//     cloudfront", "RefreshHit from cloudfront"), BYPASS, DYNAMIC or PASS
//     uncacheable. Anything else (NONE, "Error from cloudfront") is no
//     verdict, and the next header is read.
func cacheStatus(h http.Header, names []string) CacheStatus {
	for _, name := range names {
		values := h.Values(name)
		if len(values) == 0 {
			continue
		}
		var s CacheStatus
		switch strings.ToLower(name) {
		case "age":
			s = ageStatus(values[0])
		case "cache-status":
			s = rfc9211Status(lastEntry(values))
		default:
			s = tokenStatus(lastEntry(values))
		}
		if s != CacheUnknown {
			return s
		}
	}
	return CacheUnknown
}

// lastEntry is the last comma-separated entry of a header that may come as
// several lines, each a list.
func lastEntry(values []string) string {
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

func ageStatus(v string) CacheStatus {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case err != nil || n < 0:
		return CacheUnknown
	case n > 0:
		return CacheHit
	}
	return CacheMiss
}

func rfc9211Status(entry string) CacheStatus {
	params := strings.Split(entry, ";")
	for _, p := range params[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "hit":
			return CacheHit
		case "fwd":
			if strings.EqualFold(strings.Trim(v, `"`), "bypass") {
				return CacheUncacheable
			}
			return CacheMiss
		}
	}
	return CacheUnknown
}

func tokenStatus(entry string) CacheStatus {
	v := strings.ToLower(entry)
	switch {
	case strings.Contains(v, "miss"), strings.Contains(v, "expired"):
		return CacheMiss
	case strings.Contains(v, "hit"), strings.Contains(v, "stale"),
		strings.Contains(v, "updating"), strings.Contains(v, "revalidated"):
		return CacheHit
	case strings.Contains(v, "bypass"), strings.Contains(v, "dynamic"), v == "pass":
		return CacheUncacheable
	}
	return CacheUnknown
}
