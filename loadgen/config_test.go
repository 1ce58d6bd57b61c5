package main

import (
	"context"
	"io"
	"testing"

	"github.com/shopsaga/shopsaga/internal/auth"
)

func TestLoadConfig_token_fromLOADGEN_TOKEN_orMintedFromAUTH_JWT_SECRET(t *testing.T) {
	const secret = "loadgen-config-test-secret-0123456789ab"
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := loadConfig(nil, env(map[string]string{"AUTH_JWT_SECRET": secret}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWTSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(c.load.Token); err != nil || !p.Has(auth.ScopeAdmin) || !p.Has(auth.ScopeService) {
		t.Fatalf("minted token: %+v %v", p, err)
	}
	c, err = loadConfig(nil, env(map[string]string{"AUTH_JWT_SECRET": secret, "LOADGEN_TOKEN": "given"}), io.Discard)
	if err != nil || c.load.Token != "given" {
		t.Fatalf("LOADGEN_TOKEN: %q %v", c.load.Token, err)
	}
	if _, err := loadConfig(nil, env(map[string]string{"AUTH_JWT_SECRET": "short"}), io.Discard); err == nil {
		t.Error("a short secret was accepted")
	}
}
