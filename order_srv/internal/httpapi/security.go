package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/paynotify"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Who may call what (Options.Auth):
//
//	public          /healthz /readyz /metrics /openapi.json, POST /v1/payments/notify (signed)
//	the user (sub)  their cart; orders with their user_id; their orders, timelines and the
//	                payment simulator; another user's order number answers 404
//	admin           everything above for any user; the X-Fault header (ORDER_FAULTS=1)
//
// A user_id in a path, query or body that differs from the token's sub is 403; a missing user_id
// in POST /v1/orders or GET /v1/orders means the token's user.

// PaymentService is what the notify needs from the use cases; *app.Service implements it.
type PaymentService interface {
	ApplyPayment(ctx context.Context, n app.PaymentNotice) (app.Payment, error)
	Payments(ctx context.Context, sn string) ([]app.Payment, error)
}

// OrderLimiter decides whether a user may create an order now; *app.Limits implements it.
type OrderLimiter interface {
	AllowOrder(ctx context.Context, userID int64) error
}

// maxNotifyBytes bounds the body of a payment notify.
const maxNotifyBytes = 16 << 10

// principal returns the request's principal (set by Authenticate).
func principal(c *gin.Context) auth.Principal {
	p, _ := auth.From(c)
	return p
}

// ownUserPath (after Authenticate) answers 403 unless the token may act for path parameter uid.
func (h *handlers) ownUserPath(c *gin.Context) {
	uid, err := pathInt(c, "uid")
	if err != nil {
		h.writeError(c, err)
		return
	}
	if !principal(c).MayActFor(uid) {
		auth.Forbidden(c, fmt.Sprintf("the token is not user %d's", uid))
		return
	}
	c.Next()
}

// ownUserQuery (after Authenticate) fills a missing user_id query parameter with the token's user
// and answers 403 when it names another user.
func (h *handlers) ownUserQuery(c *gin.Context) {
	p := principal(c)
	q := c.Request.URL.Query() // not c.GetQuery: gin would cache the query before it is changed
	raw, ok := q["user_id"]
	if !ok && p.UserID > 0 {
		q.Set("user_id", strconv.FormatInt(p.UserID, 10))
		c.Request.URL.RawQuery = q.Encode()
		c.Next()
		return
	}
	for _, v := range raw { // every value: the handler reads the first, a proxy might read another
		if uid, err := strconv.ParseInt(v, 10, 64); err == nil && !p.MayActFor(uid) {
			auth.Forbidden(c, fmt.Sprintf("the token is not user %d's", uid))
			return
		}
	}
	c.Next() // a malformed user_id is the handler's 400
}

// ownOrderPath (after Authenticate) answers 404 unless path parameter order_sn is an order of the
// token's user; an admin sees every order, also the timeline of a saga that made none.
func (h *handlers) ownOrderPath(c *gin.Context) {
	p := principal(c)
	if p.Has(auth.ScopeAdmin) {
		c.Next()
		return
	}
	sn := c.Param("order_sn")
	o, err := h.svc.Order(c.Request.Context(), sn)
	if err == nil && !p.MayActFor(o.UserID) {
		err = fmt.Errorf("order %s: %w", sn, order.ErrNotFound) // existence does not leak
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Next()
}

// authorizeOrder defaults the order's user to the token's and refuses another user's (403),
// then applies the limits (429 with Retry-After, 409 too_many_unpaid_orders). It has answered
// when it returns false.
func (h *handlers) authorizeOrder(c *gin.Context, req *createOrderRequest) bool {
	p := principal(c)
	if req.UserID == 0 {
		req.UserID = p.UserID
	}
	if !p.MayActFor(req.UserID) {
		auth.Forbidden(c, fmt.Sprintf("the token is not user %d's", req.UserID))
		return false
	}
	if h.limits == nil || order.ValidateUserID(req.UserID) != nil {
		return true // an invalid user id is the use case's 400
	}
	err := h.limits.AllowOrder(c.Request.Context(), req.UserID)
	var rl *app.RateLimitedError
	switch {
	case err == nil:
		return true
	case errors.As(err, &rl):
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		h.writeError(c, errorf(http.StatusTooManyRequests, "rate_limited", "%s", rl.Error()))
	default:
		h.writeError(c, err)
	}
	return false
}

// paymentNotify is POST /v1/payments/notify: the provider's signed, form-encoded callback. It
// answers "success" (text/plain) when the payment is recorded or was already; anything else is
// a 4xx JSON error and changes nothing.
func (h *handlers) paymentNotify(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxNotifyBytes)
	if err := c.Request.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.writeError(c, errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds %d bytes", maxNotifyBytes))
			return
		}
		h.writeError(c, errorf(http.StatusBadRequest, "invalid_argument", "a form-encoded body is required: %v", err))
		return
	}
	if _, err := h.applyNotify(c, c.Request.PostForm); err != nil {
		h.writeError(c, err)
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte("success"))
}

