package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
)

// ServiceTokenTTL is the lifetime of the service tokens order_srv mints for inventory_srv.
const ServiceTokenTTL = 5 * time.Minute

// Mint signs an HS256 token for sub with scopes, valid for ttl from now. For tests, the demo,
// loadgen and service-to-service calls; production user tokens come from an identity provider.
func Mint(secret, sub string, ttl time.Duration, scopes ...string) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("auth: mint: the secret is %d bytes; at least %d are required", len(secret), MinSecretBytes)
	}
	if sub == "" || ttl <= 0 {
		return "", errors.New("auth: mint: a subject and a positive lifetime are required")
	}
	now := time.Now()
	c := Claims{Scope: strings.Join(scopes, " "), RegisteredClaims: jwt.RegisteredClaims{
		Subject:   sub,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}

// MintUser signs a token for user id uid (sub = uid in decimal) with scopes.
func MintUser(secret string, uid int64, ttl time.Duration, scopes ...string) (string, error) {
	return Mint(secret, strconv.FormatInt(uid, 10), ttl, scopes...)
}

// NewServiceTokenSource returns a token source of scope-service tokens for sub, minted from
// secret, each valid ServiceTokenTTL and reused until shortly before it expires. Safe for
// concurrent use (oauth2.ReuseTokenSource).
func NewServiceTokenSource(secret, sub string) (oauth2.TokenSource, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("auth: service tokens: the secret is %d bytes; at least %d are required", len(secret), MinSecretBytes)
	}
	return oauth2.ReuseTokenSourceWithExpiry(nil, mintSource{secret: secret, sub: sub}, 30*time.Second), nil
}

type mintSource struct{ secret, sub string }

func (m mintSource) Token() (*oauth2.Token, error) {
	exp := time.Now().Add(ServiceTokenTTL)
	raw, err := Mint(m.secret, m.sub, ServiceTokenTTL, ScopeService)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: raw, TokenType: "Bearer", Expiry: exp}, nil
}
