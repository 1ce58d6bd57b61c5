//go:build !race

package mq_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/mq"
	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// startOwnerPublisher starts a TxPublisher on b whose local transactions all answer AskLater and
// whose check-backs answer check.
func startOwnerPublisher(t *testing.T, b *brokertest.Broker, sns []order.SN, check app.HalfOutcome) (*mq.TxPublisher, *scripted) {
	t.Helper()
	lt := &scripted{exec: map[order.SN]app.HalfOutcome{}, check: map[order.SN]app.HalfOutcome{}, checked: map[order.SN]int{}}
	for _, sn := range sns {
		lt.exec[sn], lt.check[sn] = app.AskLater, check
	}
	pub, err := mq.NewTxPublisher(testConfig(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(context.Background(), lt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Shutdown() })
	return pub, lt
}

// TestTxPublisher_theCheckBackGetsTheOwnerTheHalfCarries: the saga owner given to PublishHalf
// travels in the half message's properties and reaches Check over the real broker (to the
// millisecond); a half sent without one reaches Check as the zero owner.
func TestTxPublisher_theCheckBackGetsTheOwnerTheHalfCarries(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithTxTimeout(time.Second), brokertest.WithTxCheckInterval(time.Second))
	owned, ownerless := newSN(t), newSN(t)
	pub, lt := startOwnerPublisher(t, b, []order.SN{owned, ownerless}, app.DiscardReback)
	want := app.HalfOwner{Instance: "order-7f3a", Deadline: time.UnixMilli(time.Now().Add(15 * time.Second).UnixMilli())}
	for sn, owner := range map[order.SN]app.HalfOwner{owned: want, ownerless: {}} {
		if err := pub.PublishHalf(context.Background(), app.RebackMessage{OrderSN: sn, Lines: []order.Line{{GoodsID: 1, Num: 1}}, Owner: owner}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "both check-backs", func() bool { return lt.checks(owned) > 0 && lt.checks(ownerless) > 0 })
	if got := lt.ownerOf(owned); got.Instance != want.Instance || !got.Deadline.Equal(want.Deadline) {
		t.Errorf("check-back owner = %+v, want %+v", got, want)
	}
	if got := lt.ownerOf(ownerless); !got.IsZero() {
		t.Errorf("check-back of a half sent without an owner: owner %+v, want none", got)
	}
}

func TestTxPublisher_PublishHalf_refusesAnUnprintableOwner(t *testing.T) {
	b := brokertest.Start(t)
	sn := newSN(t)
	pub, lt := startOwnerPublisher(t, b, []order.SN{sn}, app.DiscardReback)
	err := pub.PublishHalf(context.Background(), app.RebackMessage{OrderSN: sn, Lines: []order.Line{{GoodsID: 1, Num: 1}},
		Owner: app.HalfOwner{Instance: "a\x01b", Deadline: time.Now()}})
	if err == nil || !strings.Contains(err.Error(), "printable") {
		t.Fatalf("PublishHalf with an owner holding a control character = %v, want an error naming it", err)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if len(lt.execd) != 0 {
		t.Errorf("ExecuteLocal ran for %v, want nothing sent", lt.execd)
	}
}

// An owner whose instance name is longer than app.MaxInstanceLen is refused before anything is
// sent; a deadline between two milliseconds travels rounded up, never ending before the owner's.
func TestTxPublisher_PublishHalf_refusesAnOverlongOwner_andRoundsTheDeadlineUp(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithTxTimeout(time.Second), brokertest.WithTxCheckInterval(time.Second))
	long, owned := newSN(t), newSN(t)
	pub, lt := startOwnerPublisher(t, b, []order.SN{long, owned}, app.DiscardReback)
	err := pub.PublishHalf(context.Background(), app.RebackMessage{OrderSN: long, Lines: []order.Line{{GoodsID: 1, Num: 1}},
		Owner: app.HalfOwner{Instance: strings.Repeat("a", app.MaxInstanceLen+1), Deadline: time.Now()}})
	if err == nil || !strings.Contains(err.Error(), "instance name") {
		t.Fatalf("PublishHalf with an overlong owner = %v, want an error naming it", err)
	}
	deadline := time.UnixMilli(time.Now().Add(15 * time.Second).UnixMilli()).Add(400 * time.Microsecond)
	if err := pub.PublishHalf(context.Background(), app.RebackMessage{OrderSN: owned, Lines: []order.Line{{GoodsID: 1, Num: 1}},
		Owner: app.HalfOwner{Instance: strings.Repeat("b", app.MaxInstanceLen), Deadline: deadline}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the check-back", func() bool { return lt.checks(owned) > 0 })
	if got, want := lt.ownerOf(owned).Deadline, deadline.Truncate(time.Millisecond).Add(time.Millisecond); !got.Equal(want) {
		t.Errorf("check-back owner deadline = %v, want %v (rounded up)", got, want)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for _, sn := range lt.execd {
		if sn == long {
			t.Errorf("ExecuteLocal ran for the overlong owner's half")
		}
	}
}
