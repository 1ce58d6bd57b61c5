package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// defaultDeductedSellsLimit is the page size when the request names none.
const defaultDeductedSellsLimit = 500

type deductedSellJSON struct {
	OrderSN   string    `json:"order_sn"`
	CreatedAt time.Time `json:"created_at"`
}

type deductedSellsResponse struct {
	Sells []deductedSellJSON `json:"sells"`
	// NextCursor is the cursor of the next page; empty on the last one.
	NextCursor string `json:"next_cursor"`
}

// deductedSells serves GET /v1/stock/sells?status=deducted&created_before=T[&created_after=T]
// [&cursor=C][&limit=N]: the sells still deducted that were recorded in [created_after,
// created_before), a page at a time (times RFC 3339). It is for order_srv's reconciler — once
// authentication exists it requires the `service` scope.
func (h *handlers) deductedSells(c *gin.Context) {
	if st := c.Query("status"); st != "deducted" {
		writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "status must be deducted, got %q", st))
		return
	}
	q := inventory.DeductedSellsQuery{Limit: defaultDeductedSellsLimit}
	var err error
	if q.CreatedBefore, err = time.Parse(time.RFC3339Nano, c.Query("created_before")); err != nil {
		writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "created_before must be an RFC 3339 time, got %q", c.Query("created_before")))
		return
	}
	if v := c.Query("created_after"); v != "" {
		if q.CreatedAfter, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "created_after must be an RFC 3339 time, got %q", v))
			return
		}
	}
	if v := c.Query("cursor"); v != "" {
		if q.Cursor, err = strconv.ParseInt(v, 10, 64); err != nil {
			writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "cursor must be an integer, got %q", v))
			return
		}
	}
	if v := c.Query("limit"); v != "" {
		if q.Limit, err = strconv.Atoi(v); err != nil {
			writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "limit must be an integer, got %q", v))
			return
		}
	}
	page, err := h.inv.DeductedSells(c.Request.Context(), q)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	resp := deductedSellsResponse{Sells: make([]deductedSellJSON, len(page.Sells))}
	for i, s := range page.Sells {
		resp.Sells[i] = deductedSellJSON{OrderSN: s.OrderSN, CreatedAt: s.CreatedAt}
	}
	if page.NextCursor != 0 {
		resp.NextCursor = strconv.FormatInt(page.NextCursor, 10)
	}
	c.JSON(http.StatusOK, resp)
}
