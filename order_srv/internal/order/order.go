package order

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what one order may contain.
const (
	MaxLines      = 100    // distinct goods per order
	MaxNumPerLine = 10_000 // pieces of one goods per order
	maxAddressLen = 255
	maxNameLen    = 64
	maxMobileLen  = 32
	maxPostLen    = 255
	maxPriceCents = 100_000_000_000 // one billion currency units per piece
)

// Line is one requested position: which goods and how many, not yet priced.
type Line struct {
	GoodsID int64
	Num     int32
}

// Item is a priced position of an order. The price comes from inventory's sell answer, never
// from the client.
type Item struct {
	GoodsID    int64
	Num        int32
	PriceCents int64
}

// Shipping is where and to whom an order goes. Post is the buyer's free-text note (the original
// course's 留言 field).
type Shipping struct {
	Address      string
	SignerName   string
	SignerMobile string
	Post         string
}

// Order is an order with its items. Create one with New; change its status only through Pay
// and Close.
type Order struct {
	SN         SN
	UserID     int64
	Status     Status
	TotalCents int64
	Shipping   Shipping
	Items      []Item
	CreatedAt  time.Time
	UpdatedAt  time.Time
	PaidAt     *time.Time
	ClosedAt   *time.Time
}

// ValidateUserID checks a user id taken from a request.
func ValidateUserID(id int64) error { return invalid(userProblems(id)) }

// ValidateGoodsID checks a goods id taken from a request.
func ValidateGoodsID(id int64) error {
	if id <= 0 {
		return invalid([]string{"goods_id must be a positive integer"})
	}
	return nil
}

// ValidateLines checks the requested lines: 1..MaxLines lines, positive ids, 1..MaxNumPerLine
// pieces, no goods twice. Every problem is reported at once.
func ValidateLines(lines []Line) error { return invalid(lineProblems(lines)) }

// Validate checks the shipping fields, reporting every problem at once.
func (s Shipping) Validate() error { return invalid(shippingProblems(s)) }

// ValidateRequest checks everything a client sends to create an order and reports every problem
// at once.
func ValidateRequest(userID int64, ship Shipping, lines []Line) error {
	p := userProblems(userID)
	p = append(p, shippingProblems(ship)...)
	return invalid(append(p, lineProblems(lines)...))
}

func userProblems(id int64) []string {
	if id <= 0 {
		return []string{"user_id must be a positive integer"}
	}
	return nil
}

func lineProblems(lines []Line) []string {
	if len(lines) == 0 {
		return []string{"items must not be empty"}
	}
	if len(lines) > MaxLines {
		return []string{fmt.Sprintf("at most %d items per order", MaxLines)}
	}
	var p []string
	seen := make(map[int64]bool, len(lines))
	for i, l := range lines {
		if l.GoodsID <= 0 {
			p = append(p, fmt.Sprintf("items[%d].goods_id must be a positive integer", i))
		} else if seen[l.GoodsID] {
			p = append(p, fmt.Sprintf("items[%d].goods_id %d appears twice", i, l.GoodsID))
		}
		seen[l.GoodsID] = true
		if l.Num <= 0 || l.Num > MaxNumPerLine {
			p = append(p, fmt.Sprintf("items[%d].num must be between 1 and %d", i, MaxNumPerLine))
		}
	}
	return p
}

func shippingProblems(s Shipping) []string {
	var p []string
	check := func(name, v string, max int, required bool) {
		switch {
		case required && strings.TrimSpace(v) == "":
			p = append(p, name+" is required")
		case !utf8.ValidString(v):
			p = append(p, name+" must be valid UTF-8")
		case utf8.RuneCountInString(v) > max:
			p = append(p, fmt.Sprintf("%s must be at most %d characters", name, max))
		}
	}
	check("address", s.Address, maxAddressLen, true)
	check("signer_name", s.SignerName, maxNameLen, true)
	check("signer_mobile", s.SignerMobile, maxMobileLen, true)
	check("post", s.Post, maxPostLen, false)
	for _, r := range s.SignerMobile {
		if !strings.ContainsRune("0123456789+-() ", r) {
			p = append(p, "signer_mobile may hold only digits, spaces and + - ( )")
			break
		}
	}
	return p
}

