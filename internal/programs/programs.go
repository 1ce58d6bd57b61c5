// Package programs finds the shopsaga module and builds its three programs (mqbroker,
// inventory_srv, order_srv) with the go command, for the tools that run the whole stack as
// processes: the demo and the chaos campaign.
package programs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// FindModule returns the go command and the root of the shopsaga module that contains the
// working directory.
func FindModule(ctx context.Context) (goTool, root string, err error) {
	goTool, err = exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, serr := os.Stat(goTool); serr != nil {
			return "", "", fmt.Errorf("the go command is not on PATH: %w", err)
		}
	}
	out, err := exec.CommandContext(ctx, goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", "", errors.New("not inside a Go module: run it from the shopsaga repository (go run ./demo, go run ./chaos)")
	}
	root = filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "mqbroker", "main.go")); err != nil {
		return "", "", fmt.Errorf("%s is not the shopsaga repository (no mqbroker/main.go): run it from inside it", root)
	}
	return goTool, root, nil
}

// Build builds the three programs of the module at root into binDir.
func Build(ctx context.Context, goTool, root, binDir string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", binDir+string(filepath.Separator), "./mqbroker", "./inventory_srv", "./order_srv")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}
