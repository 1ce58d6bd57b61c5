package auth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// principalKey is the gin context key of the request's Principal.
const principalKey = "shopsaga.auth.principal"

// maxTokenBytes bounds the token of one request (a real one is well under 4 KiB).
const maxTokenBytes = 8 << 10

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Unauthenticated answers 401 {"error":{"code":"unauthenticated",...}} and stops the chain.
func Unauthenticated(c *gin.Context, msg string) {
	c.Header("WWW-Authenticate", `Bearer realm="shopsaga"`)
	c.AbortWithStatusJSON(http.StatusUnauthorized, errorBody{Error: errorJSON{Code: "unauthenticated", Message: msg}})
}

// Forbidden answers 403 {"error":{"code":"forbidden",...}} and stops the chain.
func Forbidden(c *gin.Context, msg string) {
	c.AbortWithStatusJSON(http.StatusForbidden, errorBody{Error: errorJSON{Code: "forbidden", Message: msg}})
}

// Authenticate is gin middleware for a route that needs a token: it verifies the bearer token
// and stores the Principal (see From), or answers 401.
func (v *Verifier) Authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := v.fromRequest(c.Request)
		if err != nil {
			Unauthenticated(c, err.Error())
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// Require is gin middleware, after Authenticate, that answers 403 unless the principal holds
// one of scopes.
func Require(scopes ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := From(c)
		if !ok {
			Unauthenticated(c, "a bearer token is required")
			return
		}
		for _, s := range scopes {
			if p.Has(s) {
				c.Next()
				return
			}
		}
		Forbidden(c, "this call needs the scope "+strings.Join(scopes, " or "))
	}
}

// From returns the Principal Authenticate stored.
func From(c *gin.Context) (Principal, bool) {
	v, ok := c.Get(principalKey)
	p, _ := v.(Principal)
	return p, ok
}

func (v *Verifier) fromRequest(r *http.Request) (Principal, error) {
	if v.cfg.Disabled {
		return v.Verify("")
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, errors.New("a bearer token is required (Authorization: Bearer <JWT>)")
	}
	if len(h) > maxTokenBytes {
		return Principal{}, errors.New("the Authorization header is too long")
	}
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return Principal{}, errors.New("the Authorization header must be: Bearer <JWT>")
	}
	p, err := v.Verify(strings.TrimSpace(raw))
	if err != nil {
		return Principal{}, errors.New("invalid token: " + strings.TrimPrefix(err.Error(), ErrUnauthenticated.Error()+": "))
	}
	return p, nil
}

// AuthenticateWithQuery is Authenticate that also takes the token from query parameter param
// when there is no Authorization header (RFC 6750 §2.3), for pages a browser opens from a link.
// Such URLs end up in histories and logs: use it for read-only pages only, with short-lived
// tokens.
func (v *Verifier) AuthenticateWithQuery(param string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.GetHeader("Authorization") == "" && c.Query(param) != "" && !v.cfg.Disabled {
			raw := c.Query(param)
			if len(raw) > maxTokenBytes {
				Unauthenticated(c, "the token is too long")
				return
			}
			p, err := v.Verify(raw)
			if err != nil {
				Unauthenticated(c, "invalid token: "+strings.TrimPrefix(err.Error(), ErrUnauthenticated.Error()+": "))
				return
			}
			c.Header("Referrer-Policy", "no-referrer")
			c.Set(principalKey, p)
			c.Next()
			return
		}
		v.Authenticate()(c)
	}
}
