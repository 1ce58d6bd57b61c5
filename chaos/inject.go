//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// fault is one injected fault, for the report.
type fault struct {
	at     time.Duration
	kind   string
	target string
	d      time.Duration
	err    error // the injection failed: reported apart, not counted as an injected fault
}

// faultKinds are the kinds of fault, each injected at least once. A partition closes the
// connections of a path (resets); a blackhole keeps them and drops their bytes (timeouts).
var faultKinds = []string{"kill-9", "pause", "partition", "blackhole", "duplicate"}

// injector injects random faults until ctx ends.
type injector struct {
	s      *stack
	rnd    *rand.Rand
	led    *ledger
	dup    rocketmq.Producer
	start  time.Time
	mu     sync.Mutex // guards faults
	faults []fault
	wg     sync.WaitGroup
}

// record appends f and returns its index (for fail, when the fault ends later).
func (in *injector) record(f fault) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	f.at = time.Since(in.start).Round(time.Millisecond)
	in.faults = append(in.faults, f)
	return len(in.faults) - 1
}

// fail marks fault i failed, if err is not nil (a pause whose end failed did not happen as
// recorded either).
func (in *injector) fail(i int, err error) {
	if err == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults[i].err = errors.Join(in.faults[i].err, err)
}

func (in *injector) missingKinds() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, _, _, _, missing := faultCounts(in.faults)
	return missing
}

// faultCounts splits faults into the injected ones and the failed ones, by kind, and names
// the kinds never injected successfully (the campaign fails unless that is none).
func faultCounts(faults []fault) (injected, failed map[string]int, nInjected, nFailed int, missing []string) {
	injected, failed = map[string]int{}, map[string]int{}
	for _, f := range faults {
		if f.err != nil {
			failed[f.kind]++
			nFailed++
			continue
		}
		injected[f.kind]++
		nInjected++
	}
	for _, k := range faultKinds {
		if injected[k] == 0 {
			missing = append(missing, k)
		}
	}
	return injected, failed, nInjected, nFailed, missing
}

func (in *injector) run(ctx context.Context, every time.Duration) {
	order := in.rnd.Perm(len(faultKinds)) // every kind at least once, first
	for i := 0; ctx.Err() == nil; i++ {
		wait := every/2 + time.Duration(in.rnd.Int64N(int64(every)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		kind := faultKinds[in.rnd.IntN(len(faultKinds))]
		if i < len(order) {
			kind = faultKinds[order[i]]
		} else if missing := in.missingKinds(); len(missing) > 0 {
			kind = missing[0] // its first injection failed: again, until it succeeds once
		}
		in.inject(ctx, kind)
	}
}

func (in *injector) inject(ctx context.Context, kind string) {
	progs := in.s.programs
	if db := in.s.db; db != nil && (kind == "kill-9" || kind == "pause") && in.rnd.IntN(len(progs)+1) == 0 {
		if kind == "kill-9" {
			err := db.kill9(ctx)
			in.record(fault{kind: kind, target: "mariadb", err: err})
			return
		}
		d := 500*time.Millisecond + time.Duration(in.rnd.Int64N(int64(2500*time.Millisecond)))
		i := in.record(fault{kind: kind, target: "mariadb", d: d})
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			in.fail(i, db.pause(ctx, d))
		}()
		return
	}
	switch kind {
	case "kill-9":
		p := progs[in.rnd.IntN(len(progs))]
		err := p.signal(syscall.SIGKILL) // the supervisor restarts it
		in.record(fault{kind: kind, target: p.name, err: err})
	case "pause":
		p := progs[in.rnd.IntN(len(progs))]
		d := 500*time.Millisecond + time.Duration(in.rnd.Int64N(int64(2500*time.Millisecond)))
		err := p.signal(syscall.SIGSTOP)
		in.record(fault{kind: kind, target: p.name, d: d, err: err})
		if err != nil {
			return
		}
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			time.Sleep(d)                 // the pause itself
			_ = p.signal(syscall.SIGCONT) // a kill -9 meanwhile ended the pause too
		}()
	case "partition", "blackhole":
		// A blackhole lasts longer: long enough for the peers' timeouts (3 s sends, 5 s calls).
		d := time.Second + time.Duration(in.rnd.Int64N(int64(3*time.Second)))
		if kind == "blackhole" {
			d = 2*time.Second + time.Duration(in.rnd.Int64N(int64(6*time.Second)))
		}
		toInv := in.rnd.IntN(2) == 0
		if nl := in.s.net; nl != nil && kind == "partition" {
			// Packets dropped by nft in the namespaces of the cut side.
			roles, ports, target := []string{"order"}, []int{in.s.pInv.port()}, in.s.pInv.name
			if !toInv {
				roles, ports, target = []string{"order", "inventory"}, []int{in.s.pBroker[0].port(), in.s.pBroker[1].port()}, "services→broker (name server and broker)"
			}
			err := nl.drop(roles, ports, d)
			in.record(fault{kind: kind, target: target + " (nft drop)", d: d, err: err})
			return
		}
		cut := func(p *proxy) {
			if kind == "blackhole" {
				p.drop(d)
			} else {
				p.partition(d)
			}
		}
		if toInv {
			cut(in.s.pInv)
			in.record(fault{kind: kind, target: in.s.pInv.name, d: d})
		} else {
			for _, p := range in.s.pBroker {
				cut(p)
			}
			in.record(fault{kind: kind, target: "services→broker (name server and broker)", d: d})
		}
	case "duplicate":
		target, err := in.duplicate(ctx)
		in.record(fault{kind: kind, target: target, err: err})
	}
}

