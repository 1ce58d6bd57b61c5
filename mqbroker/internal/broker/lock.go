package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// ErrDataDirLocked means another broker process uses the data directory.
var ErrDataDirLocked = errors.New("broker: data directory is in use by another process")

// lockDataDir takes an exclusive lock on <dir>/LOCK for the life of the
// process (released by Close, or by the OS when the process exits), so two
// brokers can never append to one commit log. flock(2) on Unix, LockFileEx
// on Windows.
func lockDataDir(dir string) (*flock.Flock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	l := flock.New(filepath.Join(dir, "LOCK"))
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrDataDirLocked, dir)
	}
	return l, nil
}
