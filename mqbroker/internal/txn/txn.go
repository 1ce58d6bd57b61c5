// Package txn holds the pure decision rules of transactional half messages:
// when an undecided half message is checked back with its producer, and
// when it is given up. The broker owns the state and the I/O; this package
// only decides, given a half message's state and the time.
package txn

import "time"

// Config holds the check-back policy.
type Config struct {
	// Timeout is the age after which an undecided half message is first
	// checked (a message's CHECK_IMMUNITY_TIME_IN_SECONDS overrides it).
	Timeout time.Duration
	// Interval is the pause between two checks of one half message.
	Interval time.Duration
	// MaxChecks is how many checks a half message gets before it is discarded.
	MaxChecks int
}

// Half is what the decision needs to know about one undecided half message.
type Half struct {
	Stored    time.Time     // when the broker stored it
	Immunity  time.Duration // per-message first-check delay; 0 = Config.Timeout
	Checks    int           // checks sent so far
	LastCheck time.Time     // when the last check was sent
}

// Action is what to do with a half message now.
type Action int

const (
	// Wait: nothing to do until Decision.At.
	Wait Action = iota
	// Check: ask a producer of the group for the outcome.
	Check
	// Discard: give up (MaxChecks reached); the message is never delivered.
	Discard
)

func (a Action) String() string {
	switch a {
	case Wait:
		return "wait"
	case Check:
		return "check"
	case Discard:
		return "discard"
	}
	return "unknown"
}

// Decision is Decide's answer.
type Decision struct {
	Action Action
	At     time.Time // for Wait: when to decide again
}

// Decide tells what to do with h at now.
func Decide(h Half, now time.Time, cfg Config) Decision {
	var due time.Time
	if h.Checks == 0 {
		first := cfg.Timeout
		if h.Immunity > 0 {
			first = h.Immunity
		}
		due = h.Stored.Add(first)
	} else {
		due = h.LastCheck.Add(cfg.Interval)
	}
	if now.Before(due) {
		return Decision{Action: Wait, At: due}
	}
	if h.Checks >= cfg.MaxChecks {
		return Decision{Action: Discard}
	}
	return Decision{Action: Check}
}
