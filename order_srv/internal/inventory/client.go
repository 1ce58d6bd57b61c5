// Package inventory is order_srv's client of inventory_srv's HTTP API: it implements
// app.StockSeller (sell, reback) and app.GoodsCatalog over POST /v1/stock/sell,
// POST /v1/stock/reback and GET /v1/goods/{id}, translating inventory's error codes into the
// app package's sentinel errors.
//
// It must not import the transport, the database or the broker client.
package inventory

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

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// maxBody bounds an answer read from inventory.
const maxBody = 1 << 20

// Client calls inventory_srv. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
}

var (
	_ app.StockSeller  = (*Client)(nil)
	_ app.GoodsCatalog = (*Client)(nil)
)

// Option tunes a Client: it wraps the round tripper of the options before it.
type Option func(http.RoundTripper) http.RoundTripper

// WithToken sends a bearer token from ts with every call (order_srv's service token: minted
// from AUTH_JWT_SECRET or fetched by OAuth2 client credentials; ts caches it).
func WithToken(ts oauth2.TokenSource) Option {
	return func(base http.RoundTripper) http.RoundTripper { return &oauth2.Transport{Source: ts, Base: base} }
}

// WithTracing makes every call a client span of tp and sends the trace context along
// (traceparent), so inventory_srv continues the order's trace.
func WithTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) Option {
	return func(base http.RoundTripper) http.RoundTripper {
		return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // metrics are Prometheus's job here
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "inventory " + r.Method + " " + r.URL.Path }))
	}
}

// New returns a client of the inventory_srv at baseURL (e.g. http://127.0.0.1:8082). timeout
// bounds each call (the caller's context may bound it more).
func New(baseURL string, timeout time.Duration, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("inventory url %q: want http(s)://host[:port]", baseURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 512 // every order in flight calls inventory: keep the connections
	var rt http.RoundTripper = tr
	for _, opt := range opts {
		rt = opt(rt)
	}
	return &Client{
		base: strings.TrimRight(u.String(), "/"),
		http: &http.Client{Transport: rt, Timeout: timeout},
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

type itemJSON struct {
	GoodsID    int64 `json:"goods_id"`
	Num        int64 `json:"num"`
	PriceCents int64 `json:"price_cents,omitempty"`
}

type errorJSON struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Sell implements app.StockSeller.
func (c *Client) Sell(ctx context.Context, sn order.SN, lines []order.Line) ([]order.Item, error) {
	req := struct {
		OrderSN string     `json:"order_sn"`
		Items   []itemJSON `json:"items"`
	}{OrderSN: string(sn)}
	for _, l := range lines {
		req.Items = append(req.Items, itemJSON{GoodsID: l.GoodsID, Num: int64(l.Num)})
	}
	var resp struct {
		OrderSN string     `json:"order_sn"`
		Items   []itemJSON `json:"items"`
	}
	status, apiErr, err := c.do(ctx, http.MethodPost, "/v1/stock/sell", req, &resp)
	if err != nil {
		return nil, fmt.Errorf("sell %s: %w", sn, err)
	}
	switch {
	case status == http.StatusOK:
	case apiErr.Error.Code == "insufficient_stock":
		return nil, fmt.Errorf("%w: %s", app.ErrInsufficientStock, apiErr.Error.Message)
	case apiErr.Error.Code == "goods_not_found":
		return nil, fmt.Errorf("%w: %s", app.ErrGoodsNotFound, apiErr.Error.Message)
	case status >= 400 && status < 500:
		// A definite refusal (order_already_returned, order_conflict, invalid_argument):
		// inventory deducted nothing for this call.
		return nil, fmt.Errorf("sell %s: %w: %d %s: %s", sn, app.ErrSellRejected, status, apiErr.Error.Code, apiErr.Error.Message)
	default:
		return nil, fmt.Errorf("sell %s: inventory answered %d %s: %s", sn, status, apiErr.Error.Code, apiErr.Error.Message)
	}
	if resp.OrderSN != string(sn) {
		return nil, fmt.Errorf("sell %s: inventory answered for order %q", sn, resp.OrderSN)
	}
	items := make([]order.Item, len(resp.Items))
	for i, it := range resp.Items {
		if it.Num <= 0 || it.Num > order.MaxNumPerLine {
			return nil, fmt.Errorf("sell %s: inventory answered num %d for goods %d", sn, it.Num, it.GoodsID)
		}
		items[i] = order.Item{GoodsID: it.GoodsID, Num: int32(it.Num), PriceCents: it.PriceCents}
	}
	return items, nil
}

// Reback implements app.StockSeller.
func (c *Client) Reback(ctx context.Context, sn order.SN) error {
	req := struct {
		OrderSN string `json:"order_sn"`
	}{OrderSN: string(sn)}
	status, apiErr, err := c.do(ctx, http.MethodPost, "/v1/stock/reback", req, nil)
	if err != nil {
		return fmt.Errorf("reback %s: %w", sn, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("reback %s: inventory answered %d %s: %s", sn, status, apiErr.Error.Code, apiErr.Error.Message)
	}
	return nil
}

// CheckGoods implements app.GoodsCatalog.
func (c *Client) CheckGoods(ctx context.Context, goodsID int64) error {
	status, apiErr, err := c.do(ctx, http.MethodGet, "/v1/goods/"+strconv.FormatInt(goodsID, 10), nil, nil)
	switch {
	case err != nil:
		return fmt.Errorf("%w: look up goods %d: %v", app.ErrUnavailable, goodsID, err)
	case status == http.StatusOK:
		return nil
	case status == http.StatusNotFound:
		return fmt.Errorf("%w: %d", app.ErrGoodsNotFound, goodsID)
	}
	return fmt.Errorf("%w: look up goods %d: inventory answered %d %s", app.ErrUnavailable, goodsID, status, apiErr.Error.Code)
}

// do sends one JSON request. For a 2xx answer it decodes the body into out (if not nil); for
// any other status it decodes inventory's error body. err is set only when no answer was read.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (status int, apiErr errorJSON, err error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, apiErr, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, apiErr, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, apiErr, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, apiErr, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return 0, apiErr, fmt.Errorf("decode answer (%d): %w", resp.StatusCode, err)
			}
		}
		return resp.StatusCode, apiErr, nil
	}
	if err := json.Unmarshal(data, &apiErr); err != nil || apiErr.Error.Code == "" {
		apiErr.Error.Code = "unknown"
		apiErr.Error.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	return resp.StatusCode, apiErr, nil
}
