package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

func hsVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	if cfg.JWTSecret == "" && cfg.JWKSURL == "" {
		cfg.JWTSecret = testSecret
	}
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func valid() jwt.MapClaims {
	return jwt.MapClaims{"sub": "7", "scope": "admin", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestVerify_HS256_acceptsAValidTokenAndReadsSubAndScopes(t *testing.T) {
	t.Parallel()
	p, err := hsVerifier(t, Config{}).Verify(sign(t, jwt.SigningMethodHS256, []byte(testSecret), valid(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != 7 || !p.Has(ScopeAdmin) || p.Has(ScopeService) || !p.MayActFor(8) {
		t.Fatalf("principal %+v", p)
	}
	user := Principal{UserID: 7}
	if !user.MayActFor(7) || user.MayActFor(8) || user.Has(ScopeAdmin) {
		t.Fatalf("a plain user %+v", user)
	}
}

// TestVerify_attackCorpus is the bad-token corpus: each is refused with ErrUnauthenticated.
func TestVerify_attackCorpus(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))})
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(), nil)
	cases := map[string]string{
		"empty":             "",
		"garbage":           "not.a.jwt",
		"expired":           sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(valid(), "exp", time.Now().Add(-time.Hour).Unix()), nil),
		"no exp":            sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(valid(), "exp", nil), nil),
		"wrong key":         sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), valid(), nil),
		"alg none":          none,
		"alg none, no sig":  strings.TrimSuffix(none, ".") + ".",
		"HS384":             sign(t, jwt.SigningMethodHS384, []byte(testSecret), valid(), nil),
		"RS256 on HS":       sign(t, jwt.SigningMethodRS256, rsaKey, valid(), nil),
		"no sub":            sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(valid(), "sub", nil), nil),
		"sub not a user":    sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(with(valid(), "sub", "bob"), "scope", nil), nil),
		"issued in future":  sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(valid(), "iat", time.Now().Add(time.Hour).Unix()), nil),
		"not yet valid":     sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(valid(), "nbf", time.Now().Add(time.Hour).Unix()), nil),
		"HS with PEM bytes": sign(t, jwt.SigningMethodHS256, pubPEM, valid(), nil),
		// Security review: only the canonical decimal form of sub is a user id.
		"sub +5":  sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(with(valid(), "sub", "+5"), "scope", nil), nil),
		"sub 007": sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(with(valid(), "sub", "007"), "scope", nil), nil),
	}
	v := hsVerifier(t, Config{})
	for name, tok := range cases {
		if p, err := v.Verify(tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: got %+v, %v; want ErrUnauthenticated", name, p, err)
		}
	}
}

// TestVerify_scopeEscalation: scopes are whole words of "scope"; look-alikes and other claims
// grant nothing.
func TestVerify_scopeEscalation(t *testing.T) {
	t.Parallel()
	v := hsVerifier(t, Config{})
	for name, c := range map[string]jwt.MapClaims{
		"administrator":    with(valid(), "scope", "administrator services"),
		"comma-separated":  with(valid(), "scope", "admin,service"),
		"scp array":        with(with(valid(), "scope", nil), "scp", []string{"admin"}),
		"roles claim":      with(with(valid(), "scope", nil), "roles", []string{"admin"}),
		"upper case ADMIN": with(valid(), "scope", "ADMIN"),
	} {
		p, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(testSecret), c, nil))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Has(ScopeAdmin) || p.Has(ScopeService) || p.MayActFor(8) {
			t.Errorf("%s: escalated to %+v", name, p)
		}
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(testSecret), with(valid(), "scope", 42), nil)); err == nil {
		t.Error("a numeric scope claim was accepted")
	}
}

