package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// verdict says whether a row met its target.
type verdict int

const (
	noTarget verdict = iota
	unknown          // could not be judged (e.g. no ceiling measured)
	met
	missed
)

func judge(known, ok bool) verdict {
	switch {
	case !known:
		return unknown
	case ok:
		return met
	}
	return missed
}

func (v verdict) String() string {
	switch v {
	case unknown:
		return "n/a"
	case met:
		return "yes"
	case missed:
		return "**NO**"
	}
	return ""
}

// row is one line of the result table.
type row struct {
	system    string
	scenario  string
	rate      float64 // msg/s; 0 = not applicable
	lat       latency
	latKind   string  // what lat measures: send, lateness, check-back
	ofCeiling float64 // median per-round ratio to the null responder's rate; 0 = none
	rssMiB    float64 // broker peak RSS during the row; 0 = not measured
	// cpuPer100k is the serving process's CPU time (user + system) per
	// 100k successful sends of the row's rounds; 0 = not measured.
	cpuPer100k time.Duration
	target     string
	pass       verdict
	errs       int // failed operations that did not stop the measurement
	note       string
	err        error // the measurement failed
}

type report struct {
	machine   machine
	loadStart string
	cfg       config
	rows      []row
	panics    int
	// clientLogLines counts the client's warnings and errors (on stderr).
	clientLogLines int
}

func (r *report) add(rw row) { r.rows = append(r.rows, rw) }

func (r *report) failed() int {
	n := 0
	for _, rw := range r.rows {
		if rw.err != nil {
			n++
		}
	}
	return n
}

func (r *report) render(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "## mqbroker benchmark, %s\n\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s; load average (1 min) %s at start, %s at end\n\n", r.machine.oneLine(), r.loadStart, loadAverage())
	fmt.Fprintf(w, "Settings: %d B bodies, SendSync via rocketmq-client-go v2.1.2; each send row is the median of %d round(s) "+
		"of %v measured after %v warm-up, systems in rotating order; %d queues per topic; loopback only.\n\n",
		c.Size, c.Rounds, c.Duration, c.Warmup, c.Queues)
	fmt.Fprintln(w, "| system | scenario | msg/s | p50 ms | p99 ms | max ms | % of ceiling | CPU s per 100k | RSS MiB | target | met |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|")
	var notes []string
	for i, rw := range r.rows {
		cell := func(ok bool, s string) string {
			if ok {
				return s
			}
			return ""
		}
		rate := cell(rw.rate > 0, fmt.Sprintf("%.0f", rw.rate))
		if rw.err != nil {
			rate = fmt.Sprintf("failed [%d]", i+1)
			notes = append(notes, fmt.Sprintf("[%d] %s / %s: %v", i+1, rw.system, rw.scenario, rw.err))
		}
		scenario := rw.scenario
		if rw.latKind != "" && rw.latKind != "send" {
			scenario += " (" + rw.latKind + ")"
		}
		if rw.note != "" || rw.errs > 0 {
			n := rw.note
			if rw.errs > 0 {
				n = strings.TrimPrefix(n+fmt.Sprintf("; %d failed operations", rw.errs), "; ")
			}
			notes = append(notes, fmt.Sprintf("[%d] %s / %s: %s", i+1, rw.system, rw.scenario, n))
			scenario += fmt.Sprintf(" [%d]", i+1)
		}
		hasLat := rw.lat.n > 0
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			rw.system, scenario, rate,
			cell(hasLat, ms(rw.lat.p50)), cell(hasLat, ms(rw.lat.p99)), cell(hasLat, ms(rw.lat.max)),
			cell(rw.ofCeiling > 0, fmt.Sprintf("%.0f%%", 100*rw.ofCeiling)),
			cell(rw.cpuPer100k > 0, fmt.Sprintf("%.2f", rw.cpuPer100k.Seconds())),
			cell(rw.rssMiB > 0, fmt.Sprintf("%.0f", rw.rssMiB)),
			rw.target, rw.pass)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Latency columns: send rows = SendSync round trip; delay = consume time − (born time + level delay); "+
		"check-back = arrival in CheckLocalTransaction − (half store time + tx-timeout). "+
		"% of ceiling = median over rounds of (this round's rate / the null responder's rate in the same round and scenario). "+
		"CPU s per 100k = user + system CPU time of the serving process (null responder or broker, /proc/PID/stat) over all of the row's rounds, warm-ups included, per 100k successful sends. RSS MiB = peak VmRSS of the broker during the row.")
	if r.panics > 0 {
		notes = append(notes, fmt.Sprintf("the client recovered %d panics (see stderr)", r.panics))
	}
	if r.clientLogLines > 0 {
		notes = append(notes, fmt.Sprintf("the client logged %d warnings/errors (see stderr)", r.clientLogLines))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}
