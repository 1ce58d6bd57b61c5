package broker

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/shopsaga/shopsaga/mqbroker/internal/message"
)

// adminHandler serves the HTTP admin API (JSON):
//
//	GET /healthz                      200 when serving
//	GET /api/topics                   topics and queue offsets
//	GET /api/groups                   consumer groups, members, offsets, producers
//	GET /api/transactions             undecided half messages
//	GET /api/delays                   scheduled messages per level
//	GET /api/messages?key=K           messages by UNIQ_KEY or KEYS
//	GET /api/messages/{id}            a message by offset msg id or UNIQ_KEY
func (b *Broker) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/topics", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.store.Queues())
	})
	mux.HandleFunc("GET /api/groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"groups": b.clients.groups(), "offsets": b.offsets.snapshot(),
			"producers": b.clients.producerGroups()})
	})
	mux.HandleFunc("GET /api/transactions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.txn.stats())
	})
	mux.HandleFunc("GET /api/delays", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.sched.stats())
	})
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if key == "" {
			writeJSON(w, http.StatusBadRequest, apiError("bad_request", "query parameter key is required"))
			return
		}
		writeJSON(w, http.StatusOK, b.lookup(key))
	})
	mux.HandleFunc("GET /api/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, phys, err := message.ParseOffsetMsgID(id); err == nil {
			if m, err := b.store.Read(phys); err == nil {
				writeJSON(w, http.StatusOK, messageView(m))
				return
			}
		}
		for _, v := range b.lookup(id) {
			if v.MsgID == id {
				writeJSON(w, http.StatusOK, v)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, apiError("not_found", "no message with id "+id))
	})
	return mux
}

// MessageView is a stored message as the admin API shows it.
type MessageView struct {
	MsgID           string            `json:"msgId"`
	OffsetMsgID     string            `json:"offsetMsgId"`
	Topic           string            `json:"topic"`
	QueueID         int32             `json:"queueId"`
	QueueOffset     int64             `json:"queueOffset"`
	CommitLogOffset int64             `json:"commitLogOffset"`
	StoreTimestamp  int64             `json:"storeTimestamp"`
	BornTimestamp   int64             `json:"bornTimestamp"`
	ReconsumeTimes  int32             `json:"reconsumeTimes"`
	SysFlag         int32             `json:"sysFlag"`
	Properties      map[string]string `json:"properties"`
	Body            string            `json:"body"`
}

func messageView(m *message.Message) MessageView {
	return MessageView{MsgID: m.MsgID(), OffsetMsgID: message.OffsetMsgID(m.StoreHost, m.PhysicalOffset),
		Topic: m.Topic, QueueID: m.QueueID, QueueOffset: m.QueueOffset, CommitLogOffset: m.PhysicalOffset,
		StoreTimestamp: m.StoreTimestamp, BornTimestamp: m.BornTimestamp, ReconsumeTimes: m.ReconsumeTimes,
		SysFlag: m.SysFlag, Properties: m.Properties, Body: string(m.Body)}
}

// lookup returns every stored record (the original, its half, scheduled,
// retried and dead-lettered copies) whose UNIQ_KEY or KEYS equals key, in
// commit-log order: the message's trace through the broker.
func (b *Broker) lookup(key string) []MessageView {
	offs := b.store.LookupKey(key)
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	out := make([]MessageView, 0, len(offs))
	for _, o := range offs {
		m, err := b.store.Read(o)
		if err != nil {
			continue
		}
		if m.UniqKey() == key || containsKey(m.Keys(), key) {
			out = append(out, messageView(m))
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
