package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// api talks to order_srv and inventory_srv over HTTP. It is safe for concurrent use.
type api struct {
	orderURL, inventoryURL string
	token                  string // bearer token of every request, if any
	http                   *http.Client
}

func newAPI(c Config) *api {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * c.Concurrency
	tr.MaxIdleConnsPerHost = 2 * c.Concurrency // one keep-alive connection per worker and service
	return &api{
		orderURL:     strings.TrimRight(c.OrderURL, "/"),
		inventoryURL: strings.TrimRight(c.InventoryURL, "/"),
		token:        c.Token,
		http:         &http.Client{Timeout: c.Timeout, Transport: tr},
	}
}

// close releases the idle connections.
func (a *api) close() { a.http.CloseIdleConnections() }

// line is one line of an order: pieces of one goods.
type line struct {
	GoodsID int64 `json:"goods_id"`
	Num     int64 `json:"num"`
}

// orderJSON is the part of order_srv's order answer loadgen reads.
type orderJSON struct {
	OrderSN string `json:"order_sn"`
	UserID  int64  `json:"user_id"`
	Status  string `json:"status"`
	Post    string `json:"post"`
	Items   []line `json:"items"`
}

// Order statuses of order_srv.
const (
	statusWaitBuyerPay = "WAIT_BUYER_PAY"
	statusTradeClosed  = "TRADE_CLOSED"
)

type orderRequest struct {
	UserID       int64  `json:"user_id"`
	Address      string `json:"address"`
	SignerName   string `json:"signer_name"`
	SignerMobile string `json:"signer_mobile"`
	Post         string `json:"post"`
	Items        []line `json:"items"`
}

type goodsJSON struct {
	ID    int64 `json:"id"`
	Stock int64 `json:"stock"`
}

// errorBody is the services' error answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// answer is an HTTP answer: the status, the error code of an error answer, the body.
type answer struct {
	status int
	code   string // "" unless the body is an error answer
	body   []byte
}

func (a answer) String() string {
	if a.code != "" {
		return fmt.Sprintf("%d %s", a.status, a.code)
	}
	return strconv.Itoa(a.status)
}

// do sends in (JSON, unless nil) and reads the whole answer. An error means no answer was read.
func (a *api) do(ctx context.Context, method, url string, in any, header http.Header) (answer, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return answer{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return answer{}, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: read the answer: %w", method, url, err)
	}
	ans := answer{status: resp.StatusCode, body: raw}
	if resp.StatusCode >= 400 {
		var e errorBody
		if json.Unmarshal(raw, &e) == nil {
			ans.code = e.Error.Code
		}
	}
	return ans, nil
}

// expect decodes an answer with status want into out (unless nil), or describes what came.
func expect(what string, ans answer, err error, out any, want ...int) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, w := range want {
		if ans.status == w {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(ans.body, out); err != nil {
				return fmt.Errorf("%s: answer %q: %w", what, truncate(ans.body), err)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: %s: %s", what, ans, truncate(ans.body))
}

func truncate(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// putGoods creates or resets goods id with stock pieces.
func (a *api) putGoods(ctx context.Context, id, priceCents, stock int64) error {
	body := map[string]any{"name": fmt.Sprintf("loadgen goods %d", id), "price_cents": priceCents, "stock": stock}
	ans, err := a.do(ctx, http.MethodPut, fmt.Sprintf("%s/v1/goods/%d", a.inventoryURL, id), body, nil)
	return expect(fmt.Sprintf("put goods %d", id), ans, err, nil, http.StatusOK, http.StatusCreated)
}

// stockBatch bounds the ids of one GET /v1/goods?ids=… (the URL's length).
const stockBatch = 200

// stocks returns the remaining stock of every goods in ids.
func (a *api) stocks(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	for start := 0; start < len(ids); start += stockBatch {
		batch := ids[start:min(start+stockBatch, len(ids))]
		parts := make([]string, len(batch))
		for i, id := range batch {
			parts[i] = strconv.FormatInt(id, 10)
		}
		u := a.inventoryURL + "/v1/goods?ids=" + url.QueryEscape(strings.Join(parts, ","))
		ans, err := a.do(ctx, http.MethodGet, u, nil, nil)
		var list struct {
			Goods      []goodsJSON `json:"goods"`
			MissingIDs []int64     `json:"missing_ids"`
		}
		if err := expect("list goods", ans, err, &list, http.StatusOK); err != nil {
			return nil, err
		}
		if len(list.MissingIDs) > 0 {
			return nil, fmt.Errorf("list goods: goods %v no longer exist", list.MissingIDs)
		}
		for _, g := range list.Goods {
			out[g.ID] = g.Stock
		}
	}
	return out, nil
}

// faultHeader asks order_srv (with ORDER_FAULTS=1) to fail the order's local transaction.
var faultHeader = http.Header{"X-Fault": {"fail-local-tx"}}

// createOrder posts an order; the answer is returned whatever its status, with its latency.
func (a *api) createOrder(ctx context.Context, req orderRequest, fault bool) (answer, time.Duration, error) {
	var h http.Header
	if fault {
		h = faultHeader
	}
	start := time.Now()
	ans, err := a.do(ctx, http.MethodPost, a.orderURL+"/v1/orders", req, h)
	return ans, time.Since(start), err
}

// pay sends the simulated payment callback of order sn.
func (a *api) pay(ctx context.Context, sn string) error {
	ans, err := a.do(ctx, http.MethodPost, a.orderURL+"/v1/orders/"+url.PathEscape(sn)+"/pay", nil, nil)
	return expect("pay "+sn, ans, err, nil, http.StatusOK)
}

// order returns order sn.
func (a *api) order(ctx context.Context, sn string) (orderJSON, error) {
	ans, err := a.do(ctx, http.MethodGet, a.orderURL+"/v1/orders/"+url.PathEscape(sn), nil, nil)
	var o orderJSON
	return o, expect("get order "+sn, ans, err, &o, http.StatusOK)
}

// ordersOfUser returns the first page of a user's orders (loadgen's users have at most one).
func (a *api) ordersOfUser(ctx context.Context, userID int64) ([]orderJSON, error) {
	u := fmt.Sprintf("%s/v1/orders?user_id=%d&page=1&page_size=10", a.orderURL, userID)
	ans, err := a.do(ctx, http.MethodGet, u, nil, nil)
	var list struct {
		Orders []orderJSON `json:"orders"`
	}
	return list.Orders, expect(fmt.Sprintf("orders of user %d", userID), ans, err, &list, http.StatusOK)
}
