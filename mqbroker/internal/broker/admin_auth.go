package broker

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken wraps the admin handler: with a token configured, every
// request but GET /healthz (liveness, no data) must carry
// "Authorization: Bearer <token>"; others get 401 with a JSON body.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got)) // equal-length compare: no length leak
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mqbroker admin"`)
			writeJSON(w, http.StatusUnauthorized, apiError("unauthorized",
				"missing or wrong bearer token (the broker was started with --admin-token / MQ_ADMIN_TOKEN)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
