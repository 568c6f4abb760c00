package config

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration, at a field path such as
// services[0].policy.quorum. A Warning does not make the config invalid.
type Problem struct {
	Path    string
	Message string
	Warning bool
}

// String returns "path: message", or only the message for a problem with
// the file as a whole (an empty path).
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError is returned by Load and Parse when a configuration has at
// least one error-level problem. Problems holds only the errors; the
// warnings are in the []Problem that Load and Parse return next to it.
type ValidationError struct {
	Problems []Problem
}

// Error returns the problems, one "path: message" per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// HasErrors reports whether any of ps is an error rather than a warning.
func HasErrors(ps []Problem) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return !p.Warning })
}

// Errors returns the error-level problems of ps, in order.
func Errors(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// segKind tells what one step of a field path is.
type segKind uint8

const (
	segField segKind = iota // a struct field, by its yaml name
	segIndex                // a list index
	segKey                  // a map key
)

type seg struct {
	kind  segKind
	name  string
	index int
}

// fieldPath is a path into the configuration, kept structured so that
// problems can be sorted in document order.
type fieldPath []seg

func (p fieldPath) with(s seg) fieldPath {
	out := make(fieldPath, len(p), len(p)+1)
	copy(out, p)
	return append(out, s)
}

func (p fieldPath) field(name string) fieldPath { return p.with(seg{kind: segField, name: name}) }
func (p fieldPath) index(i int) fieldPath       { return p.with(seg{kind: segIndex, index: i}) }
func (p fieldPath) key(k string) fieldPath      { return p.with(seg{kind: segKey, name: k}) }

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (p fieldPath) String() string {
	var b strings.Builder
	for i, s := range p {
		switch s.kind {
		case segIndex:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case segKey:
			if plainKey.MatchString(s.name) {
				b.WriteString("." + s.name)
			} else {
				b.WriteString("[" + strconv.Quote(s.name) + "]")
			}
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.name)
		}
	}
	return b.String()
}

// problem is a Problem with a structured path.
type problem struct {
	path    fieldPath
	msg     string
	warning bool
}

// problems collects problems as validation or decoding goes.
type problems struct {
	list []problem
}

func (ps *problems) errorf(p fieldPath, format string, args ...any) {
	ps.list = append(ps.list, problem{path: p, msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) warnf(p fieldPath, format string, args ...any) {
	ps.list = append(ps.list, problem{path: p, msg: fmt.Sprintf(format, args...), warning: true})
}

func (ps *problems) add(p fieldPath, msg string, warning bool) {
	ps.list = append(ps.list, problem{path: p, msg: msg, warning: warning})
}

// sortProblems orders problems as their paths would appear in a config
// written in the canonical field order: by struct field order, then list index, then
// map key; a path comes before the paths under it. Unknown fields sort after
// the known fields of their struct. The sort is stable, so problems at the
// same path keep the order they were found in.
func sortProblems(list []problem) {
	slices.SortStableFunc(list, func(a, b problem) int { return comparePaths(a.path, b.path) })
}

func toProblems(list []problem) []Problem {
	if len(list) == 0 {
		return nil
	}
	out := make([]Problem, len(list))
	for i, p := range list {
		out[i] = Problem{Path: p.path.String(), Message: p.msg, Warning: p.warning}
	}
	return out
}

// position is a place in a YAML document.
type position struct{ line, col int }

// locate returns the position of path p in the document under root: of the
// key of a field or map entry, of a list item. For a path that the document
// leaves out it returns the position of the nearest enclosing one that it
// has, and the zero position when there is none.
func locate(root *yaml.Node, p fieldPath) position {
	var at position
	n := root
	for _, s := range p {
		n = deref(n)
		if n == nil {
			break
		}
		var next, mark *yaml.Node
		switch {
		case s.kind == segIndex && n.Kind == yaml.SequenceNode && s.index < len(n.Content):
			next = n.Content[s.index]
			mark = next
		case s.kind != segIndex && n.Kind == yaml.MappingNode:
			mark, next = lookupKey(n, s.name, 0)
		}
		if next == nil {
			break
		}
		at = position{mark.Line, mark.Column}
		n = next
	}
	return at
}

// deref follows aliases, a bounded number of times.
func deref(n *yaml.Node) *yaml.Node {
	for range 100 {
		if n == nil || n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return nil
}

// lookupKey finds key in mapping n, explicit keys first, then merged ones.
func lookupKey(n *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	if depth > 10 {
		return nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch kn := n.Content[i]; {
		case kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge":
			merges = append(merges, n.Content[i+1])
		case kn.Kind == yaml.ScalarNode && kn.Value == key:
			return kn, n.Content[i+1]
		}
	}
	for _, m := range merges {
		m = deref(m)
		if m == nil {
			continue
		}
		items := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			items = m.Content
		}
		for _, item := range items {
			if item = deref(item); item != nil && item.Kind == yaml.MappingNode {
				if k, v := lookupKey(item, key, depth+1); k != nil {
					return k, v
				}
			}
		}
	}
	return nil, nil
}

// sortByDocument orders problems as their paths appear in the document: by
// the position of the path, or of its nearest ancestor in the document for
// a field that the document leaves out; ties go by sortProblems' order.
func sortByDocument(list []problem, root *yaml.Node) {
	type keyed struct {
		problem
		at position
	}
	ks := make([]keyed, len(list))
	for i, p := range list {
		ks[i] = keyed{p, locate(root, p.path)}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if c := cmp.Compare(a.at.line, b.at.line); c != 0 {
			return c
		}
		if c := cmp.Compare(a.at.col, b.at.col); c != 0 {
			return c
		}
		return comparePaths(a.path, b.path)
	})
	for i := range ks {
		list[i] = ks[i].problem
	}
}

var configType = reflect.TypeFor[Config]()

func comparePaths(a, b fieldPath) int {
	t := configType
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareSeg(t, a[i], b[i]); c != 0 {
			return c
		}
		t = stepType(t, a[i])
	}
	return cmp.Compare(len(a), len(b))
}

func compareSeg(t reflect.Type, a, b seg) int {
	if a.kind != b.kind {
		return cmp.Compare(a.kind, b.kind)
	}
	switch a.kind {
	case segIndex:
		return cmp.Compare(a.index, b.index)
	case segField:
		if c := cmp.Compare(fieldRank(t, a.name), fieldRank(t, b.name)); c != 0 {
			return c
		}
	}
	return strings.Compare(a.name, b.name)
}

// fieldRank is the position of the field with yaml name name in struct type
// t, or a rank after every field when there is none.
func fieldRank(t reflect.Type, name string) int {
	if t == nil {
		return 0
	}
	if i, ok := yamlFields(t)[name]; ok {
		return i
	}
	return 1 << 30
}

// stepType is the type found by following s from t, or nil.
func stepType(t reflect.Type, s seg) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return nil
	}
	switch {
	case s.kind == segField && t.Kind() == reflect.Struct:
		i, ok := yamlFields(t)[s.name]
		if !ok {
			return nil
		}
		return t.Field(i).Type
	case s.kind == segIndex && t.Kind() == reflect.Slice:
		return t.Elem()
	case s.kind == segKey && t.Kind() == reflect.Map:
		return t.Elem()
	}
	return nil
}

var fieldCache sync.Map // reflect.Type -> map[string]int

// yamlFields maps the yaml names of struct type t to field indexes. Fields
// without a yaml name (such as SecretRef's) are not part of the file format.
func yamlFields(t reflect.Type) map[string]int {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = i
	}
	fieldCache.Store(t, m)
	return m
}
