package acl

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Watcher holds the policy of a file and reloads it when the file changes
// (polling its size and modification time). A file that no longer parses
// is logged and the last good policy stays in force. Safe for concurrent
// use.
type Watcher struct {
	path     string
	interval time.Duration
	log      *slog.Logger
	getenv   func(string) string // nil: no ${NAME} expansion
	policy   atomic.Pointer[Policy]

	mu   sync.Mutex // guards last
	last fileState
}

type fileState struct {
	size int64
	mod  time.Time
	data []byte
}

// DefaultReloadInterval is how often a Watcher looks at its file.
const DefaultReloadInterval = 2 * time.Second

// Options configures a Watcher; zero fields take defaults.
type Options struct {
	Interval time.Duration // DefaultReloadInterval if 0
	Logger   *slog.Logger
	// Getenv, when set, expands ${NAME} in the file (see ExpandEnv), so that
	// a committed policy file can take its secret keys from the
	// environment.
	Getenv func(string) string
}

// Open loads path; it fails if the file cannot be read or is invalid.
func Open(path string, opts Options) (*Watcher, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultReloadInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{path: path, interval: opts.Interval, log: opts.Logger, getenv: opts.Getenv}
	if _, err := w.Reload(); err != nil {
		return nil, err
	}
	return w, nil
}

// Policy is the policy in force.
func (w *Watcher) Policy() *Policy { return w.policy.Load() }

// Check decides req with the policy in force.
func (w *Watcher) Check(req Request) error { return w.Policy().Check(req) }

// Reload re-reads the file if it changed; it reports whether a new policy
// took effect. On error the policy in force is kept.
func (w *Watcher) Reload() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fi, err := os.Stat(w.path)
	if err != nil {
		return false, fmt.Errorf("acl: %w", err)
	}
	if w.policy.Load() != nil && fi.Size() == w.last.size && fi.ModTime().Equal(w.last.mod) {
		return false, nil
	}
	data, err := os.ReadFile(w.path)
	if err != nil {
		return false, fmt.Errorf("acl: %w", err)
	}
	st := fileState{size: fi.Size(), mod: fi.ModTime(), data: data}
	if w.policy.Load() != nil && bytes.Equal(data, w.last.data) {
		w.last = st
		return false, nil
	}
	expanded := data
	if w.getenv != nil {
		expanded, err = ExpandEnv(data, w.getenv)
	}
	var p *Policy
	if err == nil {
		p, err = Parse(expanded)
	}
	if err != nil {
		w.last = st // do not re-report the same bad file every poll
		return false, fmt.Errorf("%s: %w", w.path, err)
	}
	w.policy.Store(p)
	w.last = st
	return true, nil
}

// Run reloads the file every interval until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch changed, err := w.Reload(); {
		case err != nil:
			w.log.Error("acl file not reloaded, the previous policy stays in force", "err", err)
		case changed:
			w.log.Info("acl file reloaded", "path", w.path, "accounts", len(w.Policy().accounts))
		}
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandEnv replaces every ${NAME} in a policy file with getenv(NAME); a
// reference to an unset or empty variable is an error (a secret key must
// never silently become ""). Nothing else is expanded ($NAME stays).
func ExpandEnv(data []byte, getenv func(string) string) ([]byte, error) {
	var missing []string
	out := envRef.ReplaceAllFunc(data, func(ref []byte) []byte {
		name := string(ref[2 : len(ref)-1])
		v := getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("acl: the file refers to unset environment variables %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Permits is Policy.Permits with the current policy.
func (w *Watcher) Permits(accessKey string, peer netip.Addr, res ...Resource) error {
	return w.Policy().Permits(accessKey, peer, res...)
}
