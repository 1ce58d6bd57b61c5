package httpapi

import (
	"time"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// putGoodsRequest is the body of PUT /v1/goods/{id}. Pointers tell a missing field from a zero.
type putGoodsRequest struct {
	ID         *int64  `json:"id"` // optional; must equal the path's id
	Name       *string `json:"name"`
	PriceCents *int64  `json:"price_cents"`
	Stock      *int64  `json:"stock"`
}

type goodsJSON struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	PriceCents int64     `json:"price_cents"`
	Stock      int64     `json:"stock"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func toGoodsJSON(g inventory.Goods) goodsJSON {
	return goodsJSON{ID: g.ID, Name: g.Name, PriceCents: g.PriceCents, Stock: g.Stock,
		CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
}

type goodsListJSON struct {
	Goods      []goodsJSON `json:"goods"`
	MissingIDs []int64     `json:"missing_ids"`
}

type itemJSON struct {
	GoodsID int64 `json:"goods_id"`
	Num     int64 `json:"num"`
}

// sellRequest is the body of POST /v1/stock/sell.
type sellRequest struct {
	OrderSN string     `json:"order_sn"`
	Items   []itemJSON `json:"items"`
}

type soldItemJSON struct {
	GoodsID    int64  `json:"goods_id"`
	Name       string `json:"name"`
	Num        int64  `json:"num"`
	PriceCents int64  `json:"price_cents"`
}

func toSoldItemsJSON(items []inventory.SoldItem) []soldItemJSON {
	out := make([]soldItemJSON, len(items))
	for i, it := range items {
		out[i] = soldItemJSON{GoodsID: it.GoodsID, Name: it.Name, Num: it.Num, PriceCents: it.PriceCents}
	}
	return out
}

type sellResponse struct {
	OrderSN string         `json:"order_sn"`
	Items   []soldItemJSON `json:"items"`
	// Replayed: the order had been sold before; this is the recorded answer and nothing was
	// deducted now.
	Replayed bool `json:"replayed"`
}

// rebackRequest is the body of POST /v1/stock/reback.
type rebackRequest struct {
	OrderSN string `json:"order_sn"`
}

type rebackResponse struct {
	OrderSN string `json:"order_sn"`
	Outcome string `json:"outcome"` // returned | already_returned | not_sold
}

type sellDetailJSON struct {
	OrderSN   string         `json:"order_sn"`
	Status    string         `json:"status"` // deducted | returned
	Items     []soldItemJSON `json:"items"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

type statusJSON struct {
	Status  string `json:"status"`
	Warning string `json:"warning,omitempty"` // e.g. authentication is disabled
}
