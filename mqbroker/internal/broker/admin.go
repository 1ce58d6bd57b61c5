package broker

import (
	"encoding/json"
	"net/http"

	"github.com/shopsaga/shopsaga/mqbroker/internal/console"
	"github.com/shopsaga/shopsaga/mqbroker/internal/delay"
	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// adminHandler serves the admin HTTP server: JSON for scripts, the same
// data as server-rendered console pages (package console), and metrics.
//
//	GET /healthz                      200 when serving
//	GET /metrics                      Prometheus exposition format
//	GET /api/topics                   topics and queue offsets
//	GET /api/groups                   consumer groups (members, per-queue lag,
//	                                  retry/DLQ depth), committed offsets, producers
//	GET /api/transactions             undecided half messages with age and checks
//	GET /api/delays                   scheduled messages per level with due times
//	GET /api/messages?key=K           messages by UNIQ_KEY or KEYS, with stage and
//	                                  the groups that consumed them
//	GET /api/messages/{id}            a message by offset msg id or UNIQ_KEY, with its trace
//	GET /api/stats                    traffic totals and live send/consume rates
//	GET /, /topics, /groups, ...      console pages (see console.Console.Register)
func (b *Broker) adminHandler() http.Handler {
	mux := http.NewServeMux()
	v := b.view()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", b.metrics.handler())
	mux.HandleFunc("GET /api/topics", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.store.Queues())
	})
	mux.HandleFunc("GET /api/groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"groups": v.Groups(), "offsets": b.offsets.snapshot(),
			"producers": b.clients.producerGroups()})
	})
	mux.HandleFunc("GET /api/transactions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, v.Halves())
	})
	mux.HandleFunc("GET /api/delays", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, v.Delays())
	})
	mux.HandleFunc("GET /api/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, v.Stats())
	})
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if key == "" {
			writeJSON(w, http.StatusBadRequest, apiError("bad_request", "query parameter key is required"))
			return
		}
		writeJSON(w, http.StatusOK, v.Lookup(key))
	})
	mux.HandleFunc("GET /api/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if m, ok := v.Message(id); ok {
			writeJSON(w, http.StatusOK, m)
			return
		}
		writeJSON(w, http.StatusNotFound, apiError("not_found", "no message with id "+id))
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError("not_found", "no admin API endpoint "+r.Method+" "+r.URL.Path))
	})
	c, err := console.New(v, console.Options{TimelineURL: b.cfg.OrderTimelineURL, Now: b.clock.Now, Logger: b.log})
	if err != nil {
		// Unreachable: Config.Validate checked the URL.
		b.log.Error("console disabled", "err", err)
		return mux
	}
	c.Register(mux)
	return mux
}

// MessageView is a stored message as the admin API shows it.
type MessageView = console.Message

func (b *Broker) messageView(m *message.Message, d deliveries) MessageView {
	v := MessageView{MsgID: m.MsgID(), OffsetMsgID: message.OffsetMsgID(m.StoreHost, m.PhysicalOffset),
		Topic: m.Topic, QueueID: m.QueueID, QueueOffset: m.QueueOffset, CommitLogOffset: m.PhysicalOffset,
		StoreTimestamp: m.StoreTimestamp, BornTimestamp: m.BornTimestamp, ReconsumeTimes: m.ReconsumeTimes,
		SysFlag: m.SysFlag, Properties: m.Properties, Body: string(m.Body), Stage: stage(m)}
	if m.Topic != halfTopic && m.Topic != opTopic && m.Topic != delay.ScheduleTopic {
		v.DeliveredTo = d.deliveredTo(m.Topic, m.QueueID, m.QueueOffset)
	}
	return v
}

// maxTraceRecords bounds a key lookup of the admin HTTP API and console: a message's whole trace
// (original, half, scheduled, 16 retries, dead letter) fits many times; a key shared by many
// messages answers its oldest records only.
const maxTraceRecords = 256

// lookup returns every stored record (the original, its half, scheduled,
// retried and dead-lettered copies) whose UNIQ_KEY or KEYS equals key, in
// commit-log order, at most maxTraceRecords: the message's trace through the broker.
func (b *Broker) lookup(key string) []MessageView {
	offs := b.store.LookupKey(key, maxTraceRecords, nil)
	d := b.deliveries()
	out := make([]MessageView, 0, len(offs))
	for _, o := range offs {
		m, err := b.store.Read(o)
		if err != nil {
			continue
		}
		if m.UniqKey() == key || containsKey(m.Keys(), key) {
			out = append(out, b.messageView(m, d))
		}
	}
	return out
}

func containsKey(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

func apiError(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
