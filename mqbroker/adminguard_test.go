package main

import (
	"io"
	"strings"
	"testing"
)

// Review of issue 12: with ACL on, an admin HTTP API reachable from the
// network without a token hands out every message the ACL protects.
func TestLoadConfig_refusesACLWithAnOpenAdminAPIUnlessToldSo(t *testing.T) {
	env := map[string]string{"MQ_ACL_FILE": "/etc/mqbroker/plain_acl.yml", "MQ_ADMIN_ADDR": ":8080"}
	if _, _, err := loadConfig(nil, envOf(env), io.Discard); err == nil || !strings.Contains(err.Error(), "admin-token") {
		t.Fatalf("ACL on, admin on :8080, no token: %v, want a refusal naming admin-token", err)
	}
	for name, extra := range map[string]map[string]string{
		"with a token":          {"MQ_ADMIN_TOKEN": "tok"},
		"on loopback":           {"MQ_ADMIN_ADDR": "127.0.0.1:8080"},
		"told so":               {"MQ_INSECURE_ADMIN": "true"},
		"with the flag instead": nil,
	} {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		var args []string
		if extra == nil {
			args = []string{"--insecure-admin"}
		}
		if _, _, err := loadConfig(args, envOf(e), io.Discard); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
