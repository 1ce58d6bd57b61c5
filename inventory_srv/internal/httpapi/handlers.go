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
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shopsaga/shopsaga/internal/health"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

// maxBodyBytes bounds a request body; the largest valid one (a sell of MaxItemsPerSell items) is
// a few KiB.
const maxBodyBytes = 64 << 10

// readyTimeout bounds all readiness checks of one /readyz request together.
const readyTimeout = 2 * time.Second

type handlers struct {
	inv       Inventory
	readiness []Check
	log       *slog.Logger
	warning   string // shown on /readyz (authentication disabled)
}

func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, statusJSON{Status: "ok"})
}

func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if failed := health.Failures(ctx, h.readiness); len(failed) > 0 {
		h.log.WarnContext(ctx, "not ready", "failed", failed)
		writeError(c, h.log, errorf(http.StatusServiceUnavailable, "not_ready", "%s", strings.Join(failed, "; ")))
		return
	}
	c.JSON(http.StatusOK, statusJSON{Status: "ok", Warning: h.warning})
}

func (h *handlers) putGoods(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	var req putGoodsRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, h.log, err)
		return
	}
	var missing []string
	if req.Name == nil {
		missing = append(missing, "name")
	}
	if req.PriceCents == nil {
		missing = append(missing, "price_cents")
	}
	if req.Stock == nil {
		missing = append(missing, "stock")
	}
	if len(missing) > 0 {
		writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "missing field(s): %s", strings.Join(missing, ", ")))
		return
	}
	if req.ID != nil && *req.ID != id {
		writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "id %d in the body differs from id %d in the path", *req.ID, id))
		return
	}
	g, err := inventory.NewGoods(id, *req.Name, *req.PriceCents, *req.Stock)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	created, err := h.inv.PutGoods(c.Request.Context(), g)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	// Answer what is stored, timestamps included.
	g, err = h.inv.Goods(c.Request.Context(), id)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, toGoodsJSON(g))
}

func (h *handlers) getGoods(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	g, err := h.inv.Goods(c.Request.Context(), id)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, toGoodsJSON(g))
}

func (h *handlers) listGoods(c *gin.Context) {
	raw, ok := c.GetQuery("ids")
	if !ok {
		writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "query parameter ids is required, e.g. ?ids=1,2"))
		return
	}
	var ids []int64
	for part := range strings.SplitSeq(raw, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil {
			writeError(c, h.log, errorf(http.StatusBadRequest, "invalid_argument", "ids must be comma-separated integers, got %q", part))
			return
		}
		ids = append(ids, id)
	}
	found, missing, err := h.inv.GoodsList(c.Request.Context(), ids)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	out := goodsListJSON{Goods: make([]goodsJSON, len(found)), MissingIDs: missing}
	for i, g := range found {
		out.Goods[i] = toGoodsJSON(g)
	}
	if out.MissingIDs == nil {
		out.MissingIDs = []int64{}
	}
	c.JSON(http.StatusOK, out)
}

func (h *handlers) sell(c *gin.Context) {
	var req sellRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, h.log, err)
		return
	}
	items := make([]inventory.Item, len(req.Items))
	for i, it := range req.Items {
		items[i] = inventory.Item{GoodsID: it.GoodsID, Num: it.Num}
	}
	res, err := h.inv.Sell(c.Request.Context(), inventory.SellRequest{OrderSN: req.OrderSN, Items: items})
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, sellResponse{OrderSN: res.OrderSN, Items: toSoldItemsJSON(res.Items), Replayed: res.Replayed})
}

func (h *handlers) reback(c *gin.Context) {
	var req rebackRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, h.log, err)
		return
	}
	out, err := h.inv.Reback(c.Request.Context(), req.OrderSN)
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, rebackResponse{OrderSN: req.OrderSN, Outcome: out.String()})
}

func (h *handlers) sellDetail(c *gin.Context) {
	d, err := h.inv.SellDetail(c.Request.Context(), c.Param("order_sn"))
	if err != nil {
		writeError(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, sellDetailJSON{OrderSN: d.OrderSN, Status: d.Status.String(),
		Items: toSoldItemsJSON(d.Items), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt})
}

// pathID parses the {id} of a goods path.
func pathID(c *gin.Context) (int64, error) {
	raw := c.Param("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "invalid_argument", "goods id must be a positive integer, got %q", raw)
	}
	return id, nil
}

// decodeJSON reads exactly one JSON object into dst, strictly: no unknown fields, no trailing
// data, at most maxBodyBytes, and no content type that says the body is something else.
func decodeJSON(c *gin.Context, dst any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" && !jsonContentType(ct) {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "content type must be application/json, got %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return errorf(http.StatusBadRequest, "invalid_json", "unexpected data after the JSON object")
		}
		return nil
	}
	var (
		tooLarge  *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "invalid_json", "request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "invalid_json", "request body ends in the middle of the JSON")
	case errors.As(err, &syntaxErr):
		return errorf(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return errorf(http.StatusBadRequest, "invalid_json", "the body must be a JSON object, not %s", typeErr.Value)
		}
		return errorf(http.StatusBadRequest, "invalid_json", "field %s must be %s, got %s", typeErr.Field, jsonKind(typeErr), typeErr.Value)
	default: // unknown field, and the decoder's other complaints
		return errorf(http.StatusBadRequest, "invalid_json", "%v", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// jsonContentType accepts application/json and application/*+json, and also
// application/x-www-form-urlencoded: it is what "curl -d" sends unless told otherwise, and the
// body is parsed as JSON (and refused if it is not) anyway.
func jsonContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "application/x-www-form-urlencoded" ||
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// jsonKind names the expected JSON type of a type error in API terms.
func jsonKind(e *json.UnmarshalTypeError) string {
	switch e.Type.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	}
	return e.Type.String()
}

// recoverPanics turns a panic in a handler into a logged 500 instead of a dropped connection.
func (h *handlers) recoverPanics(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		h.log.ErrorContext(c.Request.Context(), "handler panicked", "panic", r, "stack", string(debug.Stack()))
		if !c.Writer.Written() {
			writeError(c, h.log, fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

// logRequests logs every request at debug level.
func (h *handlers) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	h.log.DebugContext(c.Request.Context(), "http request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "duration", time.Since(start))
}
