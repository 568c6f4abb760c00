package dnsswitch

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckRouting(t *testing.T) {
	svc := Service{Name: "www", Answers: []Answer{{Target: "primary"}, {Target: "backup"}, {Target: "origin"}}}
	tests := []struct {
		name    string
		r       Routing
		wantErr string // "" for valid
	}{
		{"all on primary", Routing{"primary": 100}, ""},
		{"split with zero", Routing{"primary": 75, "backup": 25, "origin": 0}, ""},
		{"empty", Routing{}, "weights sum to 0, want 100"},
		{"sum below", Routing{"primary": 50, "backup": 20}, "weights sum to 70, want 100"},
		{"sum above", Routing{"primary": 90, "backup": 20}, "weights sum to 110, want 100"},
		{"negative", Routing{"primary": 120, "backup": -20}, "weight of backup is -20, want 0..100"},
		{"above 100", Routing{"primary": 101, "backup": -1}, "weight of backup is -1, want 0..100"},
		{"unknown", Routing{"primary": 50, "nope": 50}, `service www has no target "nope"`},
		{"unknown with zero", Routing{"primary": 100, "nope": 0}, `service www has no target "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRouting(svc, tt.r)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckRouting(%v) = %v, want nil", tt.r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckRouting(%v) = %v, want an ErrInvalid containing %q", tt.r, err, tt.wantErr)
			}
		})
	}
}
