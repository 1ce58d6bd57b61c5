package mqclient

import (
	"fmt"
	"strings"
	"time"
)

// MaxReconsumeTimes is how often every consumer of the saga (order_srv's payment timeouts,
// inventory_srv's stock returns) asks the broker to redeliver a message whose handling failed
// before the broker parks it in the group's dead-letter queue, which nobody consumes. Pass it
// with consumer.WithMaxReconsumeTimes.
//
// Both mqbroker and Apache RocketMQ 4.9.4 (SendMessageProcessor.consumerSendMsgBack) take the
// maximum from the send-back request (the client sends it; 16 when none is set), move the
// message to %DLQ%<group> once it has been reconsumed that many times, and otherwise schedule the
// retry at delay level 3 + reconsume times, clamped to the last level of the broker's table
// (messageDelayLevel; the store clamps in both brokers). With the default table the retries
// wait 10 s, 30 s, 1 m, 2 m … 10 m, 20 m, 30 m, 1 h and then 2 h each: the client's default of 16
// redeliveries gives up after 4 h 45 min 40 s — a realistic database or inventory outage outlasts
// that. 1000 keeps retrying for about 83 days (a day is reached after 26); see
// RedeliveryBudget.
const MaxReconsumeTimes = 1000

// DefaultDelayLevels is the delay-level table of Apache RocketMQ 4.9.4 and mqbroker
// (messageDelayLevel), level 1 first.
const DefaultDelayLevels = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

// ParseDelayLevels reads a delay-level table written as time.ParseDuration values separated
// by spaces ("1s 5s 10s ...").
func ParseDelayLevels(table string) ([]time.Duration, error) {
	var out []time.Duration
	for i, f := range strings.Fields(table) {
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("delay level %d: %w", i+1, err)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no delay level in %q", table)
	}
	return out, nil
}

// RedeliveryDelays returns the wait before each of the maxTimes redeliveries of a message that
// keeps failing, as both brokers schedule them: redelivery k (0-based) waits level 3 + k of
// levels, clamped to the last level.
func RedeliveryDelays(levels []time.Duration, maxTimes int) []time.Duration {
	out := make([]time.Duration, maxTimes)
	for k := range out {
		level := min(3+k, len(levels)) // 1-based
		out[k] = levels[level-1]
	}
	return out
}

// RedeliveryBudget is how long a message that keeps failing is retried before it goes to the
// dead-letter queue: the sum of RedeliveryDelays (handling time not counted).
func RedeliveryBudget(levels []time.Duration, maxTimes int) time.Duration {
	var total time.Duration
	for _, d := range RedeliveryDelays(levels, maxTimes) {
		total += d
	}
	return total
}
