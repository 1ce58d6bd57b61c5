package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Items names the short items of an insufficient_stock error.
	Items []shortageJSON `json:"items,omitempty"`
}

type shortageJSON struct {
	GoodsID   int64 `json:"goods_id"`
	Requested int64 `json:"requested"`
	Available int64 `json:"available"`
}

// apiError is an error the transport itself found (bad JSON, bad path, no route), with its
// status and code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// errorMapping is the one table from use-case errors to HTTP, checked in order with errors.Is.
var errorMapping = []struct {
	err    error
	status int
	code   string
}{
	{inventory.ErrInvalidInput, http.StatusBadRequest, "invalid_argument"},
	{inventory.ErrGoodsNotFound, http.StatusNotFound, "goods_not_found"},
	{inventory.ErrSellDetailNotFound, http.StatusNotFound, "sell_detail_not_found"},
	{inventory.ErrInsufficientStock, http.StatusConflict, "insufficient_stock"},
	{inventory.ErrOrderAlreadyReturned, http.StatusConflict, "order_already_returned"},
	{inventory.ErrOrderConflict, http.StatusConflict, "order_conflict"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable"},
	{context.Canceled, http.StatusServiceUnavailable, "unavailable"},
}

// writeError answers err as JSON and stops the handler chain. Anything it does not recognise is
// a 500 whose details go to the log, not to the client.
func writeError(c *gin.Context, log *slog.Logger, err error) {
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
	var invalid *inventory.ValidationError
	if errors.As(err, &invalid) {
		body.Error.Message = strings.Join(invalid.Problems, "; ")
	}
	var short *inventory.InsufficientStockError
	if errors.As(err, &short) {
		for _, s := range short.Items {
			body.Error.Items = append(body.Error.Items, shortageJSON(s))
		}
	}
	if status >= http.StatusInternalServerError {
		log.ErrorContext(c.Request.Context(), "request failed",
			"method", c.Request.Method, "path", c.Request.URL.Path, "status", status, "err", err)
	}
	c.AbortWithStatusJSON(status, body)
}
