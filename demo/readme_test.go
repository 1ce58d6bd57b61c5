package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestREADME_apiExamples_runAgainstTheStack runs every ```sh block of README.md's "The API,
// with curl" section (between the api-examples markers), in order, with bash against a stack
// started like the demo's, on free ports substituted for the default ones.
func TestREADME_apiExamples_runAgainstTheStack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole stack; skipped with -short")
	}
	for _, tool := range []string{"bash", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("the README examples need %s: %v", tool, err)
			}
			t.Skipf("the README examples need %s: %v", tool, err)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := apiExamples(string(readme))
	if err != nil {
		t.Fatal(err)
	}

	cfg := defaultConfig()
	cfg.ports = freePorts(t)
	cfg.dataDir = filepath.Join(t.TempDir(), "demo")
	cfg.mysqlInventoryDSN, cfg.mysqlOrderDSN = testEnv("DEMO_MYSQL_DSN_INVENTORY"), testEnv("DEMO_MYSQL_DSN_ORDER")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := startStack(ctx, cfg, newNarrator(io.Discard))
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	defer st.stop(nil)

	def := defaultConfig().ports
	ports := strings.NewReplacer(
		"localhost:"+strconv.Itoa(def.admin), "localhost:"+strconv.Itoa(cfg.ports.admin),
		"localhost:"+strconv.Itoa(def.inventory), "localhost:"+strconv.Itoa(cfg.ports.inventory),
		"localhost:"+strconv.Itoa(def.order), "localhost:"+strconv.Itoa(cfg.ports.order),
	)
	for i, block := range blocks {
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", ports.Replace(block))
		// The tokens the demo prints (TOKEN=, ADMIN_TOKEN=), as a reader pastes them.
		cmd.Env = append(os.Environ(), strings.Split(strings.TrimSpace(st.secrets.shell()), "\n")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("README api-examples block %d failed: %v\n%s\n--- its output:\n%s\n--- the end of %s:\n%s",
				i+1, err, block, out, st.order.logPath, tail(st.order.logPath, 10))
			continue
		}
		t.Logf("block %d:\n%s\n--- output:\n%s", i+1, block, out)
	}
}

// apiExamples returns the ```sh blocks between README.md's api-examples markers.
func apiExamples(readme string) ([]string, error) {
	const begin, end, fence = "<!-- BEGIN api-examples", "<!-- END api-examples -->", "```"
	b, e := strings.Index(readme, begin), strings.Index(readme, end)
	if b < 0 || e < b {
		return nil, errors.New("README.md has no api-examples markers")
	}
	section := readme[b:e]
	var blocks []string
	for {
		i := strings.Index(section, fence+"sh\n")
		if i < 0 {
			break
		}
		section = section[i+len(fence+"sh\n"):]
		j := strings.Index(section, fence)
		if j < 0 {
			return nil, errors.New("an unclosed ```sh block in README.md's api-examples")
		}
		blocks = append(blocks, section[:j])
		section = section[j+len(fence):]
	}
	if len(blocks) == 0 {
		return nil, errors.New("no ```sh block between README.md's api-examples markers")
	}
	return blocks, nil
}
