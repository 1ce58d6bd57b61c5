package acl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// addrMatcher reports whether a peer address matches a pattern.
type addrMatcher func(netip.Addr) bool

// parseAddrPattern compiles a whiteRemoteAddress pattern (see the package
// doc); "" compiles to nil (matches nobody).
func parseAddrPattern(s string) (addrMatcher, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return nil, nil
	case "*", "*.*.*.*", "*:*:*:*:*:*:*:*":
		return func(netip.Addr) bool { return true }, nil
	}
	if i := strings.IndexByte(s, '{'); i >= 0 { // 192.168.0.{1,2,3}
		if !strings.HasSuffix(s, "}") || !strings.HasSuffix(s[:i], ".") {
			return nil, fmt.Errorf("%q: want a.b.c.{x,y,...}", s)
		}
		var alts []string
		for _, last := range strings.Split(s[i+1:len(s)-1], ",") {
			alts = append(alts, s[:i]+strings.TrimSpace(last))
		}
		s = strings.Join(alts, ",")
	}
	if strings.Contains(s, ",") {
		var ms []addrMatcher
		for _, part := range strings.Split(s, ",") {
			m, err := parseOne(strings.TrimSpace(part))
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
		return func(a netip.Addr) bool {
			for _, m := range ms {
				if m(a) {
					return true
				}
			}
			return false
		}, nil
	}
	return parseOne(s)
}

// parseOne compiles an address or an IPv4 pattern of octets "n", "*" or "a-b".
func parseOne(s string) (addrMatcher, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap()
		return func(a netip.Addr) bool { return a == ip }, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return nil, fmt.Errorf("%q: not an address or IPv4 pattern", s)
	}
	var lo, hi [4]int
	for i, p := range parts {
		switch {
		case p == "*":
			lo[i], hi[i] = 0, 255
		case strings.Contains(p, "-"):
			a, b, _ := strings.Cut(p, "-")
			x, err1 := strconv.Atoi(a)
			y, err2 := strconv.Atoi(b)
			if err1 != nil || err2 != nil || x < 0 || y > 255 || x > y {
				return nil, fmt.Errorf("%q: bad range %q", s, p)
			}
			lo[i], hi[i] = x, y
		default:
			x, err := strconv.Atoi(p)
			if err != nil || x < 0 || x > 255 {
				return nil, fmt.Errorf("%q: bad octet %q", s, p)
			}
			lo[i], hi[i] = x, x
		}
	}
	return func(a netip.Addr) bool {
		if !a.Is4() {
			return false
		}
		b := a.As4()
		for i := range 4 {
			if int(b[i]) < lo[i] || int(b[i]) > hi[i] {
				return false
			}
		}
		return true
	}, nil
}
