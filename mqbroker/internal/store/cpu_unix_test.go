//go:build unix

package store

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used so far: user + system, and user only.
func processCPU() (total, user time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Utime.Nano())
}
