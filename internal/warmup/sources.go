package warmup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// maxLineBytes bounds one line of a urls_file.
const maxLineBytes = 64 << 10

// errNoOrigin is returned for a path when the target's probe has no URL
// to take the scheme and host from.
var errNoOrigin = errors.New("a path needs the target's probe url to resolve against")

// resolveURL turns a configured URL into an absolute http(s) URL. A
// reference without a scheme (a path such as /assets/1, or assets/1) is
// resolved against origin, the scheme and host of the target's probe URL.
func resolveURL(raw string, origin *url.URL) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("not a URL: %w", errors.Unwrap(err))
	}
	if u.Scheme == "" && u.Host == "" {
		if origin == nil {
			return "", errNoOrigin
		}
		if !strings.HasPrefix(u.Path, "/") {
			u.Path = "/" + u.Path
		}
		u = origin.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return "", errors.New("no host")
	}
	u.Fragment = ""
	return u.String(), nil
}

// urlSet collects distinct URLs in order, up to a limit.
type urlSet struct {
	limit int
	seen  map[string]struct{}
	list  []string
	src   *Sources
}

func newURLSet(limit int, src *Sources) *urlSet {
	return &urlSet{limit: limit, seen: map[string]struct{}{}, src: src}
}

// full reports whether no URL can be added any more.
func (s *urlSet) full() bool { return len(s.list) >= s.limit }

// add adds u and reports whether it was new and fit under the limit.
func (s *urlSet) add(u string) bool {
	if _, dup := s.seen[u]; dup {
		s.src.Duplicates++
		return false
	}
	if s.full() {
		s.src.OverMaxURLs++
		return false
	}
	s.seen[u] = struct{}{}
	s.list = append(s.list, u)
	return true
}

// readURLsFile adds the URLs of a urls_file to set: one URL or path per
// line; blank lines and lines starting with # are skipped, and a # after
// the URL and a space starts a comment. It returns how many were added,
// and stops reading once the set is full. A bad line is an error naming
// the line.
func readURLsFile(path string, origin *url.URL, set *urlSet) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("urls_file: %w", err)
	}
	defer f.Close()
	return readURLs(f, path, origin, set)
}

func readURLs(r io.Reader, name string, origin *url.URL, set *urlSet) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	added := 0
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) > 1 && !strings.HasPrefix(fields[1], "#") {
			return added, fmt.Errorf("urls_file: %s:%d: text after the URL that is not a # comment", name, line)
		}
		u, err := resolveURL(fields[0], origin)
		if err != nil {
			return added, fmt.Errorf("urls_file: %s:%d: %w", name, line, err)
		}
		if set.full() {
			set.src.OverMaxURLs++
			break
		}
		if set.add(u) {
			added++
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return added, fmt.Errorf("urls_file: %s: a line is longer than %d bytes", name, maxLineBytes)
		}
		return added, fmt.Errorf("urls_file: %s: %w", name, err)
	}
	return added, nil
}
