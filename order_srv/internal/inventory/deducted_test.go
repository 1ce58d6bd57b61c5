package inventory_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/inventory"
)

func TestDeductedSells_asksForTheWindowAndCursor_andReadsThePage(t *testing.T) {
	t.Parallel()
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.Path + "?" + r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("cursor") == "bad" {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":"invalid_argument","message":"cursor"}}`)
			return
		}
		io.WriteString(w, `{"sells":[{"order_sn":"a","created_at":"2026-05-01T12:00:00Z"},{"order_sn":"b","created_at":"2026-05-01T12:00:01Z"}],"next_cursor":"17"}`)
	}))
	t.Cleanup(srv.Close)
	c, err := inventory.New(srv.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	after, before := time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC), time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sns, next, err := c.DeductedSells(context.Background(), after, before, "5", 2)
	if err != nil || len(sns) != 2 || sns[0] != "a" || sns[1] != "b" || next != "17" {
		t.Fatalf("page = %v %q %v", sns, next, err)
	}
	want := "/v1/stock/sells?created_after=2026-05-01T11%3A00%3A00Z&created_before=2026-05-01T12%3A00%3A00Z&cursor=5&limit=2&status=deducted"
	if query != want {
		t.Errorf("asked %s, want %s", query, want)
	}
	if _, _, err := c.DeductedSells(context.Background(), after, before, "bad", 2); err == nil {
		t.Error("a 400 must be an error")
	}
}
