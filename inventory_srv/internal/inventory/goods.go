package inventory

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on input. They keep every sum the service computes far from int64 overflow and match
// the column sizes of the schema.
const (
	MaxNameLen       = 100               // runes; goods.name is VARCHAR(100)
	MaxPriceCents    = 10_000_000_000    // 100 million in major units
	MaxStock         = 1_000_000_000_000 // per goods
	MaxItemNum       = 1_000_000         // per item of one sell
	MaxItemsPerSell  = 100               // distinct goods in one sell
	MaxGoodsPerQuery = 100               // ids in one goods query
	MaxOrderSNLen    = 64                // stock_sell_details.order_sn is VARCHAR(64)
)

// Goods is one thing the shop sells. PriceCents is the unit price in minor units.
type Goods struct {
	ID         int64
	Name       string
	PriceCents int64
	Stock      int64
	CreatedAt  time.Time // set by the store
	UpdatedAt  time.Time // set by the store
}

// Validate reports every problem of g at once as a *ValidationError, or nil. Name must already
// be trimmed of surrounding white space (NewGoods does that).
func (g Goods) Validate() error {
	var v ValidationError
	v.check(g.ID > 0, "id must be positive")
	switch n := utf8.RuneCountInString(g.Name); {
	case !utf8.ValidString(g.Name):
		v.add("name must be valid UTF-8")
	case strings.TrimSpace(g.Name) == "":
		v.add("name must not be empty")
	case g.Name != strings.TrimSpace(g.Name):
		v.add("name must not start or end with white space")
	case n > MaxNameLen:
		v.add(fmt.Sprintf("name must be at most %d characters, got %d", MaxNameLen, n))
	}
	v.check(g.PriceCents >= 0 && g.PriceCents <= MaxPriceCents,
		fmt.Sprintf("price_cents must be between 0 and %d", int64(MaxPriceCents)))
	v.check(g.Stock >= 0 && g.Stock <= MaxStock,
		fmt.Sprintf("stock must be between 0 and %d", int64(MaxStock)))
	return v.err()
}

// NewGoods returns the goods with the name trimmed, validated.
func NewGoods(id int64, name string, priceCents, stock int64) (Goods, error) {
	g := Goods{ID: id, Name: strings.TrimSpace(name), PriceCents: priceCents, Stock: stock}
	if err := g.Validate(); err != nil {
		return Goods{}, err
	}
	return g, nil
}

// validateIDs checks the ids of a goods query and returns them without duplicates, in the order
// given.
func validateIDs(ids []int64) ([]int64, error) {
	var v ValidationError
	v.check(len(ids) > 0, "ids must not be empty")
	unique := make([]int64, 0, len(ids))
	seen := make(map[int64]bool, len(ids))
	for _, id := range ids {
		if id <= 0 {
			v.add(fmt.Sprintf("id %d must be positive", id))
			continue
		}
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	v.check(len(unique) <= MaxGoodsPerQuery,
		fmt.Sprintf("at most %d ids per query, got %d", MaxGoodsPerQuery, len(unique)))
	if err := v.err(); err != nil {
		return nil, err
	}
	return unique, nil
}