// duplicate sends again the timeout message of a paid or closed order, and for a closed order
// its stock-return message: both must change nothing. An error if it sent nothing.
func (in *injector) duplicate(ctx context.Context) (string, error) {
	in.led.mu.Lock()
	var sns []string
	for sn := range in.led.created {
		sns = append(sns, sn)
	}
	in.led.mu.Unlock()
	sort.Strings(sns)
	in.rnd.Shuffle(len(sns), func(i, j int) { sns[i], sns[j] = sns[j], sns[i] })
	for _, sn := range sns[:min(len(sns), 20)] {
		status := orderStatusOfAny(ctx, in.s.orderURLs, sn)
		if status != "TRADE_SUCCESS" && status != "TRADE_CLOSED" {
			continue
		}
		body := []byte(`{"order_sn":"` + sn + `"}`)
		sent := []string{"order_timeout"}
		msgs := []*primitive.Message{primitive.NewMessage("order_timeout", body).WithKeys([]string{sn})}
		if status == "TRADE_CLOSED" {
			msgs = append(msgs, primitive.NewMessage("order_reback", body).WithKeys([]string{sn}))
			sent = append(sent, "order_reback")
		}
		for _, m := range msgs {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := in.dup.SendSync(sctx, m)
			cancel()
			if err != nil {
				return "duplicate of " + sn, fmt.Errorf("not sent: %w", err)
			}
		}
		return fmt.Sprintf("%s of %s order %s", strings.Join(sent, " + "), status, sn), nil
	}
	return "duplicate", errors.New("no paid or closed order found (none yet, or no order_srv answered)")
}

// orderStatusOfAny reads sn's status through the first order_srv instance that answers one
// (an instance killed, paused or cut answers nothing).
func orderStatusOfAny(ctx context.Context, orderURLs []string, sn string) string {
	for _, u := range orderURLs {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second) // a paused instance answers nothing
		st := orderStatusOf(rctx, u, sn)
		cancel()
		if st != "" {
			return st
		}
	}
	return ""
}

func orderStatusOf(ctx context.Context, orderURL, sn string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, orderURL+"/v1/orders/"+sn, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var o struct {
		Status string `json:"status"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&o) // no status: not counted as paid or closed
	return o.Status
}
