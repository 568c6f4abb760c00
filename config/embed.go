// Package config ships the example configs and scenarios. The lab config is
// embedded in the binary, so `failover lab` runs on its built-in defaults
// anywhere; config/lab.yaml is the same file.
package config

import _ "embed"

// Lab is config/lab.yaml, the lab of CONTRACT §6.
//
//go:embed lab.yaml
var Lab []byte
