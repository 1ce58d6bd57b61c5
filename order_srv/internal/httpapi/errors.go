package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiError is an error the transport itself found (bad JSON, bad path, no route).
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// unavailableMessage and outcomeUnknownMessage replace the details of a 503 (they go to the log).
const (
	unavailableMessage    = "a dependency is unavailable; nothing was left behind, retry later"
	outcomeUnknownMessage = "the order's outcome is not known yet: it may have been created, and the saga settles it " +
		"within minutes (created and waiting for payment, or its stock returned); retry with the same Idempotency-Key, " +
		"or list your orders, to learn which"
)

// errorMapping is the one table from use-case errors to HTTP, checked in order with errors.Is.
var errorMapping = []struct {
	err    error
	status int
	code   string
}{
	{order.ErrInvalid, http.StatusBadRequest, "invalid_argument"},
	{app.ErrCartEmpty, http.StatusBadRequest, "cart_empty"},
	{order.ErrNotFound, http.StatusNotFound, "order_not_found"},
	{app.ErrGoodsNotFound, http.StatusNotFound, "goods_not_found"},
	{app.ErrInsufficientStock, http.StatusConflict, "insufficient_stock"},
	{order.ErrOrderClosed, http.StatusConflict, "order_closed"},
	{app.ErrRequestInProgress, http.StatusConflict, "request_in_progress"},
	{app.ErrIdempotencyKeyReused, http.StatusUnprocessableEntity, "idempotency_key_reused"},
	{app.ErrTooManyUnpaid, http.StatusConflict, "too_many_unpaid_orders"},
	{app.ErrAmountMismatch, http.StatusBadRequest, "amount_mismatch"},
	{app.ErrTradeNoReused, http.StatusConflict, "trade_no_reused"},
	{order.ErrPriceMismatch, http.StatusBadGateway, "bad_inventory_answer"},
	{app.ErrOutcomeUnknown, http.StatusServiceUnavailable, "outcome_unknown"},
	{app.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable"},
	{context.Canceled, http.StatusServiceUnavailable, "unavailable"},
}

// writeError answers err as JSON and stops the handler chain. Anything it does not recognise is
// a 500 whose details go to the log, not to the client.
func (h *handlers) writeError(c *gin.Context, err error) {
	body := errorBody{Error: errorJSON{Code: "internal", Message: "internal error; see the server log"}}
	status := http.StatusInternalServerError
	var api *apiError
	if errors.As(err, &api) {
		status, body.Error.Code, body.Error.Message = api.status, api.code, api.msg
	} else {
		for _, m := range errorMapping {
			if errors.Is(err, m.err) {
				status, body.Error.Code, body.Error.Message = m.status, m.code, err.Error()
				break
			}
		}
	}
	if status == http.StatusServiceUnavailable {
		body.Error.Message = unavailableMessage
		if body.Error.Code == "outcome_unknown" {
			body.Error.Message = outcomeUnknownMessage
		}
	}
	if status >= http.StatusInternalServerError {
		h.log.ErrorContext(c.Request.Context(), "request failed",
			"method", c.Request.Method, "path", c.Request.URL.Path, "status", status, "err", err)
	}
	c.AbortWithStatusJSON(status, body)
}
