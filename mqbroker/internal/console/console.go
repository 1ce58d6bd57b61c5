// Package console serves mqbroker's web console: server-rendered HTML pages
// (html/template, embedded, no external assets) over a Source the broker
// implements — topics and queues, consumer groups with per-queue lag and
// retry/dead-letter depth, undecided half messages, delay levels, message
// lookup with each message's trace, and live send/consume rates.
//
// The overview page polls GET /api/stats (Stats as JSON) every two seconds;
// the host serves it next to the pages. The console must not import the
// broker: it sees only Source.
package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

//go:embed templates/*.html
var templateFS embed.FS

// Options configures a Console.
type Options struct {
	// TimelineURL links a message key (an order number in shopsaga) to its
	// timeline: "{key}" is replaced by the path-escaped key. "" shows no link.
	TimelineURL string
	Now         func() time.Time // default time.Now; ages are computed from it
	Logger      *slog.Logger     // default: discard
}

// ValidateTimelineURL reports whether u is usable as Options.TimelineURL.
func ValidateTimelineURL(u string) error {
	if u == "" {
		return nil
	}
	if !strings.Contains(u, "{key}") {
		return fmt.Errorf("timeline url %q: must contain {key}", u)
	}
	p, err := url.Parse(strings.ReplaceAll(u, "{key}", "k"))
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("timeline url %q: want an absolute http(s) URL", u)
	}
	return nil
}

// Console renders the pages. It is safe for concurrent use.
type Console struct {
	src   Source
	opts  Options
	pages map[string]*template.Template
}

// New parses the templates; it fails only on a bad TimelineURL.
func New(src Source, opts Options) (*Console, error) {
	if err := ValidateTimelineURL(opts.TimelineURL); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{src: src, opts: opts, pages: make(map[string]*template.Template)}
	layout := template.Must(template.New("layout.html").Funcs(c.funcs()).ParseFS(templateFS, "templates/layout.html"))
	for _, p := range []string{"index", "topics", "groups", "transactions", "delays", "messages", "message", "error"} {
		c.pages[p] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+p+".html"))
	}
	return c, nil
}

// Register adds the pages to mux:
//
//	GET /                  overview with live rates
//	GET /topics            topics and queues with min/max offsets
//	GET /groups            consumer groups: members, per-queue lag, retry and DLQ depth
//	GET /transactions      undecided half messages: age, checks
//	GET /delays            pending delayed messages per level with due times
//	GET /messages?key=K    every stored copy of a message by UNIQ_KEY or key
//	GET /messages/{id}     one message: body, properties, trace
func (c *Console) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", c.index)
	mux.HandleFunc("GET /topics", c.topics)
	mux.HandleFunc("GET /groups", c.groups)
	mux.HandleFunc("GET /transactions", c.transactions)
	mux.HandleFunc("GET /delays", c.delays)
	mux.HandleFunc("GET /messages", c.messages)
	mux.HandleFunc("GET /messages/{id}", c.message)
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string
	Now   time.Time
	Data  any
}

func (c *Console) render(w http.ResponseWriter, status int, name, title string, data any) {
	var buf bytes.Buffer
	err := c.pages[name].ExecuteTemplate(&buf, "layout.html", page{Title: title, Nav: name, Now: c.opts.Now(), Data: data})
	if err != nil {
		c.opts.Logger.Error("render console page", "page", name, "err", err)
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (c *Console) renderError(w http.ResponseWriter, status int, msg string) {
	c.render(w, status, "error", http.StatusText(status), msg)
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "index", "Overview", c.src.Stats())
}

// topicRow groups a topic's queues.
type topicRow struct {
	Topic    string
	System   bool
	Messages int64
	Queues   []Queue
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request) {
	var rows []topicRow
	for _, q := range c.src.Queues() {
		if len(rows) == 0 || rows[len(rows)-1].Topic != q.Topic {
			rows = append(rows, topicRow{Topic: q.Topic, System: isSystemTopic(q.Topic)})
		}
		t := &rows[len(rows)-1]
		t.Messages += q.MaxOffset - q.MinOffset
		t.Queues = append(t.Queues, q)
	}
	// Application topics first; the broker's own below.
	sort.SliceStable(rows, func(i, j int) bool { return !rows[i].System && rows[j].System })
	c.render(w, http.StatusOK, "topics", "Topics", rows)
}

func isSystemTopic(t string) bool {
	return strings.HasPrefix(t, "%RETRY%") || strings.HasPrefix(t, "%DLQ%") ||
		strings.HasPrefix(t, "RMQ_SYS_") || t == "SCHEDULE_TOPIC_XXXX" || t == "TBW102"
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "groups", "Consumer groups", c.src.Groups())
}

func (c *Console) transactions(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "transactions", "Half messages", c.src.Halves())
}

func (c *Console) delays(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "delays", "Delayed messages", c.src.Delays())
}

type lookupPage struct {
	Key      string
	Messages []Message
}

func (c *Console) messages(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimSpace(r.URL.Query().Get("key"))
	if key == "" {
		c.render(w, http.StatusOK, "messages", "Messages", lookupPage{})
		return
	}
	ms := c.src.Lookup(key)
	if len(ms) == 0 {
		// The search box also takes offset message ids.
		if _, ok := c.src.Message(key); ok {
			http.Redirect(w, r, "/messages/"+url.PathEscape(key), http.StatusSeeOther)
			return
		}
	}
	c.render(w, http.StatusOK, "messages", "Messages", lookupPage{Key: key, Messages: ms})
}

func (c *Console) message(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m, ok := c.src.Message(id)
	if !ok {
		c.renderError(w, http.StatusNotFound, "no message with id "+id)
		return
	}
	c.render(w, http.StatusOK, "message", "Message "+id, m)
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"timeline": c.timelineURL,
		"keys": func(props map[string]string) []string {
			return strings.Fields(props["KEYS"])
		},
		"since": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return humanDuration(c.opts.Now().Sub(t))
		},
		"until": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			d := t.Sub(c.opts.Now())
			if d <= 0 {
				return "due"
			}
			return "in " + humanDuration(d)
		},
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.Local().Format("2006-01-02 15:04:05.000")
		},
		"millis": func(ms int64) string {
			if ms == 0 {
				return "—"
			}
			return time.UnixMilli(ms).Local().Format("2006-01-02 15:04:05.000")
		},
		"rate":    func(f float64) string { return fmt.Sprintf("%.1f", f) },
		"bytes":   humanBytes,
		"body":    printableBody,
		"sorted":  sortedProps,
		"pathesc": url.PathEscape,
		"offsetText": func(o int64) string {
			if o < 0 {
				return "—"
			}
			return fmt.Sprint(o)
		},
	}
}

// timelineURL returns the timeline link of key, or "" when none is configured.
func (c *Console) timelineURL(key string) string {
	if c.opts.TimelineURL == "" || key == "" {
		return ""
	}
	return strings.ReplaceAll(c.opts.TimelineURL, "{key}", url.PathEscape(key))
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func humanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// printableBody shows a body as text, or quoted when it is not valid UTF-8
// (a compressed body, say).
func printableBody(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return fmt.Sprintf("%q", s)
}

type prop struct{ Name, Value string }

func sortedProps(m map[string]string) []prop {
	out := make([]prop, 0, len(m))
	for k, v := range m {
		out = append(out, prop{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
