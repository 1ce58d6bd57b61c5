package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/health"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// maxBodyBytes bounds a request body; the largest valid one (an order of order.MaxLines items)
// is a few KiB.
const maxBodyBytes = 64 << 10

// readyTimeout bounds all readiness checks of one /readyz request together.
const readyTimeout = 2 * time.Second

// Request and answer headers.
const (
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
	headerFault          = "X-Fault"
)

type handlers struct {
	svc       Service
	faults    bool
	readiness []Check
	log       *slog.Logger

	warning      string // shown on /readyz (authentication disabled)
	payments     PaymentService
	notifySecret string
	limits       OrderLimiter
}

func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, statusJSON{Status: "ok"})
}

func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if failed := health.Failures(ctx, h.readiness); len(failed) > 0 {
		h.log.WarnContext(ctx, "not ready", "failed", failed)
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, errorBody{Error: errorJSON{Code: "not_ready", Message: strings.Join(failed, "; ")}})
		return
	}
	c.JSON(http.StatusOK, statusJSON{Status: "ok", Warning: h.warning})
}

func (h *handlers) putCartItem(c *gin.Context) {
	uid, gid, err := userAndGoods(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	var req putCartItemRequest
	if err := decodeJSON(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	if req.Num == nil {
		h.writeError(c, errorf(http.StatusBadRequest, "invalid_argument", "missing field: num"))
		return
	}
	checked := req.Checked == nil || *req.Checked
	item, err := h.svc.PutCartItem(c.Request.Context(), uid, gid, toNum(*req.Num), checked)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, cartItemJSON{GoodsID: item.GoodsID, Num: item.Num, Checked: item.Checked})
}

func (h *handlers) cart(c *gin.Context) {
	uid, err := pathInt(c, "uid")
	if err != nil {
		h.writeError(c, err)
		return
	}
	items, err := h.svc.CartItems(c.Request.Context(), uid)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toCartJSON(uid, items))
}

func (h *handlers) deleteCartItem(c *gin.Context) {
	uid, gid, err := userAndGoods(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if err := h.svc.DeleteCartItem(c.Request.Context(), uid, gid); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *handlers) createOrder(c *gin.Context) {
	var req createOrderRequest
	if err := decodeJSON(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	if !h.authorizeOrder(c, &req) {
		return
	}
	cmd := app.CreateOrder{
		UserID: req.UserID,
		Shipping: order.Shipping{
			Address:      req.Address,
			SignerName:   req.SignerName,
			SignerMobile: req.SignerMobile,
			Post:         req.Post,
		},
		FromCart:       req.FromCart,
		IdempotencyKey: c.GetHeader(headerIdempotencyKey),
	}
	for _, l := range req.Items {
		cmd.Lines = append(cmd.Lines, order.Line{GoodsID: l.GoodsID, Num: toNum(l.Num)})
	}
	if !printableASCII(cmd.IdempotencyKey) {
		h.writeError(c, errorf(http.StatusBadRequest, "invalid_argument", "%s must be printable ASCII", headerIdempotencyKey))
		return
	}
	if h.faults {
		if c.GetHeader(headerFault) != "" && !principal(c).Has(auth.ScopeAdmin) {
			// A fault ends the process or fails a saga on purpose: not a buyer's to ask for.
			auth.Forbidden(c, headerFault+" needs a token of the admin scope")
			return
		}
		f, err := app.ParseFault(c.GetHeader(headerFault))
		if err != nil {
			h.writeError(c, err)
			return
		}
		cmd.Fault = f
	}
	created, err := h.svc.CreateOrder(c.Request.Context(), cmd)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if created.Replayed {
		c.Header(headerReplayed, "true")
	}
	c.JSON(http.StatusCreated, toOrderJSON(created.Order))
}

func (h *handlers) order(c *gin.Context) {
	o, err := h.svc.Order(c.Request.Context(), c.Param("order_sn"))
	if err == nil && !principal(c).MayActFor(o.UserID) {
		err = fmt.Errorf("order %s: %w", o.SN, order.ErrNotFound) // another user's: existence does not leak
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := toOrderJSON(o)
	if err := h.withPayments(c, &out); err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (h *handlers) ordersOfUser(c *gin.Context) {
	var problems []string
	query := func(name string, def int64) int64 {
		raw, ok := c.GetQuery(name)
		if !ok {
			if def == 0 {
				problems = append(problems, "query parameter "+name+" is required")
			}
			return def
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			problems = append(problems, fmt.Sprintf("query parameter %s must be an integer, got %q", name, raw))
		}
		return n
	}
	uid := query("user_id", 0)
	page := query("page", 1)
	size := query("page_size", 20)
	if len(problems) > 0 {
		h.writeError(c, errorf(http.StatusBadRequest, "invalid_argument", "%s", strings.Join(problems, "; ")))
		return
	}
	if page > 1<<20 || size > 1<<20 {
		page, size = 0, 0 // out of range: the use case explains the limits
	}
	p := app.Page{Number: int(page), Size: int(size)}
	orders, total, err := h.svc.OrdersOfUser(c.Request.Context(), uid, p)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := orderListJSON{Orders: make([]orderJSON, len(orders)), Page: p.Number, PageSize: p.Size, Total: total}
	for i, o := range orders {
		out.Orders[i] = toOrderJSON(o)
	}
	c.JSON(http.StatusOK, out)
}

func (h *handlers) pay(c *gin.Context) {
	o, err := h.svc.Pay(c.Request.Context(), c.Param("order_sn"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toOrderJSON(o))
}

// recoverPanics turns a panic in a handler into a 500 JSON answer (and a log entry with the
// stack), so a bug never drops a connection without an answer.
func (h *handlers) recoverPanics(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			h.log.ErrorContext(c.Request.Context(), "handler panicked", "panic", r, "stack", string(debug.Stack()))
			h.writeError(c, fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

func (h *handlers) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	h.log.DebugContext(c.Request.Context(), "request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "duration", time.Since(start))
}

// decodeJSON reads one JSON object into v: at most maxBodyBytes, no unknown fields, nothing
// after the object. The Content-Type must be JSON or absent — or curl -d's default
// application/x-www-form-urlencoded, as inventory_srv accepts, so the README's curl lines work.
func decodeJSON(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		isJSON := mt == "application/json" || mt == "application/x-www-form-urlencoded" ||
			strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
		if err != nil || !isJSON {
			return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json, got %q", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds %d bytes", maxBodyBytes)
		case errors.Is(err, io.EOF):
			return errorf(http.StatusBadRequest, "invalid_json", "request body is empty; want a JSON object")
		case errors.As(err, &syntax):
			return errorf(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d: %v", syntax.Offset, err)
		case errors.As(err, &typ):
			return errorf(http.StatusBadRequest, "invalid_json", "field %q must be a JSON %s, got %s", typ.Field, typ.Type, typ.Value)
		default:
			return errorf(http.StatusBadRequest, "invalid_json", "invalid JSON body: %v", err)
		}
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid_json", "request body holds more than one JSON value")
	}
	return nil
}

func pathInt(c *gin.Context, name string) (int64, error) {
	n, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, errorf(http.StatusBadRequest, "invalid_argument", "path parameter %s must be a positive integer, got %q", name, c.Param(name))
	}
	return n, nil
}

func userAndGoods(c *gin.Context) (uid, gid int64, err error) {
	uid, err = pathInt(c, "uid")
	if err == nil {
		gid, err = pathInt(c, "goods_id")
	}
	return uid, gid, err
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
