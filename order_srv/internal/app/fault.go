package app

import (
	"fmt"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// Fault is an injected failure of one order's saga, for demos and tests. The transport accepts
// faults only when they are enabled (ORDER_FAULTS=1).
type Fault string

// The faults. Each leaves the system consistent once the broker has checked back.
const (
	NoFault Fault = ""
	// FaultFailLocalTx: the local transaction fails (rolls back) after the stock was deducted.
	FaultFailLocalTx Fault = "fail-local-tx"
	// FaultCrashAfterDeduct: the process exits right after the inventory call.
	FaultCrashAfterDeduct Fault = "crash-after-deduct"
	// FaultCrashAfterCommit: the process exits right after the local commit, before answering
	// the broker.
	FaultCrashAfterCommit Fault = "crash-after-commit"
)

// ParseFault returns the fault named s ("" is NoFault), or an error wrapping order.ErrInvalid.
func ParseFault(s string) (Fault, error) {
	switch f := Fault(s); f {
	case NoFault, FaultFailLocalTx, FaultCrashAfterDeduct, FaultCrashAfterCommit:
		return f, nil
	}
	return "", fmt.Errorf("%w: unknown fault %q (want %s, %s or %s)", order.ErrInvalid, s,
		FaultFailLocalTx, FaultCrashAfterDeduct, FaultCrashAfterCommit)
}

// errInjected is the failure FaultFailLocalTx injects into the local transaction.
var errInjected = fmt.Errorf("injected fault %s", FaultFailLocalTx)
