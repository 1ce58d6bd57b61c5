//go:build !unix

package store

import "time"

// processCPU is not measured here: the benchmarks report 0.
func processCPU() (total, user time.Duration) { return 0, 0 }
