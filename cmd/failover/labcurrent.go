package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/failoverhq/failover/internal/client"
)

// labCurrent says where the running lab is: its data dir (with
// operator.token) and its API. `failover lab` writes it next to the default
// data dir while it runs, so that `failover lab fault` finds a lab started
// with --data or --http by itself.
type labCurrent struct {
	DataDir string `json:"data_dir"`
	Server  string `json:"server"`
	PID     int    `json:"pid"`
}

// labCurrentFile is where labCurrent lives.
func labCurrentFile() (string, error) {
	dir, err := client.DefaultLabDataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(dir), "lab.current.json"), nil
}

// writeLabCurrent records the running lab and returns a function that
// removes the record, if it is still this process's.
func writeLabCurrent(cur labCurrent) (func(), error) {
	path, err := labCurrentFile()
	if err != nil {
		return func() {}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return func() {}, err
	}
	cur.PID = os.Getpid()
	b, err := json.Marshal(cur)
	if err != nil {
		return func() {}, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return func() {}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return func() {}, err
	}
	return func() {
		if got, ok := readLabCurrent(); ok && got.PID == cur.PID {
			_ = os.Remove(path)
		}
	}, nil
}

// readLabCurrent returns the running lab's record, if there is one.
func readLabCurrent() (labCurrent, bool) {
	path, err := labCurrentFile()
	if err != nil {
		return labCurrent{}, false
	}
	b, err := readBounded(path, 64<<10)
	if err != nil {
		return labCurrent{}, false
	}
	var cur labCurrent
	if json.Unmarshal(b, &cur) != nil || cur.DataDir == "" {
		return labCurrent{}, false
	}
	return cur, true
}

// labTokenIn reads operator.token in a lab data dir.
func labTokenIn(dir string) (string, error) {
	path := filepath.Join(dir, client.LabTokenFile)
	tok, err := client.ReadTokenFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no operator token in %s (is the lab running there?): give --data, --token-file or set %s", path, client.TokenEnv)
	}
	return tok, err
}
