package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

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
