package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, and its
// answer must be consistent: a config and no errors, or no config and a
// *ValidationError holding exactly the error-level problems.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("../../config/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	more, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range append(seeds, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("services: [&a {targets: [*a]}]"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("services: [{<<: [*x]}]"))
	f.Add([]byte("? [a]\n: b\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{Env: testEnv}
		cfg, ps, err := Parse(data, opts)
		if err == nil {
			if cfg == nil {
				t.Fatal("no error and no config")
			}
			if HasErrors(ps) {
				t.Fatalf("no error, but error-level problems: %v", ps)
			}
			// Validating the result again finds the same warnings.
			again := cfg.Validate(opts)
			sortStrings := func(ps []Problem) []string {
				out := lines(ps)
				slices.Sort(out)
				return out
			}
			if !slices.Equal(sortStrings(ps), sortStrings(again)) {
				t.Fatalf("Parse problems %v, Validate problems %v", ps, again)
			}
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v is a %T, not a *ValidationError", err, err)
		}
		if cfg != nil {
			t.Fatal("a config along with an error")
		}
		if len(ve.Problems) == 0 || !slices.Equal(ve.Problems, Errors(ps)) {
			t.Fatalf("ValidationError problems %v, error-level problems %v", ve.Problems, Errors(ps))
		}
	})
}
