package builtin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// state is what the server publishes, and what the state file holds. It is
// never modified once a snapshot holds it: a change builds a new state.
type state struct {
	Version int `json:"version"`
	// Serial is the SOA serial; it increases with every change.
	Serial uint32 `json:"serial"`
	// Records are the published service records by canonical name.
	Records map[string]record `json:"records"`
}

const stateVersion = 1

// record is one service's published record: the answers that have weight.
type record struct {
	Service string   `json:"service"`
	TTL     uint32   `json:"ttl"`
	Answers []answer `json:"answers"` // weight > 0 only, in fallback order
}

// answer is one published target.
type answer struct {
	Target string   `json:"target"`
	Type   string   `json:"type"` // A | AAAA | CNAME
	Values []string `json:"values"`
	Weight int      `json:"weight"`
}

func (r record) equal(o record) bool {
	return r.Service == o.Service && r.TTL == o.TTL && slices.EqualFunc(r.Answers, o.Answers, answer.equal)
}

func (a answer) equal(o answer) bool {
	return a.Target == o.Target && a.Type == o.Type && a.Weight == o.Weight && slices.Equal(a.Values, o.Values)
}

// sameContent reports whether a publishes what ans asks for (type and
// values, ignoring the order of values).
func (a answer) sameContent(ans dnsswitch.Answer) bool {
	if !strings.EqualFold(a.Type, ans.Type) {
		return false
	}
	vals, err := canonicalValues(a.Type, ans.Values)
	return err == nil && slices.Equal(a.Values, vals)
}

// canonicalValues checks the values of an answer of type typ and returns
// them canonical and sorted: addresses of the right family, or exactly one
// domain name for a CNAME.
func canonicalValues(typ string, values []string) ([]string, error) {
	if len(values) == 0 {
		return nil, errors.New("no values")
	}
	out := make([]string, 0, len(values))
	switch strings.ToUpper(typ) {
	case "A", "AAAA":
		want4, family := strings.EqualFold(typ, "A"), "IPv6"
		if want4 {
			family = "IPv4"
		}
		for _, v := range values {
			ip, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("%s value %q: %w", typ, v, err)
			}
			if ip.Zone() != "" || ip.Is4() != want4 || (!want4 && ip.Is4In6()) {
				return nil, fmt.Errorf("%s value %q is not an %s address", typ, v, family)
			}
			out = append(out, ip.String())
		}
	case "CNAME":
		if len(values) != 1 {
			return nil, fmt.Errorf("CNAME takes exactly one value, got %d", len(values))
		}
		name, err := canonicalName(values[0])
		if err != nil {
			return nil, fmt.Errorf("CNAME value: %w", err)
		}
		out = append(out, name)
	default:
		return nil, fmt.Errorf("unsupported answer type %q (want A, AAAA or CNAME)", typ)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// withRecord returns a copy of s with rec published under name and the
// serial advanced to serial.
func (s *state) withRecord(name string, rec record, serial uint32) *state {
	next := &state{Version: stateVersion, Serial: serial, Records: maps.Clone(s.Records)}
	if next.Records == nil {
		next.Records = map[string]record{}
	}
	next.Records[name] = rec
	return next
}

// nextSerial returns a serial greater than cur, the current time in seconds
// since 1970 when that is greater, so that serials keep increasing across a
// restart without a state file. Serial arithmetic (RFC 1982) tolerates the
// wrap at 2^32.
func nextSerial(cur uint32, nowUnix int64) uint32 {
	now := uint32(nowUnix)
	if int32(now-cur) > 0 {
		return now
	}
	return cur + 1
}

// loadState reads the state file at path. A missing file is an empty state
// and no error.
func loadState(path string) (*state, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("builtin: state file: %w", err)
	}
	var s state
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, false, fmt.Errorf("builtin: state file %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, false, fmt.Errorf("builtin: state file %s: version %d, want %d", path, s.Version, stateVersion)
	}
	// Names are canonical in memory; a hand-edited file may differ.
	records := make(map[string]record, len(s.Records))
	for name, rec := range s.Records {
		cname, err := canonicalName(name)
		if err != nil {
			return nil, false, fmt.Errorf("builtin: state file %s: record %q: %w", path, name, err)
		}
		if _, dup := records[cname]; dup {
			return nil, false, fmt.Errorf("builtin: state file %s: record %s appears twice", path, cname)
		}
		records[cname] = rec
	}
	s.Records = records
	return &s, true, nil
}

// encode renders the state for the state file.
func (s *state) encode() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// writeFileAtomic replaces path with data: it writes a temporary file in
// the same directory, syncs it, renames it over path and syncs the
// directory, so that a crash leaves either the old file or the new one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close() // already failed; the write error is the one to report
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// classifyWriteError marks a failure to write the state file as retryable
// unless it is one that waiting will not cure (permissions, a read-only
// file system, a path that is a directory).
func classifyWriteError(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("builtin: write state file: %w", err)
	}
	return fmt.Errorf("builtin: write state file: %w: %w", err, dnsswitch.ErrRetryable)
}
