package broker_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
)

func TestAdmin_withToken_refusesMissingOrWrongToken_with401JSON(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithAdmin(), brokertest.WithConfig(func(c *broker.Config) { c.AdminToken = "s3cret" }))
	for _, tc := range []struct {
		name, path, auth string
		want             int
	}{
		{"no token", "/api/topics", "", http.StatusUnauthorized},
		{"wrong token", "/api/topics", "Bearer nope", http.StatusUnauthorized},
		{"not bearer", "/metrics", "Basic czNjcmV0", http.StatusUnauthorized},
		{"console without token", "/", "", http.StatusUnauthorized},
		{"right token", "/api/topics", "Bearer s3cret", http.StatusOK},
		{"browser: basic with the token as password", "/", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:s3cret")), http.StatusOK},
		{"browser: basic with a wrong password", "/", "Basic " + base64.StdEncoding.EncodeToString([]byte("s3cret:nope")), http.StatusUnauthorized},
		{"metrics with token", "/metrics", "Bearer s3cret", http.StatusOK},
		{"healthz needs none", "/healthz", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, b.AdminURL()+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized {
				var body struct {
					Error struct{ Code, Message string }
				}
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != "unauthorized" {
					t.Fatalf("401 body: %+v, %v; want JSON error code unauthorized", body, err)
				}
			}
		})
	}
}
