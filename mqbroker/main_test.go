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

func TestLoadConfig_storeFlagsAndTheirEnvironmentTwins(t *testing.T) {
	env := map[string]string{"MQ_RETENTION": "1h", "MQ_MAX_DISK_USAGE": "70", "MQ_SEGMENT_SIZE": "16777216", "MQ_REPAIR": "true"}
	cfg, _, err := loadConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Retention != time.Hour || cfg.MaxDiskUsage != 70 || cfg.SegmentSize != 16<<20 || !cfg.Repair {
		t.Fatalf("from the environment: retention %v, max disk %d, segment %d, repair %v", cfg.Retention, cfg.MaxDiskUsage, cfg.SegmentSize, cfg.Repair)
	}
	cfg, _, err = loadConfig([]string{"--retention", "0", "--max-disk-usage", "0", "--repair=false"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Retention != 0 || cfg.MaxDiskUsage != 0 || cfg.Repair {
		t.Fatalf("flags over the environment: retention %v, max disk %d, repair %v", cfg.Retention, cfg.MaxDiskUsage, cfg.Repair)
	}
	def, _, err := loadConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if def.Retention != 72*time.Hour || def.MaxDiskUsage != 85 || def.Repair {
		t.Fatalf("defaults: retention %v, max disk %d, repair %v", def.Retention, def.MaxDiskUsage, def.Repair)
	}
}

func TestLoadConfig_badStoreFlagsAreAllReported(t *testing.T) {
	_, _, err := loadConfig([]string{"--retention", "soon", "--max-disk-usage", "120", "--segment-size", "2048"}, func(string) string { return "" }, io.Discard)
	if err == nil {
		t.Fatal("bad store flags accepted")
	}
	for _, want := range []string{"retention", "max-disk-usage", "segment size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %s", err, want)
		}
	}
}

func TestLoadConfig_perIPLimitsAndSmallFrameReserve(t *testing.T) {
	cfg, _, err := loadConfig([]string{"--max-inflight-per-ip", "2048"}, envOf(map[string]string{
		"MQ_MAX_CONNS_PER_IP": "16", "MQ_MAX_INFLIGHT_BYTES_PER_IP": "134217728", "MQ_SMALL_FRAME_RESERVE": "-1",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnsPerIP != 16 || cfg.MaxInflightPerIP != 2048 || cfg.MaxInflightBytesPerIP != 128<<20 || cfg.SmallFrameReserve != -1 {
		t.Fatalf("config %+v does not reflect the flags and environment", cfg)
	}
	cfg, _, err = loadConfig(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnsPerIP != 4096 || cfg.MaxInflightPerIP != 0 || cfg.MaxInflightBytesPerIP != 0 || cfg.SmallFrameReserve != 0 {
		t.Fatalf("defaults: conns/IP %d, in-flight/IP %d, bytes/IP %d, reserve %d; want 4096 and derived (0)",
			cfg.MaxConnsPerIP, cfg.MaxInflightPerIP, cfg.MaxInflightBytesPerIP, cfg.SmallFrameReserve)
	}
	_, _, err = loadConfig([]string{"--max-conns-per-ip", "0", "--max-inflight-per-ip", "5", "--max-inflight-bytes-per-ip", "x",
		"--small-frame-reserve", "1073741824"}, envOf(nil), io.Discard)
	if err == nil {
		t.Fatal("bad per-IP limits accepted")
	}
	for _, want := range []string{"max-conns-per-ip", "per peer IP", "max-inflight-bytes-per-ip", "small-frame reserve"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLoadConfig_relayTimeoutFromFlagAndEnvironment(t *testing.T) {
	def, _, err := loadConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if def.RelayTimeout != 10*time.Second {
		t.Fatalf("default relay timeout %v, want 10s", def.RelayTimeout)
	}
	env := map[string]string{"MQ_RELAY_TIMEOUT": "3s"}
	cfg, _, err := loadConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RelayTimeout != 3*time.Second {
		t.Fatalf("MQ_RELAY_TIMEOUT=3s gave %v", cfg.RelayTimeout)
	}
	cfg, _, err = loadConfig([]string{"--relay-timeout", "1500ms"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RelayTimeout != 1500*time.Millisecond {
		t.Fatalf("--relay-timeout 1500ms over the environment gave %v", cfg.RelayTimeout)
	}
	for _, bad := range []string{"soon", "0s", "-1s"} {
		if _, _, err := loadConfig([]string{"--relay-timeout", bad}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "relay") {
			t.Errorf("--relay-timeout %q: err %v, want one naming the relay timeout", bad, err)
		}
	}
}
