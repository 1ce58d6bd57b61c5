// Package delay holds the delay-level table of RocketMQ's delayed messages
// and the pure rules of the delay scheduler: when a scheduled message is due
// and what to do next. The broker wires it to the store; this package has no
// I/O and no clock of its own.
package delay

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultLevels is RocketMQ's default messageDelayLevel.
const DefaultLevels = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

// ScheduleTopic holds scheduled messages, one queue per level (queue level-1).
const ScheduleTopic = "SCHEDULE_TOPIC_XXXX"

// Levels maps level n (1-based) to Levels[n-1].
type Levels []time.Duration

// ErrBadLevels is wrapped by ParseLevels errors.
var ErrBadLevels = errors.New("delay: bad delay levels")

// ParseLevels parses RocketMQ's syntax: space-separated durations with a
// unit of ms, s, m, h or d ("1s 5s 10s 30s 1m ... 2h").
func ParseLevels(s string) (Levels, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadLevels)
	}
	if len(fields) > 64 {
		return nil, fmt.Errorf("%w: %d levels, at most 64", ErrBadLevels, len(fields))
	}
	out := make(Levels, 0, len(fields))
	for i, f := range fields {
		d, err := parseOne(f)
		if err != nil {
			return nil, fmt.Errorf("%w: level %d %q: %v", ErrBadLevels, i+1, f, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func parseOne(f string) (time.Duration, error) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(f, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 {
				return 0, errors.New("want a positive whole number and a unit (ms, s, m, h, d)")
			}
			return time.Duration(n) * u.d, nil
		}
	}
	return 0, errors.New("missing unit (ms, s, m, h, d)")
}

// MustParse parses a level table known to be valid (tests, defaults).
func MustParse(s string) Levels {
	l, err := ParseLevels(s)
	if err != nil {
		panic(err)
	}
	return l
}

// String renders the table in ParseLevels syntax.
func (l Levels) String() string {
	parts := make([]string, len(l))
	for i, d := range l {
		switch {
		case d%time.Hour == 0:
			parts[i] = strconv.FormatInt(int64(d/time.Hour), 10) + "h"
		case d%time.Minute == 0:
			parts[i] = strconv.FormatInt(int64(d/time.Minute), 10) + "m"
		case d%time.Second == 0:
			parts[i] = strconv.FormatInt(int64(d/time.Second), 10) + "s"
		default:
			parts[i] = strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
		}
	}
	return strings.Join(parts, " ")
}

// Max is the highest level.
func (l Levels) Max() int { return len(l) }

// Clamp maps a requested level to a valid one: levels above Max are clamped
// to Max (as RocketMQ does); ok is false for level <= 0 (not delayed).
func (l Levels) Clamp(level int) (int, bool) {
	if level <= 0 {
		return 0, false
	}
	return min(level, len(l)), true
}

// Delay returns the delay of a valid level.
func (l Levels) Delay(level int) time.Duration { return l[level-1] }

// QueueID is the schedule-topic queue of a level.
func QueueID(level int) int32 { return int32(level - 1) }

// Due is when a message stored at storeMillis with the given level becomes
// deliverable.
func (l Levels) Due(level int, storeMillis int64) time.Time {
	return time.UnixMilli(storeMillis).Add(l.Delay(level))
}
