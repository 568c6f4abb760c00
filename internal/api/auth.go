package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/failoverhq/failover/internal/config"
)

// Roles a token can have.
const (
	RoleViewer   = "viewer"   // GET endpoints
	RoleOperator = "operator" // GET endpoints, drill, pin, release, lab faults
	RoleAgent    = "agent"    // GET /api/v1/plan and POST /api/v1/results only
)

// Token is a bearer token with its secret resolved.
type Token struct {
	Name   string
	Role   string
	Secret string
}

// String names the token, never its secret.
func (t Token) String() string { return t.Name + " (" + t.Role + ")" }

// TokensFromConfig resolves the secrets of the configured tokens; env looks
// up environment variables (nil: the process environment). Its errors name
// the token and where its secret lives, never the secret.
func TokensFromConfig(a config.Auth, env func(string) (string, bool)) ([]Token, error) {
	tokens := make([]Token, 0, len(a.Tokens))
	var errs []error
	for i, ct := range a.Tokens {
		secret, err := ct.Secret().Resolve(env)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.tokens[%d] (%s): %w", i, ct.Name, err))
			continue
		}
		tokens = append(tokens, Token{Name: ct.Name, Role: ct.Role, Secret: secret})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return tokens, nil
}

// access is what a route requires of its caller.
type access int

const (
	accessPublic  access = iota // anyone: /healthz, /readyz, the dashboard's files
	accessRead                  // viewer or operator; anyone with open_read
	accessOperate               // operator
	accessAgent                 // agent
)

// allows reports whether role may use a route of access a.
func (a access) allows(role string) bool {
	switch a {
	case accessPublic:
		return true
	case accessRead:
		return role == RoleViewer || role == RoleOperator
	case accessOperate:
		return role == RoleOperator
	case accessAgent:
		return role == RoleAgent
	}
	return false
}

// keyring holds the tokens by the SHA-256 of their secrets, so that a
// comparison takes the same time whatever the lengths of the secret and of
// what was presented.
type keyring struct {
	hashes [][sha256.Size]byte
	actors []Actor
}

func newKeyring(tokens []Token) (*keyring, error) {
	k := &keyring{}
	names := map[string]bool{}
	seen := map[[sha256.Size]byte]string{}
	var errs []error
	for i, t := range tokens {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("tokens[%d]: a token needs a name", i))
			continue
		case names[t.Name]:
			errs = append(errs, fmt.Errorf("tokens[%d] (%s): duplicate name", i, t.Name))
			continue
		case t.Role != RoleViewer && t.Role != RoleOperator && t.Role != RoleAgent:
			errs = append(errs, fmt.Errorf("tokens[%d] (%s): role must be viewer, operator or agent, got %q", i, t.Name, t.Role))
			continue
		case strings.TrimSpace(t.Secret) == "":
			errs = append(errs, fmt.Errorf("tokens[%d] (%s): empty secret", i, t.Name))
			continue
		}
		names[t.Name] = true
		// The presented token is trimmed too (see bearer).
		h := sha256.Sum256([]byte(strings.TrimSpace(t.Secret)))
		if other, dup := seen[h]; dup {
			errs = append(errs, fmt.Errorf("tokens[%d] (%s): same secret as token %s", i, t.Name, other))
			continue
		}
		seen[h] = t.Name
		k.hashes = append(k.hashes, h)
		k.actors = append(k.actors, Actor{Name: t.Name, Role: t.Role})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return k, nil
}

// lookup returns the actor whose secret is presented. It compares the hash
// of presented with every token's hash, without stopping at a match, so
// that neither which token matched nor how long it is shows in the timing.
func (k *keyring) lookup(presented string) (Actor, bool) {
	h := sha256.Sum256([]byte(presented))
	match := -1
	for i := range k.hashes {
		eq := subtle.ConstantTimeCompare(h[:], k.hashes[i][:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return Actor{}, false
	}
	return k.actors[match], true
}

// bearer returns the token of an "Authorization: Bearer <token>" header;
// present is false when there is no Authorization header at all.
func bearer(r *http.Request) (token string, present bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(rest), true
}

// authorize decides whether r may use a route of access a. It returns the
// caller (the zero Actor for an anonymous reader under open_read) or an
// *apiError with 401 or 403.
//
// A request that presents a token is judged by that token, even when
// open_read would let it in without one: a wrong token is a mistake worth
// reporting. Under open_read an agent token may read too, as anyone may.
func (s *Server) authorize(r *http.Request, a access) (Actor, error) {
	if a == accessPublic {
		return Actor{}, nil
	}
	tok, present := bearer(r)
	if !present {
		if a == accessRead && s.openRead {
			return Actor{}, nil
		}
		return Actor{}, errUnauthorized("a bearer token is required")
	}
	actor, ok := s.keys.lookup(tok)
	if tok == "" || !ok {
		return Actor{}, errUnauthorized("unknown token")
	}
	if a.allows(actor.Role) || (a == accessRead && s.openRead) {
		return actor, nil
	}
	return Actor{}, &apiError{status: http.StatusForbidden,
		msg: fmt.Sprintf("token %s has role %s, which may not do this", actor.Name, actor.Role)}
}

func errUnauthorized(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, msg: msg}
}
