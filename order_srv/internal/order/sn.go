package order

import (
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"time"
)

// SN is an order number: 32 decimal digits, the UTC creation time as YYYYMMDDhhmmss followed by
// 18 digits drawn uniformly from crypto/rand. It is fixed-width, sorts roughly by time, and is
// unique across instances without any coordination.
//
// Collision odds: two numbers collide only if they are created in the same second and draw the
// same 18 digits. With n orders in one second the chance is about n²/(2·10¹⁸): at a sustained
// 1,000 orders/s that is 5·10⁻¹³ per second, about one collision in 60,000 years. (With 12 random
// digits it would be ~16 collisions a year at that rate, which is why the suffix is 18 digits.)
// The saga depends on uniqueness: the number keys inventory's idempotent sell, the check-back
// barrier and every message.
type SN string

const (
	snTimeLayout = "20060102150405"
	snRandDigits = 18
	// SNLen is the length of every order number.
	SNLen = len(snTimeLayout) + snRandDigits
)

var snRandLimit = new(big.Int).Exp(big.NewInt(10), big.NewInt(snRandDigits), nil)

// NewSN returns a fresh order number for the time now, reading randomness from r
// (crypto/rand.Reader when r is nil).
func NewSN(now time.Time, r io.Reader) (SN, error) {
	if r == nil {
		r = rand.Reader
	}
	n, err := rand.Int(r, snRandLimit)
	if err != nil {
		return "", fmt.Errorf("order number: read random digits: %w", err)
	}
	return SN(fmt.Sprintf("%s%0*s", now.UTC().Format(snTimeLayout), snRandDigits, n.String())), nil
}

// ParseSN checks that s is a well-formed order number.
func ParseSN(s string) (SN, error) {
	if len(s) != SNLen {
		return "", fmt.Errorf("%w: order_sn must be %d digits", ErrInvalid, SNLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("%w: order_sn must be %d digits", ErrInvalid, SNLen)
		}
	}
	if _, err := time.Parse(snTimeLayout, s[:len(snTimeLayout)]); err != nil {
		return "", fmt.Errorf("%w: order_sn does not start with a timestamp", ErrInvalid)
	}
	return SN(s), nil
}

func (sn SN) String() string { return string(sn) }
