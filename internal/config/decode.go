package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Bounds of the decoder itself. A YAML alias can stand for a whole subtree,
// so a small file can expand into a huge one. The decoder visits at most
// aliasExpansion times as many nodes as the document has, and at least
// minDecodeNodes.
const (
	minDecodeNodes    = 1_000_000
	aliasExpansion    = 4
	maxDecodeProblems = 1000
	maxEcho           = 80 // longest value quoted back in a message
)

var durationType = reflect.TypeFor[time.Duration]()

// decoder decodes a yaml.v3 node tree onto Go values strictly: every key
// must name a field (by its yaml tag), every value must have the field's
// type, and every problem is reported with its path. The value being decoded
// into already holds its defaults; the document overrides them field by
// field. A null value leaves the default in place.
type decoder struct {
	probs   problems
	nodes   int // visited so far
	budget  int // the most nodes to visit; 0 means minDecodeNodes
	aborted bool
}

// newDecoder returns a decoder whose node budget fits the document root.
func newDecoder(root *yaml.Node) *decoder {
	return &decoder{budget: max(minDecodeNodes, aliasExpansion*countNodes(root))}
}

// countNodes counts the nodes of a document without following aliases.
func countNodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, child := range n.Content {
		c += countNodes(child)
	}
	return c
}

// parseDocument parses data as exactly one YAML document and returns its
// root node, or a problem for the file as a whole.
func parseDocument(data []byte) (*yaml.Node, *problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &problem{msg: "the config file is empty"}
		}
		return nil, &problem{msg: err.Error()}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, &problem{msg: err.Error()}
	default:
		return nil, &problem{msg: fmt.Sprintf("line %d: more than one YAML document in the config file", extra.Line)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &problem{msg: "the config file is empty"}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, &problem{msg: "the config file is empty"}
	}
	return root, nil
}

// decode stores node n into v, which must be settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, p fieldPath) {
	if d.aborted {
		return
	}
	n = d.resolve(n, p)
	if n == nil {
		return
	}
	if !d.count() {
		return
	}
	if isNull(n) {
		return // unset: keep the default
	}
	if v.Type() == durationType {
		d.decodeDuration(n, v, p)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(newElem(v.Type().Elem()).Addr())
		}
		d.decode(n, v.Elem(), p)
	case reflect.Struct:
		d.decodeStruct(n, v, p)
	case reflect.Slice:
		d.decodeSlice(n, v, p)
	case reflect.Map:
		d.decodeMap(n, v, p)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || !stringTags[n.ShortTag()] {
			d.typeError(p, "a string", n)
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.typeError(p, "true or false", n)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.typeError(p, "an integer", n)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			d.typeError(p, "a number", n)
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.probs.errorf(p, "must be a finite number, got %s", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		// Every field type of Config is handled above; a new one must be too.
		d.probs.errorf(p, "cannot decode into %s", v.Type())
	}
}

// count charges one node to the budget and reports whether decoding may go on.
func (d *decoder) count() bool {
	if d.aborted {
		return false
	}
	d.nodes++
	if d.budget == 0 {
		d.budget = minDecodeNodes
	}
	if d.nodes > d.budget {
		d.abort(fmt.Sprintf("the document has more than %d nodes after expanding aliases", d.budget))
		return false
	}
	return true
}

// stringTags are the scalar tags whose text a string field takes as it is,
// so that `zone_id: 12345` is the string "12345".
var stringTags = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!timestamp": true}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// resolve follows aliases; it returns nil when it could not.
func (d *decoder) resolve(n *yaml.Node, p fieldPath) *yaml.Node {
	for range 100 {
		if n == nil {
			d.probs.errorf(p, "missing value")
			return nil
		}
		if n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	d.probs.errorf(p, "aliases nested too deeply")
	return nil
}

func (d *decoder) abort(msg string) {
	d.probs.list = append(d.probs.list, problem{msg: msg})
	d.aborted = true
}

func (d *decoder) errorf(p fieldPath, format string, args ...any) {
	if len(d.probs.list) >= maxDecodeProblems {
		d.abort(fmt.Sprintf("more than %d problems; stopped decoding", maxDecodeProblems))
		return
	}
	d.probs.errorf(p, format, args...)
}

// typeError reports that n is not what the field at p needs.
func (d *decoder) typeError(p fieldPath, want string, n *yaml.Node) {
	d.errorf(p, "must be %s, got %s", want, describe(n))
}

// describe renders a node for a "got ..." message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return strconv.Quote(truncate(n.Value))
		}
		return truncate(n.Value)
	}
	return "an unsupported value"
}

func truncate(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	return s[:maxEcho] + "..."
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, p fieldPath) {
	const want = "a duration like 1s or 250ms"
	if n.Kind != yaml.ScalarNode {
		d.typeError(p, want, n)
		return
	}
	switch tag := n.ShortTag(); {
	case tag == "!!int" && n.Value == "0":
		v.SetInt(0)
		return
	case tag != "!!str":
		d.typeError(p, want, n)
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.typeError(p, want, n)
		return
	}
	v.SetInt(int64(dur))
}

