package main

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

// api is an HTTP/JSON client of the stack: the two services and the broker's admin API.
type api struct {
	client                  *http.Client
	admin, inventory, order string // base URLs
	token                   string // bearer token sent to the services (scopes admin and service)
}

func newAPI(p ports) *api {
	base := func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }
	return &api{client: &http.Client{Timeout: 30 * time.Second},
		admin: base(p.admin), inventory: base(p.inventory), order: base(p.order)}
}

// reply is an HTTP answer: its status, header and body, and the error code and message of an
// error body {"error":{"code","message"}}.
type reply struct {
	status  int
	header  http.Header
	body    []byte
	code    string
	message string
}

// call sends a request with an optional JSON body and returns the answer; the error is only
// for a request that got no answer. Extra headers come in name, value pairs.
func (a *api) call(ctx context.Context, method, url string, body any, header ...string) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" && !strings.HasPrefix(url, a.admin) { // the broker's admin API takes no token
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: b}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil {
			r.code, r.message = e.Error.Code, e.Error.Message
		}
	}
	return r, nil
}

// get GETs url and decodes a 2xx JSON answer into out (if not nil).
func (a *api) get(ctx context.Context, url string, out any) (int, reply, error) {
	r, err := a.call(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, r, err
	}
	if err := r.decode(out); err != nil {
		return r.status, r, fmt.Errorf("GET %s: %w", url, err)
	}
	return r.status, r, nil
}

// decode decodes a 2xx answer into out (if not nil).
func (r reply) decode(out any) error {
	if out == nil || r.status >= 300 {
		return nil
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		return fmt.Errorf("decode %s: %w", r.body, err)
	}
	return nil
}

// mustGet GETs url and fails unless the answer is 200.
func (a *api) mustGet(ctx context.Context, url string, out any) error {
	status, r, err := a.get(ctx, url, out)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s %s", url, status, r.code, r.message)
	}
	return nil
}

// The services' JSON, as much of it as the demo reads.
type (
	goods struct {
		ID         int64  `json:"id"`
		Name       string `json:"name"`
		PriceCents int64  `json:"price_cents"`
		Stock      int64  `json:"stock"`
	}
	line struct {
		GoodsID int64 `json:"goods_id"`
		Num     int64 `json:"num"`
	}
	orderRequest struct {
		UserID       int64  `json:"user_id"`
		Address      string `json:"address"`
		SignerName   string `json:"signer_name"`
		SignerMobile string `json:"signer_mobile"`
		Post         string `json:"post"`
		Items        []line `json:"items,omitempty"`
		FromCart     bool   `json:"from_cart,omitempty"`
	}
	orderJSON struct {
		OrderSN    string     `json:"order_sn"`
		UserID     int64      `json:"user_id"`
		Status     string     `json:"status"`
		TotalCents int64      `json:"total_cents"`
		Items      []line     `json:"items"`
		PaidAt     *time.Time `json:"paid_at"`
		ClosedAt   *time.Time `json:"closed_at"`
	}
	orderList struct {
		Orders []orderJSON `json:"orders"`
		Total  int64       `json:"total"`
	}
	sellDetail struct {
		OrderSN string `json:"order_sn"`
		Status  string `json:"status"` // deducted | returned
		Items   []line `json:"items"`
	}
)

func (a *api) putGoods(ctx context.Context, g goods) error {
	r, err := a.call(ctx, http.MethodPut, a.inventory+"/v1/goods/"+strconv.FormatInt(g.ID, 10),
		map[string]any{"name": g.Name, "price_cents": g.PriceCents, "stock": g.Stock})
	if err == nil && r.status >= 300 {
		err = fmt.Errorf("PUT goods %d: %d %s %s", g.ID, r.status, r.code, r.message)
	}
	return err
}

func (a *api) stock(ctx context.Context, id int64) (int64, error) {
	var g goods
	err := a.mustGet(ctx, a.inventory+"/v1/goods/"+strconv.FormatInt(id, 10), &g)
	return g.Stock, err
}

// sellDetail returns inventory's record of order sn, or found = false (404).
func (a *api) sellDetail(ctx context.Context, sn string) (d sellDetail, found bool, err error) {
	status, r, err := a.get(ctx, a.inventory+"/v1/stock/sell-details/"+url.PathEscape(sn), &d)
	switch {
	case err != nil:
		return d, false, err
	case status == http.StatusNotFound:
		return d, false, nil
	case status != http.StatusOK:
		return d, false, fmt.Errorf("sell detail %s: %d %s", sn, status, r.message)
	}
	return d, true, nil
}

