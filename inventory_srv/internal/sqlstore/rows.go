package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// sellDetailRow is a row of stock_sell_details; Detail is the JSON array of soldItemJSON.
type sellDetailRow struct {
	ID        int64  `gorm:"primaryKey"`
	OrderSN   string `gorm:"column:order_sn"`
	Status    int8
	Detail    string
	CreatedAt time.Time `gorm:"->"`
	UpdatedAt time.Time `gorm:"->"`
}

func (sellDetailRow) TableName() string { return "stock_sell_details" }

func (r sellDetailRow) domain() (inventory.SellDetail, error) {
	status := inventory.SellStatus(r.Status)
	if !status.Valid() {
		return inventory.SellDetail{}, fmt.Errorf("sell detail %s: unknown status %d", r.OrderSN, r.Status)
	}
	var items []soldItemJSON
	if err := json.Unmarshal([]byte(r.Detail), &items); err != nil {
		return inventory.SellDetail{}, fmt.Errorf("sell detail %s: decode detail: %w", r.OrderSN, err)
	}
	d := inventory.SellDetail{
		OrderSN: r.OrderSN, Status: status, Items: make([]inventory.SoldItem, len(items)),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	for i, it := range items {
		d.Items[i] = inventory.SoldItem{GoodsID: it.GoodsID, Name: it.Name, Num: it.Num, PriceCents: it.PriceCents}
	}
	return d, nil
}

// soldItemJSON is the stored form of one sold item. The field names are part of the schema:
// rename only with a migration.
type soldItemJSON struct {
	GoodsID    int64  `json:"goods_id"`
	Name       string `json:"name"`
	Num        int64  `json:"num"`
	PriceCents int64  `json:"price_cents"`
}

func encodeItems(items []inventory.SoldItem) (string, error) {
	out := make([]soldItemJSON, len(items))
	for i, it := range items {
		out[i] = soldItemJSON{GoodsID: it.GoodsID, Name: it.Name, Num: it.Num, PriceCents: it.PriceCents}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode sold items: %w", err)
	}
	return string(b), nil
}
