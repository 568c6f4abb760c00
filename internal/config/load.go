package config

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest config file accepted; a larger one is rejected
// before it is parsed.
const MaxFileSize = 16 << 20

// EnvPrefix starts the name of every environment override.
const EnvPrefix = "FAILOVER"

// Options tune Load, Parse and Validate.
type Options struct {
	// RequireSecrets makes an unavailable secret (an unset environment
	// variable, a missing file) an error. Without it, it is a warning,
	// because configs are often validated where the secrets do not live.
	RequireSecrets bool
	// Env looks up environment variables, for the FAILOVER_* overrides and
	// for secrets given as *_env. Nil means os.LookupEnv.
	Env func(string) (string, bool)
}

func (o Options) lookup() func(string) (string, bool) {
	if o.Env != nil {
		return o.Env
	}
	return os.LookupEnv
}

// Load reads the config file at path and parses it with Parse. A file that
// cannot be read is a plain error ("config: read: ..."); a file that is too
// large is rejected without reading it all.
func Load(path string, opts Options) (*Config, []Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: read: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileSize {
		ps := []Problem{{Message: tooLargeMessage(st.Size())}}
		return nil, ps, &ValidationError{Problems: ps}
	}
	// Not every file has a size up front (a pipe, /dev/stdin): read at most
	// one byte more than the limit, and let Parse reject that.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("config: read: %w", err)
	}
	return Parse(data, opts)
}

// Parse builds a Config from YAML: the defaults first, then a strict decode
// of data over them (unknown keys, wrong types, bad durations and duplicate
// keys are errors with their paths), then the FAILOVER_* environment
// overrides, then Validate.
//
// The returned problems hold every error and warning, sorted in the order
// of their paths in the document: a problem about a field that the document
// leaves out sorts with the nearest enclosing field that it has, and
// problems about sections it leaves out entirely come first. When any of
// them is an error, Parse returns a nil Config and a *ValidationError
// holding the errors.
func Parse(data []byte, opts Options) (*Config, []Problem, error) {
	if len(data) > MaxFileSize {
		ps := []Problem{{Message: tooLargeMessage(int64(len(data)))}}
		return nil, ps, &ValidationError{Problems: ps}
	}
	root, perr := parseDocument(data)
	if perr != nil {
		ps := toProblems([]problem{*perr})
		return nil, ps, &ValidationError{Problems: ps}
	}
	if root.Kind != yaml.MappingNode {
		ps := []Problem{{Message: "the config file must be a mapping, got " + describe(root)}}
		return nil, ps, &ValidationError{Problems: ps}
	}

	cfg := Defaults()
	d := newDecoder(root)
	d.decode(root, reflect.ValueOf(&cfg).Elem(), nil)
	if d.aborted {
		ps := toProblems(d.probs.list)
		return nil, ps, &ValidationError{Problems: Errors(ps)}
	}
	all := d.probs.list
	all = append(all, applyEnv(&cfg, opts.lookup())...)
	cfg.FillDefaults()

	// A field that failed to decode keeps its default; do not also report
	// what Validate thinks of that default.
	bad := make(map[string]bool, len(all))
	for _, p := range all {
		bad[p.path.String()] = true
	}
	for _, p := range cfg.validate(opts) {
		if !underAny(p.path, bad) {
			all = append(all, p)
		}
	}
	sortByDocument(all, root)
	ps := toProblems(all)
	if HasErrors(ps) {
		return nil, ps, &ValidationError{Problems: Errors(ps)}
	}
	return &cfg, ps, nil
}

// underAny reports whether p or one of its ancestors is in paths.
func underAny(p fieldPath, paths map[string]bool) bool {
	if len(paths) == 0 {
		return false
	}
	for i := len(p); i >= 0; i-- {
		if paths[p[:i].String()] {
			return true
		}
	}
	return false
}

// envKey is one scalar setting that an environment variable can override.
type envKey struct {
	Key   string // dotted path, such as probes.interval
	Env   string // FAILOVER_PROBES_INTERVAL
	path  fieldPath
	index []int // field index path from Config
}

// envKeys lists the overridable settings: every scalar field (string,
// number, bool, duration) under controller and probes, and auth.open_read.
// Lists and the services, providers and hooks are not overridable.
var envKeys = func() []envKey {
	var keys []envKey
	var walk func(t reflect.Type, p fieldPath, index []int)
	walk = func(t reflect.Type, p fieldPath, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" {
				continue
			}
			fp, fi := p.field(name), append(slices.Clone(index), i)
			switch {
			case f.Type == durationType:
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, fp, fi)
				continue
			case f.Type.Kind() == reflect.Slice, f.Type.Kind() == reflect.Map, f.Type.Kind() == reflect.Pointer:
				continue
			}
			key := fp.String()
			keys = append(keys, envKey{
				Key:   key,
				Env:   EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
				path:  fp,
				index: fi,
			})
		}
	}
	ct := reflect.TypeFor[Config]()
	for _, section := range []string{"controller", "auth", "probes"} {
		f, _ := ct.FieldByName(strings.ToUpper(section[:1]) + section[1:])
		walk(f.Type, fieldPath{}.field(section), f.Index)
	}
	return keys
}()

// EnvVars returns the environment variables that override settings, keyed by
// the setting's dotted path (controller.listen -> FAILOVER_CONTROLLER_LISTEN).
func EnvVars() map[string]string {
	out := make(map[string]string, len(envKeys))
	for _, k := range envKeys {
		out[k.Key] = k.Env
	}
	return out
}

// applyEnv overrides settings of cfg from the environment. A value that does
// not fit its setting is a problem at the setting's path that names the
// variable. Empty values are ignored, as unset ones.
func applyEnv(cfg *Config, lookup func(string) (string, bool)) []problem {
	var d decoder
	root := reflect.ValueOf(cfg).Elem()
	for _, k := range envKeys {
		val, ok := lookup(k.Env)
		if !ok || val == "" {
			continue
		}
		field := root.FieldByIndex(k.index)
		if field.Kind() == reflect.Bool {
			b, err := strconv.ParseBool(val)
			if err != nil {
				d.probs.errorf(k.path, "from %s: must be true or false, got %q", k.Env, truncate(val))
				continue
			}
			field.SetBool(b)
			continue
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: val}
		if field.Kind() == reflect.String {
			n.Style = yaml.DoubleQuotedStyle // taken as it is, never as YAML
		}
		before := len(d.probs.list)
		d.decode(n, field, k.path)
		for i := before; i < len(d.probs.list); i++ {
			d.probs.list[i].msg = "from " + k.Env + ": " + d.probs.list[i].msg
		}
	}
	return d.probs.list
}
