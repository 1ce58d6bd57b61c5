package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig_adminListensOnLoopbackByDefault(t *testing.T) {
	cfg, _, err := loadConfig(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminAddr != "127.0.0.1:8080" || cfg.AdminToken != "" {
		t.Fatalf("admin %q token %q, want 127.0.0.1:8080 and none", cfg.AdminAddr, cfg.AdminToken)
	}
}

func TestLoadConfig_readsAdminTokenACLFileAndLimitsFromEnvironment(t *testing.T) {
	cfg, _, err := loadConfig(nil, envOf(map[string]string{
		"MQ_ADMIN_TOKEN": "tok", "MQ_ACL_FILE": "/etc/mqbroker/plain_acl.yml", "MQ_CONN_IDLE_TIMEOUT": "30s", "MQ_FRAME_READ_TIMEOUT": "5s",
		"MQ_MAX_INFLIGHT_PER_CONN": "8", "MQ_MAX_INFLIGHT": "64",
		"MQ_MAX_INFLIGHT_BYTES_PER_CONN": "16777216", "MQ_MAX_INFLIGHT_BYTES": "67108864",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminToken != "tok" || cfg.ACLFile != "/etc/mqbroker/plain_acl.yml" || cfg.ACLGetenv == nil || cfg.ConnIdleTimeout != 30*time.Second || cfg.FrameReadTimeout != 5*time.Second ||
		cfg.MaxInflightPerConn != 8 || cfg.MaxInflightTotal != 64 ||
		cfg.MaxInflightBytesPerConn != 16<<20 || cfg.MaxInflightBytesTotal != 64<<20 {
		t.Fatalf("config %+v does not reflect the environment", cfg)
	}
}

func TestLoadConfig_reportsEveryBadLimit(t *testing.T) {
	_, _, err := loadConfig([]string{"--max-inflight-per-conn", "x", "--conn-idle-timeout", "0s",
		"--max-inflight-bytes-per-conn", "1024"}, envOf(nil), io.Discard)
	if err == nil {
		t.Fatal("bad limits accepted")
	}
	for _, want := range []string{"max-inflight-per-conn", "conn-idle-timeout", "must hold one frame"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
