package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Item is one line of a sell request: how many units of which goods.
type Item struct {
	GoodsID int64
	Num     int64
}

// SoldItem is one line of a completed sell, with the goods name and the unit price charged at
// the time of the sell. The order service prices orders from these, never from its client.
type SoldItem struct {
	GoodsID    int64
	Name       string
	Num        int64
	PriceCents int64
}

// SellStatus is the state of a SellDetail. The set is closed: StatusDeducted and
// StatusReturned, and the only transition is Deducted → Returned.
type SellStatus int8

// The values are stored in stock_sell_details.status; never renumber them.
const (
	StatusDeducted SellStatus = 1 // the items were deducted from stock
	StatusReturned SellStatus = 2 // the items were returned to stock (or never deducted)
)

// Valid reports whether s is one of the defined statuses.
func (s SellStatus) Valid() bool { return s == StatusDeducted || s == StatusReturned }

// String returns "deducted" or "returned" (the API spelling).
func (s SellStatus) String() string {
	switch s {
	case StatusDeducted:
		return "deducted"
	case StatusReturned:
		return "returned"
	}
	return fmt.Sprintf("SellStatus(%d)", int8(s))
}

// SellDetail is the durable record of one order's deduction. Items are sorted by GoodsID and
// empty for a fence: the record a reback leaves for an order that was never sold.
type SellDetail struct {
	OrderSN   string
	Status    SellStatus
	Items     []SoldItem
	CreatedAt time.Time // set by the store
	UpdatedAt time.Time // set by the store
}

// sameItems reports whether d recorded exactly items (sorted by GoodsID, as normalised
// requests are).
func (d SellDetail) sameItems(items []Item) bool {
	return slices.EqualFunc(d.Items, items, func(s SoldItem, i Item) bool {
		return s.GoodsID == i.GoodsID && s.Num == i.Num
	})
}

// SellRequest asks to deduct Items for the order OrderSN.
type SellRequest struct {
	OrderSN string
	Items   []Item
}

// SellResult is the answer to a sell: the items with their unit prices. Replayed is true when the
// order had been sold before and this is the recorded answer (nothing was deducted this time).
type SellResult struct {
	OrderSN  string
	Items    []SoldItem
	Replayed bool
}

// normalize validates r, reporting every problem at once, and returns it with the items sorted
// by GoodsID: the order in which every transaction touches goods rows, so that concurrent
// multi-item sells and rebacks lock rows in the same order and cannot deadlock each other.
func (r SellRequest) normalize() (SellRequest, error) {
	var v ValidationError
	v.merge(ValidateOrderSN(r.OrderSN))
	v.check(len(r.Items) > 0, "items must not be empty")
	v.check(len(r.Items) <= MaxItemsPerSell,
		fmt.Sprintf("at most %d items per sell, got %d", MaxItemsPerSell, len(r.Items)))
	items := slices.Clone(r.Items)
	slices.SortFunc(items, func(a, b Item) int { return cmp.Compare(a.GoodsID, b.GoodsID) })
	for i, it := range items {
		v.check(it.GoodsID > 0, fmt.Sprintf("goods_id %d must be positive", it.GoodsID))
		v.check(it.Num > 0 && it.Num <= MaxItemNum,
			fmt.Sprintf("num of goods %d must be between 1 and %d, got %d", it.GoodsID, MaxItemNum, it.Num))
		v.check(i == 0 || items[i-1].GoodsID != it.GoodsID || it.GoodsID <= 0,
			fmt.Sprintf("goods %d is listed more than once", it.GoodsID))
	}
	if err := v.err(); err != nil {
		return SellRequest{}, err
	}
	return SellRequest{OrderSN: r.OrderSN, Items: items}, nil
}

// ValidateOrderSN checks an order number: 1 to MaxOrderSNLen characters from [A-Za-z0-9_-].
// Order numbers are case-sensitive. It returns a *ValidationError or nil.
func ValidateOrderSN(sn string) error {
	var v ValidationError
	switch {
	case sn == "":
		v.add("order_sn must not be empty")
	case len(sn) > MaxOrderSNLen:
		v.add(fmt.Sprintf("order_sn must be at most %d characters, got %d", MaxOrderSNLen, len(sn)))
	default:
		for _, c := range []byte(sn) {
			if !isOrderSNByte(c) {
				v.add("order_sn may only contain letters, digits, '-' and '_'")
				break
			}
		}
	}
	return v.err()
}

func isOrderSNByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// RebackOutcome says what a reback did.
type RebackOutcome int

const (
	// Returned: the order's items were added back to stock by this reback.
	Returned RebackOutcome = iota + 1
	// AlreadyReturned: an earlier reback returned the stock (or fenced the order); nothing changed.
	AlreadyReturned
	// NotSold: no sell was recorded for the order, so there was nothing to return; the order is
	// now recorded as returned, so a sell arriving later will not deduct.
	NotSold
)

// String returns the API spelling: "returned", "already_returned" or "not_sold".
func (o RebackOutcome) String() string {
	switch o {
	case Returned:
		return "returned"
	case AlreadyReturned:
		return "already_returned"
	case NotSold:
		return "not_sold"
	}
	return fmt.Sprintf("RebackOutcome(%d)", int(o))
}
