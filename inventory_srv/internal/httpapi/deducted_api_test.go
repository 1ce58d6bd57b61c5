package httpapi_test

import (
	"net/url"
	"testing"
	"time"
)

func TestDeductedSells_listsTheDeductedSellsBeforeT_andRejectsBadQueries(t *testing.T) {
	srv, _ := newAPI(t)
	mustStatus(t, do(t, srv, "PUT", "/v1/goods/1", `{"name":"Tea","price_cents":100,"stock":10}`), 201)
	for _, sn := range []string{"o-1", "o-2"} {
		mustStatus(t, do(t, srv, "POST", "/v1/stock/sell", `{"order_sn":"`+sn+`","items":[{"goods_id":1,"num":1}]}`), 200)
	}
	mustStatus(t, do(t, srv, "POST", "/v1/stock/reback", `{"order_sn":"o-2"}`), 200)
	before := url.QueryEscape(time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano))
	r := do(t, srv, "GET", "/v1/stock/sells?status=deducted&limit=1&created_before="+before, "")
	mustStatus(t, r, 200)
	sells, _ := r.body["sells"].([]any)
	if len(sells) != 1 || sells[0].(map[string]any)["order_sn"] != "o-1" || r.body["next_cursor"] == "" {
		t.Fatalf("first page %s, want o-1 and a cursor", r.raw)
	}
	r = do(t, srv, "GET", "/v1/stock/sells?status=deducted&limit=1&created_before="+before+"&cursor="+r.body["next_cursor"].(string), "")
	mustStatus(t, r, 200)
	if sells, _ := r.body["sells"].([]any); len(sells) != 0 || r.body["next_cursor"] != "" {
		t.Errorf("second page %s, want empty and the last", r.raw)
	}
	for _, q := range []string{
		"created_before=" + before,                          // no status
		"status=returned&created_before=" + before,          // only deducted is listed
		"status=deducted",                                   // no created_before
		"status=deducted&created_before=yesterday",          // not RFC 3339
		"status=deducted&limit=0&created_before=" + before,  // limit out of range
		"status=deducted&cursor=x&created_before=" + before, // bad cursor
	} {
		r := do(t, srv, "GET", "/v1/stock/sells?"+q, "")
		if r.status != 400 || r.errorCode(t) != "invalid_argument" {
			t.Errorf("%s: %d %s, want 400 invalid_argument", q, r.status, r.raw)
		}
	}
}
