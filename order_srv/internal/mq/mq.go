package mq

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/propagation"

	"github.com/shopsaga/shopsaga/internal/mqclient"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// DelayLevels is RocketMQ's default delay-level table: level n (1-based) delays a message by
// DelayLevels[n-1]. Brokers may be configured differently (tests use short levels).
var DelayLevels = [...]string{"1s", "5s", "10s", "30s", "1m", "2m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "10m", "20m", "30m", "1h", "2h"}

// DelayLevel30m is the level of a 30-minute delay in the default table.
const DelayLevel30m = 16

// Config names what the adapters connect to. Every field is required.
type Config struct {
	// Namesrv lists the name servers as IP:port (the client rejects host names; see
	// mqclient.ResolveNameServers).
	Namesrv []string
	// Topics.
	RebackTopic  string
	TimeoutTopic string
	// Groups: of the transactional producer (the broker checks back with a producer of this
	// group), of the plain producer, and of the timeout consumer.
	TxGroup       string
	ProducerGroup string
	TimeoutGroup  string
	// PayTimeoutLevel is the delay level of the timeout messages (1..18).
	PayTimeoutLevel int
	Log             *slog.Logger
	// Propagator carries the trace context in the messages' properties (optional: without it
	// none is carried).
	Propagator propagation.TextMapPropagator
	// Credentials sign every producer's and consumer's requests (a broker with ACL); zero:
	// unsigned.
	Credentials mqclient.Credentials
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Namesrv) == 0 {
		errs = append(errs, errors.New("mq: no name server"))
	}
	for name, v := range map[string]string{
		"reback topic": c.RebackTopic, "timeout topic": c.TimeoutTopic,
		"tx group": c.TxGroup, "producer group": c.ProducerGroup, "timeout group": c.TimeoutGroup,
	} {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("mq: %s is empty", name))
		}
	}
	if c.PayTimeoutLevel < 1 || c.PayTimeoutLevel > len(DelayLevels) {
		errs = append(errs, fmt.Errorf("mq: pay timeout level %d out of 1..%d", c.PayTimeoutLevel, len(DelayLevels)))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("mq: no logger"))
	}
	return errors.Join(errs...)
}

type lineJSON struct {
	GoodsID int64 `json:"goods_id"`
	Num     int32 `json:"num"`
}

// rebackJSON is the body of an order_reback message (the contract with inventory_srv).
type rebackJSON struct {
	OrderSN string     `json:"order_sn"`
	Items   []lineJSON `json:"items"`
}

// timeoutJSON is the body of an order_timeout message.
type timeoutJSON struct {
	OrderSN string `json:"order_sn"`
}

func encodeReback(m app.RebackMessage) ([]byte, error) {
	body := rebackJSON{OrderSN: string(m.OrderSN), Items: make([]lineJSON, len(m.Lines))}
	for i, l := range m.Lines {
		body.Items[i] = lineJSON{GoodsID: l.GoodsID, Num: l.Num}
	}
	return json.Marshal(body)
}

// orderSNOf reads the order number of a reback or timeout body (both carry "order_sn").
func orderSNOf(body []byte) (order.SN, error) {
	var v timeoutJSON
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("decode message body: %w", err)
	}
	return order.ParseSN(v.OrderSN)
}
