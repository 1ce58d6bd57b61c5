package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MinSecretBytes is the shortest AUTH_JWT_SECRET accepted (HS256 wants at least 256 bits).
const MinSecretBytes = 32

// Config selects how tokens are checked. Exactly one of JWTSecret and JWKSURL is set, unless
// Disabled.
type Config struct {
	JWTSecret string // AUTH_JWT_SECRET: HS256 shared secret (environment only)
	JWKSURL   string // AUTH_JWKS_URL: the OIDC provider's JWK Set (RS256, ES256)
	Issuer    string // AUTH_ISSUER: the required "iss", when set
	Audience  string // AUTH_AUDIENCE: a required "aud" entry, when set
	Disabled  bool   // AUTH_DISABLED=1: no authentication at all (local experiments only)
}

// FromEnv reads the AUTH_* variables. The Config it returns is not yet validated.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		JWTSecret: getenv("AUTH_JWT_SECRET"),
		JWKSURL:   strings.TrimSpace(getenv("AUTH_JWKS_URL")),
		Issuer:    strings.TrimSpace(getenv("AUTH_ISSUER")),
		Audience:  strings.TrimSpace(getenv("AUTH_AUDIENCE")),
	}
	switch strings.ToLower(getenv("AUTH_DISABLED")) {
	case "", "0", "false":
	case "1", "true":
		c.Disabled = true
	default:
		return c, fmt.Errorf("AUTH_DISABLED: %q is neither 0 nor 1", getenv("AUTH_DISABLED"))
	}
	return c, nil
}

// Validate reports every problem at once. A service must refuse to start on an error.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.Disabled && (c.JWTSecret != "" || c.JWKSURL != ""):
		add("AUTH_DISABLED=1 together with AUTH_JWT_SECRET or AUTH_JWKS_URL: choose one")
	case c.Disabled:
	case c.JWTSecret == "" && c.JWKSURL == "":
		add("no authentication key: set AUTH_JWT_SECRET (HS256, at least %d bytes) or AUTH_JWKS_URL "+
			"(an OIDC provider's JWK Set), or AUTH_DISABLED=1 to run without authentication (local experiments only)", MinSecretBytes)
	case c.JWTSecret != "" && c.JWKSURL != "":
		add("both AUTH_JWT_SECRET and AUTH_JWKS_URL are set: set exactly one")
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < MinSecretBytes {
		add("AUTH_JWT_SECRET is %d bytes; at least %d are required", len(c.JWTSecret), MinSecretBytes)
	}
	// With an OIDC provider every client of the realm gets tokens signed by the same keys: without
	// a required issuer and audience any of them would be accepted (security review).
	if c.JWKSURL != "" && (c.Issuer == "" || c.Audience == "") {
		add("AUTH_JWKS_URL needs AUTH_ISSUER and AUTH_AUDIENCE: without them a token the provider issued for any other client is accepted")
	}
	// Tokens minted from the shared secret (order_srv's service token, the demo's, loadgen's)
	// carry neither claim, so requiring them would refuse the shop's own calls.
	if c.JWTSecret != "" && (c.Issuer != "" || c.Audience != "") {
		add("AUTH_ISSUER and AUTH_AUDIENCE apply to AUTH_JWKS_URL only: tokens minted from AUTH_JWT_SECRET carry neither")
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("AUTH_JWKS_URL: %q is not an http(s) URL", c.JWKSURL)
		}
	}
	return errors.Join(errs...)
}

// Warning is the line a service logs at start and shows on /readyz, or "" when authentication
// is on.
func (c Config) Warning() string {
	if c.Disabled {
		return "authentication is disabled (AUTH_DISABLED=1): anyone who can reach this port can do anything"
	}
	return ""
}
