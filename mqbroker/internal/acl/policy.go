package acl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Perm is a permission bit set (Apache's Permission).
type Perm uint8

// Permission bits.
const (
	Deny Perm = 1 << 0
	Any  Perm = 1 << 1 // needed: PUB or SUB will do
	Pub  Perm = 1 << 2
	Sub  Perm = 1 << 3
)

func (p Perm) String() string {
	switch p {
	case Pub:
		return "PUB"
	case Sub:
		return "SUB"
	case Pub | Sub:
		return "PUB|SUB"
	case Any:
		return "PUB or SUB"
	}
	return "DENY"
}

// parsePerm reads PUB, SUB, PUB|SUB, SUB|PUB or DENY; ok is false for
// anything else (which Apache silently reads as DENY).
func parsePerm(s string) (p Perm, ok bool) {
	switch strings.TrimSpace(s) {
	case "PUB":
		return Pub, true
	case "SUB":
		return Sub, true
	case "PUB|SUB", "SUB|PUB":
		return Pub | Sub, true
	case "DENY":
		return Deny, true
	}
	return Deny, false
}

// allows reports whether owned grants needed (Apache's checkPermission).
func (owned Perm) allows(needed Perm) bool {
	if owned&Deny != 0 {
		return false
	}
	if needed&Any != 0 {
		return owned&(Pub|Sub) != 0
	}
	return needed&owned != 0
}

// RetryPrefix marks a group's retry topic; its permission is the group's.
const RetryPrefix = "%RETRY%"

// File is the policy file as written (plain_acl.yml).
type File struct {
	GlobalWhiteRemoteAddresses []string      `yaml:"globalWhiteRemoteAddresses"`
	Accounts                   []FileAccount `yaml:"accounts"`
}

// FileAccount is one account of the policy file.
type FileAccount struct {
	AccessKey          string   `yaml:"accessKey"`
	SecretKey          string   `yaml:"secretKey"`
	WhiteRemoteAddress string   `yaml:"whiteRemoteAddress"`
	Admin              bool     `yaml:"admin"`
	DefaultTopicPerm   string   `yaml:"defaultTopicPerm"`
	DefaultGroupPerm   string   `yaml:"defaultGroupPerm"`
	TopicPerms         []string `yaml:"topicPerms"`
	GroupPerms         []string `yaml:"groupPerms"`
}

// minKeyLength is Apache's: access and secret keys longer than 6 characters.
const minKeyLength = 7

// Policy is a parsed, validated policy file. It is immutable and safe for
// concurrent use.
type Policy struct {
	globalWhite []addrMatcher
	accounts    map[string]*account
}

type account struct {
	accessKey    string
	secretKey    []byte
	white        addrMatcher // nil: none
	admin        bool
	defaultTopic Perm
	defaultGroup Perm
	topics       map[string]Perm
	groups       map[string]Perm // by group name (not retry topic)
}

// Parse reads a policy file, reporting every problem at once.
func Parse(data []byte) (*Policy, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file is an empty policy: nobody but the globally
	// white-listed is allowed.
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("acl: parse: %w", err)
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	p := &Policy{accounts: make(map[string]*account)}
	for _, s := range f.GlobalWhiteRemoteAddresses {
		m, err := parseAddrPattern(s)
		if err != nil {
			bad("globalWhiteRemoteAddresses: %w", err)
			continue
		}
		if m != nil {
			p.globalWhite = append(p.globalWhite, m)
		}
	}
	for i, fa := range f.Accounts {
		where := fmt.Sprintf("accounts[%d] (%s)", i, fa.AccessKey)
		if len(fa.AccessKey) < minKeyLength || len(fa.SecretKey) < minKeyLength {
			bad("%s: accessKey and secretKey must be at least %d characters", where, minKeyLength)
		}
		if _, dup := p.accounts[fa.AccessKey]; dup {
			bad("%s: accessKey appears twice", where)
		}
		a := &account{accessKey: fa.AccessKey, secretKey: []byte(fa.SecretKey), admin: fa.Admin,
			defaultTopic: Deny, defaultGroup: Deny, topics: map[string]Perm{}, groups: map[string]Perm{}}
		var err error
		if a.white, err = parseAddrPattern(fa.WhiteRemoteAddress); err != nil {
			bad("%s: whiteRemoteAddress: %w", where, err)
		}
		perm := func(field, s string) Perm {
			if s == "" {
				return Deny
			}
			p, ok := parsePerm(s)
			if !ok {
				bad("%s: %s %q: want PUB, SUB, PUB|SUB or DENY", where, field, s)
			}
			return p
		}
		a.defaultTopic = perm("defaultTopicPerm", fa.DefaultTopicPerm)
		a.defaultGroup = perm("defaultGroupPerm", fa.DefaultGroupPerm)
		for _, list := range []struct {
			field string
			items []string
			into  map[string]Perm
		}{{"topicPerms", fa.TopicPerms, a.topics}, {"groupPerms", fa.GroupPerms, a.groups}} {
			for _, item := range list.items {
				name, ps, ok := strings.Cut(item, "=")
				name = strings.TrimSpace(name)
				if !ok || name == "" || strings.Contains(ps, "=") {
					bad("%s: %s %q: want name=PERM", where, list.field, item)
					continue
				}
				list.into[name] = perm(list.field+" "+name, ps)
			}
		}
		p.accounts[fa.AccessKey] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("acl: invalid policy:\n%w", err)
	}
	return p, nil
}

// Error is a refusal; its message names what was refused.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func deny(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// Resource is something a request touches and the permission it needs.
type Resource struct {
	Name string // topic, or %RETRY%group for a group
	Perm Perm
}

// IsGroup reports whether the resource is a consumer group (its retry topic).
func (r Resource) IsGroup() bool { return strings.HasPrefix(r.Name, RetryPrefix) }

func (r Resource) String() string {
	if r.IsGroup() {
		return "group " + strings.TrimPrefix(r.Name, RetryPrefix)
	}
	return "topic " + r.Name
}

// Request is what the policy decides on.
type Request struct {
	Code      int16
	ExtFields map[string]string
	Body      []byte
	Peer      netip.Addr
}

// Check decides req (see the package doc); nil means allowed, else an
// *Error naming what was refused.
func (p *Policy) Check(req Request) error {
	peer := req.Peer.Unmap()
	for _, m := range p.globalWhite {
		if m(peer) {
			return nil
		}
	}
	ak := req.ExtFields[AccessKeyField]
	if ak == "" {
		return deny("no AccessKey: request code %d needs a signed request (ACL is on)", req.Code)
	}
	a, ok := p.accounts[ak]
	if !ok {
		return deny("no ACL account for accessKey %s", ak)
	}
	if a.white != nil && a.white(peer) {
		return nil
	}
	if !Verify(req.ExtFields, req.Body, a.secretKey) {
		return deny("signature check failed for accessKey %s", ak)
	}
	if isAdminCode(req.Code) && !a.admin {
		return deny("request code %d needs admin permission, accessKey %s has none", req.Code, ak)
	}
	res, err := Resources(req.Code, req.ExtFields, req.Body)
	if err != nil {
		return deny("request code %d: %v", req.Code, err)
	}
	return a.permits(res)
}

// Permits decides resources the broker resolved from its own state after
// a request passed Check (the topic of the half message an
// END_TRANSACTION names, of the record a VIEW_MESSAGE_BY_ID reads), and
// whether a registered producer may receive a transaction check-back:
// accessKey is the request's (or the registration's) AccessKey, already
// verified. The white lists apply as in Check. nil means allowed, else an
// *Error naming what was refused.
func (p *Policy) Permits(accessKey string, peer netip.Addr, res ...Resource) error {
	peer = peer.Unmap()
	for _, m := range p.globalWhite {
		if m(peer) {
			return nil
		}
	}
	if accessKey == "" {
		return deny("no AccessKey: %v needs a signed request (ACL is on)", res)
	}
	a, ok := p.accounts[accessKey]
	if !ok {
		return deny("no ACL account for accessKey %s", accessKey)
	}
	if a.white != nil && a.white(peer) {
		return nil
	}
	return a.permits(res)
}

// permits checks res against the account's permissions.
func (a *account) permits(res []Resource) error {
	ak := a.accessKey
	if a.admin && len(a.topics) == 0 && len(a.groups) == 0 {
		return nil // Apache: an admin without resource permissions is not checked per resource
	}
	for _, r := range res {
		owned, listed := a.perm(r)
		if !owned.allows(r.Perm) {
			how := "has"
			if !listed {
				how = "has by default"
			}
			return deny("no %s permission on %s for accessKey %s (it %s %s)", r.Perm, r, ak, how, owned)
		}
	}
	return nil
}

func (a *account) perm(r Resource) (Perm, bool) {
	if r.IsGroup() {
		if p, ok := a.groups[strings.TrimPrefix(r.Name, RetryPrefix)]; ok {
			return p, true
		}
		return a.defaultGroup, false
	}
	if p, ok := a.topics[r.Name]; ok {
		return p, true
	}
	return a.defaultTopic, false
}
