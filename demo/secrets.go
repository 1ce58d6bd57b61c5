package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
)

// readmeUser is the user of README.md's curl examples; the demo prints a TOKEN of this user.
const readmeUser = 1

// tokenTTL is the lifetime of the tokens the demo prints (the demo's secrets die with it).
const tokenTTL = 12 * time.Hour

// tokensFile holds the printed tokens in the data directory, for a shell: `. data/demo/tokens.env`.
const tokensFile = "tokens.env"

// secrets are the demo stack's fresh secrets and the tokens made from them. They live as long as
// the demo: each run makes new ones.
type secrets struct {
	jwt, notify string // AUTH_JWT_SECRET, PAYMENT_NOTIFY_SECRET
	user        string // a token of readmeUser, no scope
	admin       string // a token of the scopes admin and service
}

func newSecrets() (secrets, error) {
	random := func() (string, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	}
	var s secrets
	var err error
	if s.jwt, err = random(); err != nil {
		return s, err
	}
	if s.notify, err = random(); err != nil {
		return s, err
	}
	if s.user, err = auth.MintUser(s.jwt, readmeUser, tokenTTL); err != nil {
		return s, err
	}
	if s.admin, err = auth.Mint(s.jwt, "demo-admin", tokenTTL, auth.ScopeAdmin, auth.ScopeService); err != nil {
		return s, err
	}
	return s, nil
}

// env is the services' part of the secrets.
func (s secrets) env() []string {
	return []string{"AUTH_JWT_SECRET=" + s.jwt, "PAYMENT_NOTIFY_SECRET=" + s.notify}
}

// shell is the tokens (and the notify secret, for README.md's signed-notify example) as lines a
// shell can source or paste.
func (s secrets) shell() string {
	return fmt.Sprintf("TOKEN=%s\nADMIN_TOKEN=%s\nPAYMENT_NOTIFY_SECRET=%s\n", s.user, s.admin, s.notify)
}

// write stores the tokens in dir/tokens.env, readable by the owner only.
func (s secrets) write(dir string) (string, error) {
	path := filepath.Join(dir, tokensFile)
	return path, os.WriteFile(path, []byte(s.shell()), 0o600)
}
