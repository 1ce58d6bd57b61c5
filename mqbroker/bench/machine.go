package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the numbers were measured.
type machine struct {
	nproc      int
	gomaxprocs int
	cpu        string
	memGiB     float64
	kernel     string
	goVersion  string
}

func readMachine() machine {
	m := machine{nproc: runtime.NumCPU(), gomaxprocs: runtime.GOMAXPROCS(0), goVersion: runtime.Version(), cpu: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if kib, err := readMeminfoKiB("MemTotal"); err == nil {
		m.memGiB = float64(kib) / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	return m
}

func readMeminfoKiB(name string) (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			if f := strings.Fields(v); len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("%s not in /proc/meminfo", name)
}

func (m machine) oneLine() string {
	return fmt.Sprintf("nproc %d (GOMAXPROCS %d), CPU %q, %.1f GiB RAM, Linux %s, %s %s/%s",
		m.nproc, m.gomaxprocs, m.cpu, m.memGiB, m.kernel, m.goVersion, runtime.GOOS, runtime.GOARCH)
}

// loadAverage is the 1-minute load average ("?" if unknown): other work on
// the machine skews every number.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