// PriceLines matches inventory's priced items against the requested lines and returns them in
// the lines' order. Anything but an exact match (same goods, same numbers, sane prices) is
// ErrPriceMismatch: the order must not be written from an answer it did not ask for.
func PriceLines(lines []Line, priced []Item) ([]Item, error) {
	if len(priced) != len(lines) {
		return nil, fmt.Errorf("%w: %d lines, %d priced items", ErrPriceMismatch, len(lines), len(priced))
	}
	byGoods := make(map[int64]Item, len(priced))
	for _, it := range priced {
		byGoods[it.GoodsID] = it
	}
	items := make([]Item, 0, len(lines))
	for _, l := range lines {
		it, ok := byGoods[l.GoodsID]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: goods %d not priced", ErrPriceMismatch, l.GoodsID)
		case it.Num != l.Num:
			return nil, fmt.Errorf("%w: goods %d: asked %d, sold %d", ErrPriceMismatch, l.GoodsID, l.Num, it.Num)
		case it.PriceCents < 0 || it.PriceCents > maxPriceCents:
			return nil, fmt.Errorf("%w: goods %d: price %d cents out of range", ErrPriceMismatch, l.GoodsID, it.PriceCents)
		}
		items = append(items, it)
	}
	return items, nil
}

// New returns an order waiting for payment, its total computed from the items.
func New(sn SN, userID int64, ship Shipping, items []Item, now time.Time) (Order, error) {
	if _, err := ParseSN(string(sn)); err != nil {
		return Order{}, err
	}
	lines := make([]Line, len(items))
	for i, it := range items {
		lines[i] = Line{GoodsID: it.GoodsID, Num: it.Num}
	}
	if err := ValidateRequest(userID, ship, lines); err != nil {
		return Order{}, err
	}
	var total int64
	for _, it := range items {
		if it.PriceCents < 0 || it.PriceCents > maxPriceCents {
			return Order{}, fmt.Errorf("%w: goods %d: price %d cents out of range", ErrInvalid, it.GoodsID, it.PriceCents)
		}
		total += it.PriceCents * int64(it.Num) // ≤ 10^11 · 10^4 · 100 lines: no overflow
	}
	now = now.UTC()
	return Order{
		SN:         sn,
		UserID:     userID,
		Status:     StatusWaitBuyerPay,
		TotalCents: total,
		Shipping:   ship,
		Items:      append([]Item(nil), items...),
		CreatedAt:  now,
		UpdatedAt:  now,
	}, nil
}

// Pay records a successful payment. Paying a paid order again changes nothing (payment callbacks
// are retried); paying a closed order is ErrOrderClosed.
func (o *Order) Pay(now time.Time) error {
	switch o.Status {
	case StatusTradeSuccess:
		return nil
	case StatusTradeClosed:
		return fmt.Errorf("pay order %s: %w", o.SN, ErrOrderClosed)
	}
	return o.moveTo(StatusTradeSuccess, now)
}

// Close closes an unpaid order (its payment time ran out). Closing a closed order again changes
// nothing (timeout messages may be delivered twice); closing a paid order is ErrOrderPaid.
func (o *Order) Close(now time.Time) error {
	switch o.Status {
	case StatusTradeClosed:
		return nil
	case StatusTradeSuccess:
		return fmt.Errorf("close order %s: %w", o.SN, ErrOrderPaid)
	}
	return o.moveTo(StatusTradeClosed, now)
}

func (o *Order) moveTo(next Status, now time.Time) error {
	if !o.Status.CanBecome(next) {
		return fmt.Errorf("%w: order %s cannot go from %s to %s", ErrInvalid, o.SN, o.Status, next)
	}
	now = now.UTC()
	o.Status = next
	o.UpdatedAt = now
	switch next {
	case StatusTradeSuccess:
		o.PaidAt = &now
	case StatusTradeClosed:
		o.ClosedAt = &now
	}
	return nil
}

// invalid joins rule violations into one error that wraps ErrInvalid, or returns nil.
func invalid(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
}
