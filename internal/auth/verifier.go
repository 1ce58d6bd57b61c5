package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// The scopes.
const (
	ScopeAdmin   = "admin"   // goods writes, any order, any timeline
	ScopeService = "service" // the internal calls between the services
)

// leeway tolerates clock skew between the token's issuer and this process.
const leeway = 30 * time.Second

// ErrUnauthenticated wraps every reason a token is refused.
var ErrUnauthenticated = errors.New("auth: unauthenticated")

// Principal is who a request acts for.
type Principal struct {
	Subject string   // the token's "sub"
	UserID  int64    // Subject as a user id; 0 when it is not a positive decimal (service accounts)
	Scopes  []string // the token's scopes
	// Disabled marks the principal of AUTH_DISABLED=1: every scope, any user.
	Disabled bool
}

// Has reports whether p holds scope.
func (p Principal) Has(scope string) bool { return p.Disabled || slices.Contains(p.Scopes, scope) }

// MayActFor reports whether p may see and change what belongs to user uid: p is that user, or
// an admin.
func (p Principal) MayActFor(uid int64) bool {
	return p.Disabled || p.Has(ScopeAdmin) || (p.UserID > 0 && p.UserID == uid)
}

// Claims are the claims shopsaga reads from a token.
type Claims struct {
	Scope string `json:"scope,omitempty"`
	jwt.RegisteredClaims
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg     Config
	keyfunc jwt.Keyfunc
	parser  *jwt.Parser
}

// NewVerifier returns the Verifier of cfg (validated here). For AUTH_JWKS_URL it fetches the key
// set, refreshing it in the background until ctx ends.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg}
	if cfg.Disabled {
		return v, nil
	}
	opts := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithLeeway(leeway), jwt.WithIssuedAt()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	switch {
	case cfg.JWTSecret != "":
		secret := []byte(cfg.JWTSecret)
		v.keyfunc = func(*jwt.Token) (any, error) { return secret, nil }
		opts = append(opts, jwt.WithValidMethods([]string{"HS256"}))
	default:
		kf, err := keyfunc.NewDefaultCtx(ctx, []string{cfg.JWKSURL})
		if err != nil {
			return nil, fmt.Errorf("auth: JWK Set %s: %w", cfg.JWKSURL, err)
		}
		v.keyfunc = kf.Keyfunc
		// Public-key algorithms only: an HS256 token "signed" with the public key is refused.
		opts = append(opts, jwt.WithValidMethods([]string{"RS256", "ES256"}))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Disabled reports whether authentication is off (AUTH_DISABLED=1).
func (v *Verifier) Disabled() bool { return v.cfg.Disabled }

// Verify checks a raw token (without "Bearer ") and returns its Principal. Every error wraps
// ErrUnauthenticated.
func (v *Verifier) Verify(raw string) (Principal, error) {
	if v.cfg.Disabled {
		return Principal{Subject: "anonymous", Disabled: true}, nil
	}
	var c Claims
	if _, err := v.parser.ParseWithClaims(raw, &c, v.keyfunc); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	p := Principal{Subject: c.Subject, Scopes: strings.Fields(c.Scope)}
	if c.Subject == "" {
		return Principal{}, fmt.Errorf("%w: the token has no sub", ErrUnauthenticated)
	}
	// Only the canonical decimal form is a user id: "+5" or "007" would let a provider whose users
	// influence sub (a username mapper) act as user 5 or 7 (security review).
	if id, err := strconv.ParseInt(c.Subject, 10, 64); err == nil && id > 0 && strconv.FormatInt(id, 10) == c.Subject {
		p.UserID = id
	} else if len(p.Scopes) == 0 {
		return Principal{}, fmt.Errorf("%w: sub %q is not a user id and the token has no scope", ErrUnauthenticated, c.Subject)
	}
	return p, nil
}