// pair is one key and value of a mapping.
type pair struct {
	key, value *yaml.Node
}

// pairs returns the entries of mapping n with YAML merge keys (`<<: *base`)
// applied: merged entries come first and explicit entries win over them.
// Duplicate explicit keys are reported.
func (d *decoder) pairs(n *yaml.Node, p fieldPath, kind segKind) []pair {
	var explicit, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.count() {
			return nil
		}
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(p, "line %d: a mapping key must be a plain string", k.Line)
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(val, p, kind, 0)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(p.with(seg{kind: kind, name: k.Value}), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		explicit = append(explicit, pair{k, val})
	}
	if len(merged) == 0 {
		return explicit
	}
	out := make([]pair, 0, len(merged)+len(explicit))
	for _, m := range merged {
		if _, ok := seen[m.key.Value]; !ok {
			seen[m.key.Value] = m.key.Line
			out = append(out, m)
		}
	}
	return append(out, explicit...)
}

// mergePairs flattens the value of a merge key. In a list of mappings the
// earlier ones win, as the YAML merge key spec says.
func (d *decoder) mergePairs(n *yaml.Node, p fieldPath, kind segKind, depth int) []pair {
	n = d.resolve(n, p)
	if n == nil {
		return nil
	}
	if depth > 10 {
		d.errorf(p, "merge keys nested too deeply")
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.pairs(n, p, kind)
	case yaml.SequenceNode:
		var out []pair
		have := map[string]bool{}
		for _, item := range n.Content {
			for _, m := range d.mergePairs(item, p, kind, depth+1) {
				if !have[m.key.Value] {
					have[m.key.Value] = true
					out = append(out, m)
				}
			}
		}
		return out
	}
	d.errorf(p, "a merge key (<<) needs a mapping or a list of mappings, got %s", describe(n))
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, p fieldPath) {
	if n.Kind != yaml.MappingNode {
		d.typeError(p, "a mapping", n)
		return
	}
	fields := yamlFields(v.Type())
	for _, kv := range d.pairs(n, p, segField) {
		if d.aborted {
			return
		}
		fp := p.field(kv.key.Value)
		i, ok := fields[kv.key.Value]
		if !ok {
			d.errorf(fp, "unknown field")
			continue
		}
		d.decode(kv.value, v.Field(i), fp)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, p fieldPath) {
	if n.Kind != yaml.MappingNode {
		d.typeError(p, "a mapping", n)
		return
	}
	ps := d.pairs(n, p, segKey)
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(ps)))
	}
	for _, kv := range ps {
		if d.aborted {
			return
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.value, elem, p.key(kv.key.Value))
		v.SetMapIndex(reflect.ValueOf(kv.key.Value), elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, p fieldPath) {
	if n.Kind != yaml.SequenceNode {
		d.typeError(p, "a list", n)
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		if d.aborted {
			return
		}
		elem := newElem(v.Type().Elem())
		d.decode(item, elem, p.index(i))
		out = reflect.Append(out, elem)
	}
	v.Set(out)
}

// newElem returns a settable new value of type t holding t's defaults, for
// list elements and pointers that the document brings into being.
func newElem(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch t {
	case reflect.TypeFor[Service]():
		v.Set(reflect.ValueOf(DefaultService()))
	case reflect.TypeFor[Target]():
		v.Set(reflect.ValueOf(DefaultTarget()))
	case reflect.TypeFor[Provider]():
		v.Set(reflect.ValueOf(DefaultProvider()))
	case reflect.TypeFor[Hook]():
		v.Set(reflect.ValueOf(DefaultHook()))
	case reflect.TypeFor[Warmup]():
		v.Set(reflect.ValueOf(DefaultWarmup()))
	}
	return v
}

// Unmarshal decodes one YAML document onto out (a non-nil pointer) with the
// strictness of the config decoder: unknown keys, wrong types, bad durations
// and duplicate keys are errors with their paths. Fields keep the values out
// already holds unless the document sets them. It returns a
// *ValidationError, or nil. Other packages use it for their own YAML files
// (for example simulation scenarios).
func Unmarshal(data []byte, out any) error {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return errors.New("config: unmarshal: need a non-nil pointer")
	}
	if len(data) > MaxFileSize {
		return &ValidationError{Problems: []Problem{{Message: tooLargeMessage(int64(len(data)))}}}
	}
	root, perr := parseDocument(data)
	if perr != nil {
		return &ValidationError{Problems: toProblems([]problem{*perr})}
	}
	d := newDecoder(root)
	d.decode(root, v.Elem(), nil)
	if len(d.probs.list) == 0 {
		return nil
	}
	sortByDocument(d.probs.list, root)
	return &ValidationError{Problems: toProblems(d.probs.list)}
}

func tooLargeMessage(n int64) string {
	return fmt.Sprintf("the config file is too large: %d bytes > %d", n, MaxFileSize)
}
