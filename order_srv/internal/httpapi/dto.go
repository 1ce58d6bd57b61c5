package httpapi

import (
	"math"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// putCartItemRequest is the body of PUT /v1/users/{uid}/cart/{goods_id}.
type putCartItemRequest struct {
	Num     *int64 `json:"num"`
	Checked *bool  `json:"checked"` // default true
}

type cartItemJSON struct {
	GoodsID int64 `json:"goods_id"`
	Num     int32 `json:"num"`
	Checked bool  `json:"checked"`
}

type cartJSON struct {
	UserID int64          `json:"user_id"`
	Items  []cartItemJSON `json:"items"`
}

// createOrderRequest is the body of POST /v1/orders.
type createOrderRequest struct {
	UserID       int64             `json:"user_id"`
	Address      string            `json:"address"`
	SignerName   string            `json:"signer_name"`
	SignerMobile string            `json:"signer_mobile"`
	Post         string            `json:"post"`
	Items        []lineRequestJSON `json:"items"`
	FromCart     bool              `json:"from_cart"`
}

type lineRequestJSON struct {
	GoodsID int64 `json:"goods_id"`
	Num     int64 `json:"num"`
}

type itemJSON struct {
	GoodsID    int64 `json:"goods_id"`
	Num        int32 `json:"num"`
	PriceCents int64 `json:"price_cents"`
}

type orderJSON struct {
	OrderSN      string     `json:"order_sn"`
	UserID       int64      `json:"user_id"`
	Status       string     `json:"status"`
	TotalCents   int64      `json:"total_cents"`
	Address      string     `json:"address"`
	SignerName   string     `json:"signer_name"`
	SignerMobile string     `json:"signer_mobile"`
	Post         string     `json:"post"`
	Items        []itemJSON `json:"items"`
	CreatedAt    time.Time  `json:"created_at"`
	PaidAt       *time.Time `json:"paid_at,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	// Payments are the provider's recorded payments (GET /v1/orders/{order_sn} only).
	Payments []paymentJSON `json:"payments,omitempty"`
}

type orderListJSON struct {
	Orders   []orderJSON `json:"orders"`
	Page     int         `json:"page"`
	PageSize int         `json:"page_size"`
	Total    int64       `json:"total"`
}

type statusJSON struct {
	Status  string `json:"status"`
	Warning string `json:"warning,omitempty"` // e.g. authentication is disabled
}

func toOrderJSON(o order.Order) orderJSON {
	out := orderJSON{
		OrderSN:      string(o.SN),
		UserID:       o.UserID,
		Status:       string(o.Status),
		TotalCents:   o.TotalCents,
		Address:      o.Shipping.Address,
		SignerName:   o.Shipping.SignerName,
		SignerMobile: o.Shipping.SignerMobile,
		Post:         o.Shipping.Post,
		Items:        make([]itemJSON, len(o.Items)),
		CreatedAt:    o.CreatedAt,
		PaidAt:       o.PaidAt,
		ClosedAt:     o.ClosedAt,
	}
	for i, it := range o.Items {
		out.Items[i] = itemJSON{GoodsID: it.GoodsID, Num: it.Num, PriceCents: it.PriceCents}
	}
	return out
}

func toCartJSON(userID int64, items []order.CartItem) cartJSON {
	out := cartJSON{UserID: userID, Items: make([]cartItemJSON, len(items))}
	for i, it := range items {
		out.Items[i] = cartItemJSON{GoodsID: it.GoodsID, Num: it.Num, Checked: it.Checked}
	}
	return out
}

// toNum narrows a JSON number to a piece count; anything out of int32 range becomes -1, which
// the domain rejects with the allowed range in its message.
func toNum(n int64) int32 {
	if n < math.MinInt32 || n > math.MaxInt32 {
		return -1
	}
	return int32(n)
}
