package config_test

import (
	"io"
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/order_srv/internal/config"
)

const secret32 = "0123456789abcdef0123456789abcdef"

func TestLoad_security_refusesToStartWithoutKeysUnlessDisabled(t *testing.T) {
	t.Parallel()
	base := map[string]string{"ORDER_MYSQL_DSN": "dsn", "AUTH_DISABLED": ""}
	_, err := config.Load(nil, env(base), io.Discard)
	for _, want := range []string{"no authentication key", "AUTH_DISABLED=1", "PAYMENT_NOTIFY_SECRET is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no keys: %v; want %q", err, want)
		}
	}
	good := map[string]string{"ORDER_MYSQL_DSN": "dsn", "AUTH_DISABLED": "", "AUTH_JWT_SECRET": secret32,
		"PAYMENT_NOTIFY_SECRET": secret32, "ORDER_PAYMENT_SIMULATOR": "1", "ORDER_RATE_PER_USER": "0.5", "ORDER_MAX_UNPAID": "3"}
	c, err := config.Load(nil, env(good), io.Discard)
	if err != nil || c.Auth.JWTSecret != secret32 || !c.PaymentSimulator || c.RatePerUser != 0.5 || c.MaxUnpaid != 3 || c.RateBurst != 10 {
		t.Fatalf("good: %+v %v", c, err)
	}
	if d := config.Default(); d.MaxUnpaid != 20 || d.RatePerUser <= 0 {
		t.Errorf("default limits %+v", d)
	}
}

func TestLoad_security_reportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := config.Load(nil, env(map[string]string{
		"ORDER_MYSQL_DSN": "dsn", "AUTH_DISABLED": "", "AUTH_JWKS_URL": "https://idp/jwks",
		"PAYMENT_NOTIFY_SECRET": "short", "ORDER_RATE_PER_USER": "-1", "ORDER_MAX_UNPAID": "-2", "ORDER_PAYMENT_SIMULATOR": "maybe",
	}), io.Discard)
	for _, want := range []string{"ORDER_OAUTH_TOKEN_URL", "PAYMENT_NOTIFY_SECRET is 5 bytes", "ORDER_RATE_PER_USER",
		"ORDER_MAX_UNPAID", "ORDER_PAYMENT_SIMULATOR"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	_, err = config.Load(nil, env(map[string]string{
		"ORDER_MYSQL_DSN": "dsn", "AUTH_DISABLED": "", "AUTH_JWKS_URL": "https://idp/jwks", "PAYMENT_NOTIFY_SECRET": secret32,
		"AUTH_ISSUER": "https://idp", "AUTH_AUDIENCE": "shopsaga",
		"ORDER_OAUTH_TOKEN_URL": "https://idp/token", "ORDER_OAUTH_CLIENT_ID": "order_srv", "ORDER_OAUTH_CLIENT_SECRET": "s",
	}), io.Discard)
	if err != nil {
		t.Errorf("OIDC with client credentials: %v", err)
	}
}
