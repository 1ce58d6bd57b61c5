package order

import "fmt"

// Status is the state of an order. The set is closed: only the constants below exist.
type Status string

// The statuses, named as in the original course project (and Alipay's trade states).
const (
	StatusWaitBuyerPay Status = "WAIT_BUYER_PAY" // created, stock sold, waiting for payment
	StatusTradeSuccess Status = "TRADE_SUCCESS"  // paid; final
	StatusTradeClosed  Status = "TRADE_CLOSED"   // not paid in time, stock returned; final
)

// transitions lists every allowed status change. Anything not listed is refused.
var transitions = map[Status][]Status{
	StatusWaitBuyerPay: {StatusTradeSuccess, StatusTradeClosed},
	StatusTradeSuccess: nil,
	StatusTradeClosed:  nil,
}

// ParseStatus returns the Status spelled s, or an error wrapping ErrInvalid.
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if _, ok := transitions[st]; !ok {
		return "", fmt.Errorf("%w: unknown order status %q", ErrInvalid, s)
	}
	return st, nil
}

// CanBecome reports whether an order in status s may move to status next.
func (s Status) CanBecome(next Status) bool {
	for _, t := range transitions[s] {
		if t == next {
			return true
		}
	}
	return false
}

// Final reports whether no transition leaves s.
func (s Status) Final() bool { return len(transitions[s]) == 0 }

func (s Status) String() string { return string(s) }