// applyNotify verifies a notify's form fields and records its payment.
func (h *handlers) applyNotify(c *gin.Context, form map[string][]string) (app.Payment, error) {
	if h.payments == nil {
		return app.Payment{}, errorf(http.StatusNotFound, "not_found", "payments are not configured")
	}
	n, err := paynotify.Verify(h.notifySecret, form)
	switch {
	case errors.Is(err, paynotify.ErrBadSignature):
		h.log.WarnContext(c.Request.Context(), "payment notify refused", "err", err)
		return app.Payment{}, errorf(http.StatusBadRequest, "invalid_signature", "%v", err)
	case err != nil:
		return app.Payment{}, errorf(http.StatusBadRequest, "invalid_argument", "%v", err)
	}
	sn, err := order.ParseSN(n.OutTradeNo)
	if err != nil {
		return app.Payment{}, err
	}
	return h.payments.ApplyPayment(c.Request.Context(), app.PaymentNotice{
		OrderSN: sn, TradeNo: n.TradeNo, AmountCents: n.AmountCents, NotifyTime: n.NotifyTime})
}

// simulatePay is POST /v1/orders/{order_sn}/pay with ORDER_PAYMENT_SIMULATOR=1 (after
// Authenticate and ownOrderPath): it plays the provider, signing a notify of the order's total
// with one trade_no per order, and goes through the notify's path. It answers the order; a
// payment for an order its timeout closed is recorded to be refunded and answers 409
// order_closed.
func (h *handlers) simulatePay(c *gin.Context) {
	ctx := c.Request.Context()
	o, err := h.svc.Order(ctx, c.Param("order_sn"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	sum := sha256.Sum256([]byte(o.SN))
	form := paynotify.Signed(h.notifySecret, paynotify.Notice{
		OutTradeNo: string(o.SN), TradeNo: "SIM" + hex.EncodeToString(sum[:12]), AmountCents: o.TotalCents,
		TradeStatus: paynotify.TradeStatus, NotifyTime: time.Now(),
	})
	p, err := h.applyNotify(c, form)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if p.Status == app.PaymentToRefund {
		h.writeError(c, fmt.Errorf("pay order %s: %w (the payment is recorded to be refunded)", o.SN, order.ErrOrderClosed))
		return
	}
	if o, err = h.svc.Order(ctx, string(o.SN)); err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toOrderJSON(o))
}

// paymentJSON is a recorded payment in an order's answer.
type paymentJSON struct {
	TradeNo     string    `json:"trade_no"`
	AmountCents int64     `json:"amount_cents"`
	Status      string    `json:"status"`
	NotifyTime  time.Time `json:"notify_time"`
	RecordedAt  time.Time `json:"recorded_at"`
}

// withPayments adds the order's recorded payments to its answer.
func (h *handlers) withPayments(c *gin.Context, out *orderJSON) error {
	if h.payments == nil {
		return nil
	}
	ps, err := h.payments.Payments(c.Request.Context(), out.OrderSN)
	for _, p := range ps {
		out.Payments = append(out.Payments, paymentJSON{TradeNo: p.TradeNo, AmountCents: p.AmountCents,
			Status: string(p.Status), NotifyTime: p.NotifyTime, RecordedAt: p.CreatedAt})
	}
	return err
}
