//go:build !race

package main

import (
	"slices"
	"testing"
	"time"
)

// TestSaga_twoInstances_killOneMidSaga_theOtherAnswersTheCheckBacks_andNothingContradicts: two
// order_srv processes share the database and the broker groups. One dies after deducting stock
// (before its local commit); the survivor keeps taking orders, gets the dead one's check-backs,
// leaves the saga alone until the dead owner's deadline (start + the 15 s saga timeout), and
// then returns the stock — and never touches its own orders.
func TestSaga_twoInstances_killOneMidSaga_theOtherAnswersTheCheckBacks_andNothingContradicts(t *testing.T) {
	s := newSystem(t)
	s.putGoods(1, 100, 10)
	dying := s.startOrderProcess(timeoutNever)
	survivor := s.startOrderProcess(timeoutNever)

	sent := time.Now()
	if st, body := call(t, "POST", dying.url+"/v1/orders", orderRequest(7, [2]int64{1, 2}), "X-Fault", "crash-after-deduct"); st != 0 {
		t.Fatalf("the crashing request was answered: %d %v", st, body)
	}
	if code := dying.exitCode(10 * time.Second); code != exitCrash {
		t.Fatalf("order_srv exited with %d, want %d", code, exitCrash)
	}
	var created []string
	for user := int64(20); user < 23; user++ {
		st, body := call(t, "POST", survivor.url+"/v1/orders", orderRequest(user, [2]int64{1, 1}))
		if st != 201 {
			t.Fatalf("order at the survivor: %d %v", st, body)
		}
		created = append(created, body["order_sn"].(string))
	}
	eventually(t, 90*time.Second, "the survivor's check-back to return the dead saga's stock", func() bool { return s.stock(1) == 7 })
	if took := time.Since(sent); took < 14*time.Second {
		t.Errorf("stock returned %v after the dead saga started: the check-back fenced it before its owner's deadline", took)
	}
	var dead []string
	for _, sn := range s.sagaSNs() {
		if !slices.Contains(created, sn) {
			dead = append(dead, sn)
		}
	}
	if len(dead) != 1 {
		t.Fatalf("sagas other than the survivor's orders: %v, want the dead one", dead)
	}
	wantTimeline(t, survivor.url, dead[0], "half_sent", "stock_deducted", "check_back_asked", "check_back_answered", "stock_return_requested")
	for _, sn := range created {
		if got := orderStatus(t, survivor.url, sn); got != "WAIT_BUYER_PAY" {
			t.Errorf("survivor's order %s: %s, want WAIT_BUYER_PAY", sn, got)
		}
	}
	wantMetrics(t, survivor.url, map[string]float64{
		`check_backs_total{answer="deliver-reback"}`: 1, "orders_created_total": 3,
	})
	if got := s.stock(1); got != 7 {
		t.Errorf("stock %d, want 7 (the survivor's three orders sold, the dead saga's two back)", got)
	}
}
