package sqlstore

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Rows as stored; conversions to and from the domain live here, next to the table layout of
// migrations/order.

type orderRow struct {
	ID           uint64 `gorm:"primaryKey"`
	OrderSN      string
	UserID       int64
	Status       string
	TotalCents   int64
	Address      string
	SignerName   string
	SignerMobile string
	Post         string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	PaidAt       *time.Time
	ClosedAt     *time.Time
}

func (orderRow) TableName() string { return "orders" }

type orderItemRow struct {
	ID         uint64 `gorm:"primaryKey"`
	OrderSN    string
	GoodsID    int64
	Num        int32
	PriceCents int64
}

func (orderItemRow) TableName() string { return "order_items" }

type cartItemRow struct {
	UserID    int64 `gorm:"primaryKey"`
	GoodsID   int64 `gorm:"primaryKey"`
	Num       int32
	Checked   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (cartItemRow) TableName() string { return "cart_items" }

type idempotencyRow struct {
	UserID      int64  `gorm:"primaryKey"`
	IdemKey     string `gorm:"primaryKey"`
	RequestHash string
	OrderSN     string
	Outcome     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

func newOrderRow(o order.Order) orderRow {
	return orderRow{
		OrderSN:      string(o.SN),
		UserID:       o.UserID,
		Status:       string(o.Status),
		TotalCents:   o.TotalCents,
		Address:      o.Shipping.Address,
		SignerName:   o.Shipping.SignerName,
		SignerMobile: o.Shipping.SignerMobile,
		Post:         o.Shipping.Post,
		CreatedAt:    o.CreatedAt,
		UpdatedAt:    o.UpdatedAt,
		PaidAt:       o.PaidAt,
		ClosedAt:     o.ClosedAt,
	}
}

// orderColumns and itemColumns are the columns insertOrder writes (the ids are the tables').
var (
	orderColumns = []string{"order_sn", "user_id", "status", "total_cents", "address", "signer_name", "signer_mobile",
		"post", "created_at", "updated_at", "paid_at", "closed_at"}
	itemColumns = []string{"order_sn", "goods_id", "num", "price_cents"}
)

// orderValues are r's values for orderColumns.
func orderValues(r orderRow) []any {
	return []any{r.OrderSN, r.UserID, r.Status, r.TotalCents, r.Address,
		r.SignerName, r.SignerMobile, r.Post, r.CreatedAt, r.UpdatedAt, r.PaidAt, r.ClosedAt}
}

// insertOrder inserts o and its items on tx, one statement each.
func insertOrder(tx *gorm.DB, o order.Order) error {
	r := newOrderRow(o)
	err := insertRows(tx, "orders", orderColumns, [][]any{orderValues(r)})
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	items := make([][]any, len(o.Items))
	for i, it := range o.Items {
		items[i] = []any{string(o.SN), it.GoodsID, it.Num, it.PriceCents}
	}
	if err := insertRows(tx, "order_items", itemColumns, items); err != nil {
		return fmt.Errorf("insert order items: %w", err)
	}
	return nil
}

func (r orderRow) domain(items []orderItemRow) (order.Order, error) {
	st, err := order.ParseStatus(r.Status)
	if err != nil {
		return order.Order{}, fmt.Errorf("order %s: stored %w", r.OrderSN, err)
	}
	o := order.Order{
		SN:         order.SN(r.OrderSN),
		UserID:     r.UserID,
		Status:     st,
		TotalCents: r.TotalCents,
		Shipping: order.Shipping{
			Address:      r.Address,
			SignerName:   r.SignerName,
			SignerMobile: r.SignerMobile,
			Post:         r.Post,
		},
		CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt,
		PaidAt:    r.PaidAt,
		ClosedAt:  r.ClosedAt,
		Items:     make([]order.Item, len(items)),
	}
	for i, it := range items {
		o.Items[i] = order.Item{GoodsID: it.GoodsID, Num: it.Num, PriceCents: it.PriceCents}
	}
	return o, nil
}
