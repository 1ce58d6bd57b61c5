package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDelayLevels_keepTheLevelNumbers_andShrinkTheDelays(t *testing.T) {
	t.Parallel()
	table, err := delayLevels(180)
	if err != nil {
		t.Fatal(err)
	}
	for level, want := range map[int]time.Duration{1: 5 * time.Millisecond, 3: 55 * time.Millisecond,
		payTimeoutLevel: 10 * time.Second, 18: 40 * time.Second} {
		if got := levelDelay(table, level); got != want {
			t.Errorf("level %d: %v, want %v (table %q)", level, got, want, table)
		}
	}
	if n := len(strings.Fields(table)); n != 18 {
		t.Errorf("%d levels, want 18", n)
	}
	if got := defaultLevelDelay(payTimeoutLevel); got != 30*time.Minute {
		t.Errorf("default level %d: %v, want 30m", payTimeoutLevel, got)
	}
}

func TestLoadConfig_reportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DEMO_MYSQL_DSN_ORDER": "u:p@tcp(db)/order"}
	_, err := loadConfig([]string{"--order-port", "8082", "--admin-port", "70000", "--speedup", "0", "--load-buyers", "0", "--replicas", "3"},
		func(k string) string { return env[k] }, io.Discard)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"cannot share port 8082", "admin port 70000", "both MySQL DSNs", "speedup", "load buyers", "replicas must be 1 or 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestLoadConfig_exitsAfterTheScenarios_inCI(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(nil, func(k string) string { return map[string]string{"CI": "true"}[k] }, io.Discard)
	if err != nil || !cfg.exit {
		t.Fatalf("exit = %v, err = %v; want exit under CI=true", cfg.exit, err)
	}
}

func TestPrepareDataDir_refusesToEmptyADirectoryItDidNotMake(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	precious := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(precious, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareDataDir(dir, false); err == nil {
		t.Fatal("a foreign directory was accepted")
	}
	if _, err := os.Stat(precious); err != nil {
		t.Fatalf("the foreign file is gone: %v", err)
	}

	ours := filepath.Join(dir, "demo")
	if _, err := prepareDataDir(ours, false); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(ours, "old.log")
	if err := os.WriteFile(old, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareDataDir(ours, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("--keep lost the old data: %v", err)
	}
	if _, err := prepareDataDir(ours, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Fatal("the old data survived a fresh run")
	}
}
