package broker

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken wraps the admin handler: with a token configured, every
// request but GET /healthz (liveness, no data) must carry
// "Authorization: Bearer <token>" — or, so that a browser can open the
// console (it prompts for Basic credentials), HTTP Basic with the token as
// the password and any user name; others get 401 with a JSON body.
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
		if !ok {
			_, got, ok = r.BasicAuth()
		}
		sum := sha256.Sum256([]byte(got)) // equal-length compare: no length leak
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Add("WWW-Authenticate", `Bearer realm="mqbroker admin"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="mqbroker admin (password: the admin token)"`)
			writeJSON(w, http.StatusUnauthorized, apiError("unauthorized",
				"missing or wrong bearer token (the broker was started with --admin-token / MQ_ADMIN_TOKEN)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