func (a *api) putCart(ctx context.Context, userID, goodsID, num int64) (reply, error) {
	return a.call(ctx, http.MethodPut, fmt.Sprintf("%s/v1/users/%d/cart/%d", a.order, userID, goodsID), map[string]any{"num": num})
}

// cart returns the items in the cart of userID.
func (a *api) cart(ctx context.Context, userID int64) ([]line, error) {
	var c struct {
		Items []line `json:"items"`
	}
	err := a.mustGet(ctx, fmt.Sprintf("%s/v1/users/%d/cart", a.order, userID), &c)
	return c.Items, err
}

// createOrder POSTs an order with optional Idempotency-Key and X-Fault headers.
func (a *api) createOrder(ctx context.Context, req orderRequest, idemKey, fault string) (orderJSON, reply, error) {
	var h []string
	if idemKey != "" {
		h = append(h, "Idempotency-Key", idemKey)
	}
	if fault != "" {
		h = append(h, "X-Fault", fault)
	}
	var o orderJSON
	r, err := a.call(ctx, http.MethodPost, a.order+"/v1/orders", req, h...)
	if err == nil {
		err = r.decode(&o)
	}
	return o, r, err
}

// orderOf returns order sn, or found = false (404).
func (a *api) orderOf(ctx context.Context, sn string) (o orderJSON, found bool, err error) {
	status, r, err := a.get(ctx, a.order+"/v1/orders/"+url.PathEscape(sn), &o)
	switch {
	case err != nil:
		return o, false, err
	case status == http.StatusNotFound:
		return o, false, nil
	case status != http.StatusOK:
		return o, false, fmt.Errorf("order %s: %d %s", sn, status, r.message)
	}
	return o, true, nil
}

func (a *api) ordersOf(ctx context.Context, userID int64) (orderList, error) {
	var l orderList
	err := a.mustGet(ctx, fmt.Sprintf("%s/v1/orders?user_id=%d&page_size=100", a.order, userID), &l)
	return l, err
}

func (a *api) pay(ctx context.Context, sn string) (orderJSON, reply, error) {
	var o orderJSON
	r, err := a.call(ctx, http.MethodPost, a.order+"/v1/orders/"+url.PathEscape(sn)+"/pay", nil)
	if err == nil {
		err = r.decode(&o)
	}
	return o, r, err
}

// The broker's admin API.
type (
	brokerMessage struct {
		MsgID          string            `json:"msgId"`
		Topic          string            `json:"topic"`
		QueueID        int32             `json:"queueId"`
		QueueOffset    int64             `json:"queueOffset"`
		StoreTimestamp int64             `json:"storeTimestamp"`
		SysFlag        int32             `json:"sysFlag"`
		Properties     map[string]string `json:"properties"`
		Body           string            `json:"body"`
	}
	pendingHalf struct {
		Group    string    `json:"producerGroup"`
		Topic    string    `json:"topic"`
		MsgID    string    `json:"msgId"`
		StoredAt time.Time `json:"storedAt"`
		Checks   int       `json:"checks"`
	}
	consumerOffset struct {
		Group   string `json:"group"`
		Topic   string `json:"topic"`
		QueueID int32  `json:"queueId"`
		Offset  int64  `json:"offset"`
	}
)

func (m brokerMessage) stored() time.Time { return time.UnixMilli(m.StoreTimestamp) }

// messages returns every stored copy of the messages with key (UNIQ_KEY or KEYS), oldest first.
func (a *api) messages(ctx context.Context, key string) ([]brokerMessage, error) {
	var ms []brokerMessage
	err := a.mustGet(ctx, a.admin+"/api/messages?key="+url.QueryEscape(key), &ms)
	return ms, err
}

func (a *api) message(ctx context.Context, id string) (brokerMessage, error) {
	var m brokerMessage
	err := a.mustGet(ctx, a.admin+"/api/messages/"+url.PathEscape(id), &m)
	return m, err
}

// pendingHalves returns the undecided half messages.
func (a *api) pendingHalves(ctx context.Context) ([]pendingHalf, error) {
	var hs []pendingHalf
	err := a.mustGet(ctx, a.admin+"/api/transactions", &hs)
	return hs, err
}

// consumerOffsets returns the consumer groups' committed offsets.
func (a *api) consumerOffsets(ctx context.Context) ([]consumerOffset, error) {
	var g struct {
		Offsets []consumerOffset `json:"offsets"`
	}
	err := a.mustGet(ctx, a.admin+"/api/groups", &g)
	return g.Offsets, err
}
