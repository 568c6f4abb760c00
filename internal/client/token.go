package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TokenEnv is the environment variable that holds a token itself (as
// opposed to FAILOVER_TOKEN_FILE, the flag --token-file's variable).
const TokenEnv = "FAILOVER_TOKEN"

// maxTokenFile bounds a token file.
const maxTokenFile = 64 << 10

// ReadTokenFile reads a token from path, trimmed of surrounding whitespace.
// Errors name the file, never its content.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	if len(data) > maxTokenFile {
		return "", fmt.Errorf("token file %s: larger than %d bytes", path, maxTokenFile)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	if strings.ContainsAny(tok, " \t\r\n") || hasControl(tok) {
		return "", fmt.Errorf("token file %s: the token contains whitespace or control characters", path)
	}
	return tok, nil
}

// ResolveToken returns the token a command uses: the content of file when
// it is given, else the value of FAILOVER_TOKEN (looked up with getenv;
// nil means os.Getenv), else "".
func ResolveToken(file string, getenv func(string) string) (string, error) {
	if file != "" {
		return ReadTokenFile(file)
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	tok := strings.TrimSpace(getenv(TokenEnv))
	if strings.ContainsAny(tok, " \t\r\n") || hasControl(tok) {
		return "", errors.New(TokenEnv + ": the token contains whitespace or control characters")
	}
	return tok, nil
}

// LabTokenFile is the name of the file in the lab's data directory that
// holds the lab's operator token.
const LabTokenFile = "operator.token"

// DefaultLabDataDir is the lab's data directory when --data is not given:
// $XDG_STATE_HOME/failover/lab, or ~/.local/state/failover/lab when
// XDG_STATE_HOME is unset or not absolute (as the XDG spec requires). Both
// `failover lab` and `failover lab fault` use it.
func DefaultLabDataDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "failover", "lab"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("lab data directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "failover", "lab"), nil
}
