package broker_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
	"github.com/shopsaga/shopsaga/mqbroker/internal/clock"
)

// Review finding 1: a delayed message whose properties were within a few
// bytes of the 32 KiB limit was accepted, then neither delivered nor
// carried forward — retention stopped deleting anything for good. Now the
// send is refused unless the broker's own later additions fit, and the
// largest message accepted is carried forward and retention goes on.
func TestSend_refusesPropertiesWithoutRoomForTheBrokersAdditions_retentionGoesOn(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := startWireBroker(t, brokertest.WithClock(fake), brokertest.WithDelayLevels("1m 2m"),
		brokertest.WithConfig(func(c *broker.Config) {
			c.SegmentSize, c.MaxMessageSize, c.Retention, c.MaxDiskUsage = 128<<10, 4096, 30*time.Second, 0
		}))
	p := dialWire(t, b.BrokerAddr())
	_, err := p.sendOne("RevDelayed", 0, "big", "body", "DELAY", "2", "pad", strings.Repeat("p", 32700))
	if err == nil || !strings.Contains(err.Error(), "MESSAGE_ILLEGAL") || !strings.Contains(err.Error(), "the broker adds later") {
		t.Fatalf("a delayed message with a 32700-byte property: %v, want MESSAGE_ILLEGAL explaining the broker's additions", err)
	}
	accepted := -1
	for pad := 32767; pad > 31000; pad-- {
		if _, err := p.sendOne("RevDelayed", 0, "big", "body", "DELAY", "2", "pad", strings.Repeat("p", pad)); err == nil {
			accepted = pad
			break
		}
	}
	if accepted < 0 {
		t.Fatal("no near-limit delayed message accepted")
	}
	t.Logf("largest property accepted with DELAY: %d bytes", accepted)
	body := strings.Repeat("f", 2000)
	for i := range 150 {
		if _, err := p.sendOne("RevFill", 0, "fill-"+strconv.Itoa(i), body); err != nil {
			t.Fatal(err)
		}
	}
	first := filepath.Join(b.DataDir(), "store", "commitlog", "00000000000000000000")
	fake.Advance(40 * time.Second) // older than retention, not yet due
	waitGone(t, first)
	fake.Advance(2 * time.Minute)                 // due: delivered from its carried copy
	tick := time.NewTicker(10 * time.Millisecond) // the scheduler delivers asynchronously
	defer tick.Stop()
	for deadline := time.Now().Add(15 * time.Second); ; <-tick.C {
		got, err := p.pullAll("RevDelayed", 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && len(got["big"].GetProperty("pad")) == accepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the carried near-limit message was not delivered: %d messages", len(got))
		}
	}
}
