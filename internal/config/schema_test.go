package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaPath = "../../config/schema.json"

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("compile schema.json: %v", err)
	}
	return sch
}

// yamlToJSONValue turns YAML into the value the JSON Schema validator
// expects, through JSON, so numbers and maps have JSON's types.
func yamlToJSONValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSchemaAcceptsExamples(t *testing.T) {
	sch := compileSchema(t)
	for _, file := range exampleFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(yamlToJSONValue(t, data)); err != nil {
				t.Errorf("schema rejects %s:\n%v", file, err)
			}
		})
	}
}

func TestSchemaRejects(t *testing.T) {
	sch := compileSchema(t)
	lab, err := os.ReadFile("../../config/lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", string(lab) + "bogus: 1\n", "bogus"},
		{"unknown nested key", strings.Replace(string(lab), "      fall: 3\n", "      fal: 3\n", 1), "fal"},
		{"bad duration", strings.Replace(string(lab), "interval: 1s", "interval: 1 second", 1), "/probes/interval"},
		{"field of another provider type", strings.Replace(string(lab), "zone: lab.test.,", "zone: lab.test., hosted_zone_id: Z1,", 1), "/dns/providers/0"},
		{"inline secret", strings.Replace(string(lab), "secret_env: FAILOVER_LAB_HOOK_SECRET", "secret: hunter2", 1), "secret"},
		{"quorum above 1", strings.Replace(string(lab), "quorum: 0.5", "quorum: 1.5", 1), "/services/0/policy/quorum"},
		{"one target", "services: [{name: www, record: www.lab.test., provider: edge, targets: [{name: a, role: primary, answer: {type: A, values: [127.0.0.1]}, probe: {url: \"http://127.0.0.1/\"}}]}]\n", "/services/0/targets"},
		{"two CNAME values", strings.Replace(string(lab), "answer: {type: A, values: [127.0.10.1]}", "answer: {type: CNAME, values: [a.example., b.example.]}", 1), "/services/0/targets/0/answer/values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.yaml == string(lab) {
				t.Fatal("the edit did not apply")
			}
			err := sch.Validate(yamlToJSONValue(t, []byte(tt.yaml)))
			if err == nil {
				t.Fatal("schema accepts it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not mention %q:\n%v", tt.want, err)
			}
		})
	}
	// The invalid files whose problems are all about shape must fail the
	// schema too.
	for _, name := range []string{"invalid-unknown-field", "invalid-wrong-types", "invalid-durations"} {
		data, err := os.ReadFile("testdata/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(yamlToJSONValue(t, data)); err == nil {
			t.Errorf("schema accepts testdata/%s.yaml", name)
		}
	}
}

// TestSchemaMatchesStructs walks the Go types and the schema side by side:
// every struct must be an object schema with additionalProperties false and
// exactly the struct's yaml names as properties, and every leaf must have
// the matching JSON type. So the two cannot drift apart.
func TestSchemaMatchesStructs(t *testing.T) {
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		for range 10 {
			r, ok := s["$ref"].(string)
			if !ok {
				return s
			}
			name, ok := strings.CutPrefix(r, "#/$defs/")
			if !ok {
				t.Fatalf("unexpected $ref %q", r)
			}
			s, _ = defs[name].(map[string]any)
			if s == nil {
				t.Fatalf("$ref %q not found", r)
			}
		}
		return s
	}
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, s map[string]any, path string)
	walk = func(typ reflect.Type, s map[string]any, path string) {
		s = resolve(s)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ == durationType {
			if !reflect.DeepEqual(s, defs["duration"]) {
				t.Errorf("%s: a duration must use #/$defs/duration", path)
			}
			return
		}
		switch typ.Kind() {
		case reflect.Struct:
			seen[typ] = true
			if s["type"] != "object" || s["additionalProperties"] != false {
				t.Errorf("%s: want an object schema with additionalProperties false", path)
			}
			props, _ := s["properties"].(map[string]any)
			fields := yamlFields(typ)
			var want, got []string
			for name := range fields {
				want = append(want, name)
			}
			for name := range props {
				got = append(got, name)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Errorf("%s (%s): schema properties %v, struct fields %v", path, typ.Name(), got, want)
			}
			for name, i := range fields {
				if p, ok := props[name].(map[string]any); ok {
					walk(typ.Field(i).Type, p, path+"."+name)
				}
			}
		case reflect.Slice:
			if s["type"] != "array" {
				t.Errorf("%s: want an array schema", path)
			}
			items, ok := s["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: no items schema", path)
				return
			}
			walk(typ.Elem(), items, path+"[]")
		case reflect.Map:
			ap, ok := s["additionalProperties"].(map[string]any)
			if s["type"] != "object" || !ok {
				t.Errorf("%s: want an object schema with an additionalProperties schema", path)
				return
			}
			walk(typ.Elem(), ap, path+"{}")
		default:
			want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Float64: "number"}[typ.Kind()]
			got, _ := s["type"].(string)
			if enum, ok := s["enum"].([]any); ok && got == "" {
				got = "string"
				for _, e := range enum {
					if _, ok := e.(string); !ok {
						got = "mixed"
					}
				}
			}
			if want == "" || got != want {
				t.Errorf("%s: schema type %q for Go %s", path, got, typ)
			}
		}
	}
	walk(configType, root, "config")
	// Every struct type of the package that is part of the file format was
	// reached.
	for _, typ := range []reflect.Type{
		reflect.TypeFor[Controller](), reflect.TypeFor[TLS](), reflect.TypeFor[Retention](), reflect.TypeFor[Election](),
		reflect.TypeFor[Auth](), reflect.TypeFor[Token](), reflect.TypeFor[Probes](), reflect.TypeFor[DNS](),
		reflect.TypeFor[Provider](), reflect.TypeFor[TSIG](), reflect.TypeFor[Hook](), reflect.TypeFor[Service](),
		reflect.TypeFor[Target](), reflect.TypeFor[Answer](), reflect.TypeFor[Probe](), reflect.TypeFor[Expect](),
		reflect.TypeFor[Warmup](), reflect.TypeFor[Policy](), reflect.TypeFor[Failback](), reflect.TypeFor[On](),
	} {
		if !seen[typ] {
			t.Errorf("%s is not in the schema walk", typ.Name())
		}
	}
}
