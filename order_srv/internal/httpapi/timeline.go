package httpapi

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// timelineJSON is the answer of GET /v1/orders/{order_sn}/timeline.
type timelineJSON struct {
	OrderSN string     `json:"order_sn"`
	Steps   []stepJSON `json:"steps"`
}

type stepJSON struct {
	Step   string    `json:"step"`
	Detail string    `json:"detail"`
	At     time.Time `json:"at"`
}

func (h *handlers) timeline(c *gin.Context) {
	sn := c.Param("order_sn")
	steps, err := h.svc.Timeline(c.Request.Context(), sn)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := timelineJSON{OrderSN: sn, Steps: make([]stepJSON, len(steps))}
	for i, st := range steps {
		out.Steps[i] = stepJSON{Step: string(st.Step), Detail: st.Detail, At: st.At.UTC()}
	}
	c.JSON(http.StatusOK, out)
}

//go:embed timeline.html
var timelineHTML string

var timelinePage = template.Must(template.New("timeline").Parse(timelineHTML))

// timelineView is what timeline.html renders.
type timelineView struct {
	OrderSN string
	Status  string // "" when there is no order (the saga failed before committing one)
	Steps   []stepView
}

type stepView struct {
	Step     string
	Detail   string
	At       string // absolute, UTC, ms
	Since    string // since the first step
	Gap      string // since the previous step
	Kind     string // CSS class: ok, fail, check, timeout
	Terminal bool
}

func (h *handlers) timelinePage(c *gin.Context) {
	ctx := c.Request.Context()
	sn := c.Param("order_sn")
	steps, err := h.svc.Timeline(ctx, sn)
	if err != nil {
		h.writeError(c, err)
		return
	}
	view := timelineView{OrderSN: sn}
	switch o, err := h.svc.Order(ctx, sn); {
	case err == nil:
		view.Status = string(o.Status)
	case !errors.Is(err, order.ErrNotFound):
		h.writeError(c, err)
		return
	}
	for i, st := range steps {
		v := stepView{Step: string(st.Step), Detail: st.Detail, At: st.At.UTC().Format("2006-01-02 15:04:05.000 UTC"), Kind: stepKind(st.Step)}
		if i > 0 {
			v.Since = relative(st.At.Sub(steps[0].At))
			v.Gap = relative(st.At.Sub(steps[i-1].At))
		}
		view.Steps = append(view.Steps, v)
	}
	var buf bytes.Buffer
	if err := timelinePage.Execute(&buf, view); err != nil {
		h.writeError(c, fmt.Errorf("render timeline: %w", err))
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

// stepKind colours a step on the page.
func stepKind(s app.Step) string {
	switch s {
	case app.StepLocalFailed, app.StepStockReturnRequested, app.StepClosed:
		return "fail"
	case app.StepCheckBackAsked, app.StepCheckBackAnswered:
		return "check"
	case app.StepTimeoutScheduled, app.StepTimeoutFired:
		return "timeout"
	}
	return "ok"
}

// relative renders a duration for people: 850ms, 2.4s, 3m05s, 1h02m.
func relative(d time.Duration) string {
	switch {
	case d < 0:
		return "0ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
