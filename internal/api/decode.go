package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Body size limits.
const (
	// DefaultMaxResultsBytes bounds a POST /api/v1/results body.
	DefaultMaxResultsBytes = 1 << 20
	// MaxBodyBytes bounds every other request body.
	MaxBodyBytes = 64 << 10
)

// apiError is an error with the HTTP status and the message the client
// gets as {"error": msg}.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// decodeBody decodes the JSON body of r into dst, strictly: the content type
// must be application/json, or absent, or curl's default
// application/x-www-form-urlencoded (the body must still be JSON; auth is a
// bearer header, never a cookie, so a cross-site form cannot post here), the
// body at most limit bytes and exactly one
// JSON value, with no field that dst does not have. With allowEmpty an
// empty body leaves dst as it is. Every error is an *apiError with a 4xx
// status and a message that tells the client what to fix.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, allowEmpty bool, dst any) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); ct != "" && (err != nil || (mt != "application/json" && mt != "application/x-www-form-urlencoded")) {
		return &apiError{status: http.StatusUnsupportedMediaType,
			msg: fmt.Sprintf("content type must be application/json, got %q", truncate(ct, 100))}
	}
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) && allowEmpty {
			return nil
		}
		return decodeError(err, limit)
	}
	// Exactly one value: what follows may only be white space.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return badRequest("body must hold a single JSON value")
	}
	return nil
}

func tooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge,
		msg: fmt.Sprintf("body is larger than %d bytes", limit)}
}

// decodeError turns an encoding/json error into a 4xx *apiError.
func decodeError(err error, limit int64) *apiError {
	var (
		mbe  *http.MaxBytesError
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		inv  *json.InvalidUnmarshalError
		msg  = err.Error()
		unkn = strings.HasPrefix(msg, "json: unknown field ")
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.Is(err, io.EOF):
		return badRequest("body is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends early")
	case errors.As(err, &syn):
		return badRequest("malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("body must be a JSON object, got %s", typ.Value)
		}
		return badRequest("%s: must be %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case unkn:
		return badRequest("unknown field %s", strings.TrimPrefix(msg, "json: unknown field "))
	case errors.As(err, &inv):
		// A bug of ours, not the client's; it still must not be a 5xx
		// without a log, so report it plainly.
		return &apiError{status: http.StatusInternalServerError, msg: "internal error"}
	}
	return badRequest("malformed JSON: %s", strings.TrimPrefix(msg, "json: "))
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return k
}

// truncate shortens s to at most n bytes for an error message, on a rune
// boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
