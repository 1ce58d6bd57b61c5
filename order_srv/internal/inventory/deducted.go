package inventory

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
)

var _ app.DeductedSells = (*Client)(nil)

// DeductedSells implements app.DeductedSells over GET /v1/stock/sells?status=deducted.
func (c *Client) DeductedSells(ctx context.Context, after, before time.Time, cursor string, limit int) ([]string, string, error) {
	q := url.Values{}
	q.Set("status", "deducted")
	q.Set("created_before", before.UTC().Format(time.RFC3339Nano))
	if !after.IsZero() {
		q.Set("created_after", after.UTC().Format(time.RFC3339Nano))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	q.Set("limit", strconv.Itoa(limit))
	var resp struct {
		Sells []struct {
			OrderSN string `json:"order_sn"`
		} `json:"sells"`
		NextCursor string `json:"next_cursor"`
	}
	status, apiErr, err := c.do(ctx, http.MethodGet, "/v1/stock/sells?"+q.Encode(), nil, &resp)
	if err != nil {
		return nil, "", fmt.Errorf("list deducted sells: %w", err)
	}
	if status != http.StatusOK {
		return nil, "", fmt.Errorf("list deducted sells: inventory answered %d %s: %s", status, apiErr.Error.Code, apiErr.Error.Message)
	}
	out := make([]string, len(resp.Sells))
	for i, s := range resp.Sells {
		out[i] = s.OrderSN
	}
	return out, resp.NextCursor, nil
}
