package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// MaxSecretSize is the largest secret file that Resolve reads.
const MaxSecretSize = 64 << 10

// ErrSecretUnavailable is wrapped by SecretRef.Resolve when there is no
// secret where the reference points: an unset or empty environment
// variable, or a file that is missing or cannot be read. Other failures (an
// empty or oversized file) are errors in the secret itself.
var ErrSecretUnavailable = errors.New("secret not available")

// IsZero reports whether the reference names neither a variable nor a file.
func (s SecretRef) IsZero() bool { return s.Env == "" && s.File == "" }

// String names where the secret lives, never what it is.
func (s SecretRef) String() string {
	switch {
	case s.Env != "" && s.File != "":
		return "env " + s.Env + " and file " + s.File
	case s.Env != "":
		return "env " + s.Env
	case s.File != "":
		return "file " + s.File
	}
	return "no secret"
}

// Resolve returns the secret: the value of the environment variable (looked
// up with lookup; nil means os.LookupEnv) or the content of the file, at most
// MaxSecretSize bytes, without trailing newlines. Its errors name the
// variable or the file, never the value.
func (s SecretRef) Resolve(lookup func(string) (string, bool)) (string, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	switch {
	case s.Env != "" && s.File != "":
		return "", errors.New("secret: both an environment variable and a file are given")
	case s.Env != "":
		v, ok := lookup(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("secret: %w", unavailable("environment variable "+s.Env+" is not set"))
		}
		return v, nil
	case s.File != "":
		return readSecretFile(s.File)
	}
	return "", errors.New("secret: neither an environment variable nor a file is given")
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret: %w", unavailable("cannot read file "+path+": "+pathErr(err).Error()))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretSize+1))
	if err != nil {
		return "", fmt.Errorf("secret: %w", unavailable("cannot read file "+path+": "+pathErr(err).Error()))
	}
	if len(b) > MaxSecretSize {
		return "", fmt.Errorf("secret: file %s is larger than %d bytes", path, MaxSecretSize)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("secret: file %s is empty", path)
	}
	return v, nil
}

// pathErr drops the path from an *fs.PathError, which the caller already
// names.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unavailable is an error that is ErrSecretUnavailable with its own text.
type unavailable string

func (e unavailable) Error() string { return string(e) }

func (e unavailable) Is(target error) bool { return target == ErrSecretUnavailable }
