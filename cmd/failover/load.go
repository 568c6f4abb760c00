package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/failoverhq/failover/internal/config"
)

// loadConfig loads a config for a command other than validate. Problems are
// printed one per line on w (warnings prefixed "warning: "), and an invalid
// config comes back as a one-line error.
func loadConfig(w io.Writer, path string, opts config.Options) (*config.Config, error) {
	if path == "" {
		return nil, exitWith(exitUsage, errors.New("--config is required"))
	}
	cfg, problems, err := config.Load(path, opts)
	for _, p := range problems {
		if p.Warning {
			fmt.Fprintf(w, "warning: %s\n", p)
		}
	}
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		n := 0
		for _, p := range verr.Problems {
			if !p.Warning {
				fmt.Fprintln(w, p.String())
				n++
			}
		}
		return nil, fmt.Errorf("%s: invalid config (%d %s)", path, n, plural(n, "problem", "problems"))
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}