// TestVerify_JWKS_acceptsRS256AndES256AndRefusesHSConfusion serves a JWK Set like an OIDC
// provider and signs with its keys; an HS256 token whose "secret" is the public key is refused.
func TestVerify_JWKS_acceptsRS256AndES256AndRefusesHSConfusion(t *testing.T) {
	t.Parallel()
	rsaKey := must(rsa.GenerateKey(rand.Reader, 2048))
	ecKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	pad := func(n *big.Int) []byte { b := n.Bytes(); return append(make([]byte, 32-len(b)), b...) }
	jwks := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(pad(ecKey.X)), "y": b64(pad(ecKey.Y))},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwks)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := NewVerifier(ctx, Config{JWKSURL: srv.URL, Issuer: "https://idp.example", Audience: "shopsaga"})
	if err != nil {
		t.Fatal(err)
	}
	good := with(with(valid(), "aud", []string{"shopsaga", "other"}), "iss", "https://idp.example")
	// Issuer and audience are required with a JWKS (Config.Validate) and checked.
	for name, c := range map[string]jwt.MapClaims{
		"wrong audience": with(good, "aud", "somebody-else"),
		"no audience":    with(good, "aud", nil),
		"wrong issuer":   with(good, "iss", "https://evil.example"),
		"no issuer":      with(good, "iss", nil),
	} {
		if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, rsaKey, c, map[string]any{"kid": "r1"})); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, tok := range map[string]string{
		"RS256": sign(t, jwt.SigningMethodRS256, rsaKey, good, map[string]any{"kid": "r1"}),
		"ES256": sign(t, jwt.SigningMethodES256, ecKey, good, map[string]any{"kid": "e1"}),
	} {
		if p, err := v.Verify(tok); err != nil || p.UserID != 7 {
			t.Errorf("%s: %+v %v", name, p, err)
		}
	}
	pubDER := must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	other := must(rsa.GenerateKey(rand.Reader, 2048))
	for name, tok := range map[string]string{
		"HS256 with the public key (PEM)": sign(t, jwt.SigningMethodHS256, pubPEM, good, map[string]any{"kid": "r1"}),
		"HS256 with the public key (DER)": sign(t, jwt.SigningMethodHS256, pubDER, good, map[string]any{"kid": "r1"}),
		"RS256 by an unknown key":         sign(t, jwt.SigningMethodRS256, other, good, map[string]any{"kid": "r1"}),
		"RS256 unknown kid":               sign(t, jwt.SigningMethodRS256, other, good, map[string]any{"kid": "zz"}),
		"RS256 wrong audience":            sign(t, jwt.SigningMethodRS256, rsaKey, with(good, "aud", "x"), map[string]any{"kid": "r1"}),
		"RS256 naming the EC key's kid":   sign(t, jwt.SigningMethodRS256, rsaKey, good, map[string]any{"kid": "e1"}),
		"alg none":                        sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good, map[string]any{"kid": "r1"}),
	} {
		if _, err := v.Verify(tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestConfig_Validate_refusesNoKeyUnlessDisabled(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]Config{
		"nothing":      {},
		"short secret": {JWTSecret: "short"},
		"both keys":    {JWTSecret: testSecret, JWKSURL: "https://idp/jwks"},
		"bad url":      {JWKSURL: "ftp://x"},
		"disabled+key": {Disabled: true, JWTSecret: testSecret},
		// Security review: JWKS without a required issuer and audience accepts any client's token;
		// an issuer with the shared secret refuses the shop's own minted tokens.
		"jwks without issuer/audience": {JWKSURL: "https://idp/jwks"},
		"jwks without audience":        {JWKSURL: "https://idp/jwks", Issuer: "https://idp"},
		"secret with audience":         {JWTSecret: testSecret, Audience: "shopsaga"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, c := range map[string]Config{"secret": {JWTSecret: testSecret}, "jwks": {JWKSURL: "https://idp/jwks", Issuer: "https://idp", Audience: "shopsaga"}, "disabled": {Disabled: true}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if (Config{Disabled: true}).Warning() == "" || (Config{JWTSecret: testSecret}).Warning() != "" {
		t.Error("Warning")
	}
}

func TestServiceTokenSource_mintsOnceAndReuses(t *testing.T) {
	t.Parallel()
	ts, err := NewServiceTokenSource(testSecret, "order_srv")
	if err != nil {
		t.Fatal(err)
	}
	a, b := must(ts.Token()), must(ts.Token())
	if a.AccessToken != b.AccessToken {
		t.Error("a second Token() minted again instead of reusing the cached token")
	}
	p, err := hsVerifier(t, Config{}).Verify(a.AccessToken)
	if err != nil || !p.Has(ScopeService) || p.Has(ScopeAdmin) || p.UserID != 0 {
		t.Fatalf("service token: %+v %v", p, err)
	}
	if time.Until(a.Expiry) > ServiceTokenTTL {
		t.Errorf("lives %v", time.Until(a.Expiry))
	}
}

func TestMiddleware_401And403AreJSON(t *testing.T) {
	t.Parallel()
	gin.SetMode(gin.ReleaseMode)
	v := hsVerifier(t, Config{})
	r := gin.New()
	r.GET("/admin", v.Authenticate(), Require(ScopeAdmin), func(c *gin.Context) { c.String(200, "ok") })
	r.GET("/any", v.Authenticate(), func(c *gin.Context) { p, _ := From(c); c.String(200, p.Subject) })
	user := must(MintUser(testSecret, 5, time.Minute))
	admin := must(MintUser(testSecret, 1, time.Minute, ScopeAdmin))
	for _, tc := range []struct {
		path, header string
		status       int
		code         string
	}{
		{"/any", "", 401, "unauthenticated"},
		{"/any", "Basic abc", 401, "unauthenticated"},
		{"/any", "Bearer ", 401, "unauthenticated"},
		{"/any", "Bearer " + strings.Repeat("a", maxTokenBytes+1), 401, "unauthenticated"},
		{"/any", "Bearer " + user, 200, ""},
		{"/any", "bearer " + user, 200, ""},
		{"/admin", "Bearer " + user, 403, "forbidden"},
		{"/admin", "Bearer " + admin, 200, ""},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("%s %.30q: %d %s", tc.path, tc.header, w.Code, w.Body)
			continue
		}
		if tc.code != "" {
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Errorf("%s: body %s", tc.path, w.Body)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
