package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/order_srv/internal/config"
)

// TestServiceTokens_clientCredentials_fetchesOnceAndCaches plays an OIDC provider's token
// endpoint: order_srv's token for inventory_srv comes from the client-credentials grant and is
// reused while valid.
func TestServiceTokens_clientCredentials_fetchesOnceAndCaches(t *testing.T) {
	var grants atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if err := r.ParseForm(); err != nil || !ok || id != "order_srv" || secret != "s3cret" ||
			r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "service" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		grants.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "from-the-idp", "token_type": "Bearer", "expires_in": 300})
	}))
	t.Cleanup(idp.Close)
	cfg := config.Default()
	cfg.OAuth = config.OAuthClient{TokenURL: idp.URL, ClientID: "order_srv", ClientSecret: "s3cret", Scopes: "service"}
	ts, err := serviceTokens(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tok, err := ts.Token()
		if err != nil || tok.AccessToken != "from-the-idp" {
			t.Fatalf("token %+v %v", tok, err)
		}
	}
	if grants.Load() != 1 {
		t.Errorf("%d grants for 3 calls, want 1 (cached)", grants.Load())
	}
}

func TestServiceTokens_mintedFromTheSecret_orNoneWhenDisabled(t *testing.T) {
	cfg := config.Default()
	cfg.Auth = auth.Config{JWTSecret: "order-srv-service-token-test-0123456789"}
	ts, err := serviceTokens(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewVerifier(context.Background(), cfg.Auth)
	if p, err := v.Verify(tok.AccessToken); err != nil || !p.Has(auth.ScopeService) || p.Has(auth.ScopeAdmin) {
		t.Fatalf("minted %+v %v", p, err)
	}
	cfg.Auth = auth.Config{Disabled: true}
	if ts, err := serviceTokens(context.Background(), cfg); err != nil || ts != nil {
		t.Errorf("disabled: %v %v", ts, err)
	}
}
