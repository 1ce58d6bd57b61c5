//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// pay pays order sn at orderURL and reports whether the answer was success (200 with the order
// paid). It is the one place a payment is made: through ORDER_PAYMENT_SIMULATOR=1's route, which
// signs a payment notify and applies it as the provider's would be.
func pay(ctx context.Context, client *http.Client, orderURL, sn string) (bool, error) {
	status, body, err := post(ctx, client, orderURL+"/v1/orders/"+sn+"/pay", nil, nil)
	if err != nil {
		return false, err
	}
	return status == http.StatusOK && body["status"] == "TRADE_SUCCESS", nil
}

// post sends a JSON POST and decodes a JSON object answer (status 0 = no answer).
func post(ctx context.Context, client *http.Client, url string, in any, header map[string]string) (int, map[string]any, error) {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(raw, &out) // an answer that is not JSON leaves out nil; the status says enough
	return resp.StatusCode, out, nil
}

// ledger is what the driver saw: the orders created, the payments answered success.
type ledger struct {
	mu       sync.Mutex // guards the fields
	sent     int
	created  map[string]bool
	paid     map[string]bool // payment answered success
	statuses map[int]int     // answers to POST /v1/orders by status (0 = none)
	faulted  map[string]int  // X-Fault requests by fault
}

func newLedger() *ledger {
	return &ledger{created: map[string]bool{}, paid: map[string]bool{}, statuses: map[int]int{}, faulted: map[string]int{}}
}

var xFaults = []string{"fail-local-tx", "crash-after-deduct", "crash-after-commit"}

// driver sends orders to the order_srv instances until ctx ends.
type driver struct {
	orderURLs []string
	skus      []int64
	faultP    float64
	payP      float64
	payWithin time.Duration
	led       *ledger
	client    *http.Client
	nextUser  func() int64
}

func (d *driver) worker(ctx context.Context, rnd *rand.Rand, wg *sync.WaitGroup) {
	defer wg.Done()
	for ctx.Err() == nil {
		url := d.orderURLs[rnd.IntN(len(d.orderURLs))]
		sku := d.skus[rnd.IntN(len(d.skus))]
		req := map[string]any{
			"user_id": d.nextUser(), "address": "1 Chaos Road", "signer_name": "Chaos", "signer_mobile": "13800000000",
			"items": []map[string]any{{"goods_id": sku, "num": 1 + rnd.IntN(3)}},
		}
		header := map[string]string{}
		if rnd.Float64() < d.faultP {
			f := xFaults[rnd.IntN(len(xFaults))]
			header["X-Fault"] = f
			d.led.mu.Lock()
			d.led.faulted[f]++
			d.led.mu.Unlock()
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		status, body, _ := post(rctx, d.client, url+"/v1/orders", req, header)
		cancel()
		sn, _ := body["order_sn"].(string)
		d.led.mu.Lock()
		d.led.sent++
		d.led.statuses[status]++
		if status == http.StatusCreated && sn != "" {
			d.led.created[sn] = true
		}
		d.led.mu.Unlock()
		if status == 0 || status >= 500 {
			// No answer (the instance is down, paused or crashed by the fault) or a 503: back off
			// a little instead of spinning, as a client would.
			select {
			case <-ctx.Done():
			case <-time.After(50*time.Millisecond + time.Duration(rnd.Int64N(int64(150*time.Millisecond)))):
			}
		}
		if status != http.StatusCreated || sn == "" || rnd.Float64() >= d.payP {
			continue
		}
		// Pay within the payment window or a little after it: some payments race the timeout.
		wait := time.Duration(rnd.Int64N(int64(d.payWithin)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			ok, err := pay(pctx, d.client, d.orderURLs[rand.IntN(len(d.orderURLs))], sn)
			if err == nil && ok {
				d.led.mu.Lock()
				d.led.paid[sn] = true
				d.led.mu.Unlock()
			}
		}()
	}
}

func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("orders sent %d, created %d, payments answered success %d, answers by status %v, X-Fault requests %v",
		l.sent, len(l.created), len(l.paid), l.statuses, l.faulted)
}
