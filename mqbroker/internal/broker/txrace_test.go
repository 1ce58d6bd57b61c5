package broker

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Review finding 9: the check-back read pendingHalf.at without t.mu while
// retention's carry moved it. Run with -race: a check-back and a carry of
// the same half, at once, many times over.
func TestTxn_checkBackAndCarryOfOneHalf_doNotRace(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NamesrvAddr, cfg.BrokerAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.SegmentSize, cfg.MaxMessageSize, cfg.TxCheckMax = 1<<20, 4096, 1<<20
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// A producer connection: sending the half registers it (touchProducer),
	// so the check-back goes on to read the half where it is stored.
	nc, err := net.Dial("tcp", b.BrokerAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	go func() { // drain check-backs
		r := bufio.NewReader(nc)
		for {
			if _, err := remoting.ReadCommand(r, 64<<20); err != nil {
				return
			}
		}
	}()
	props := "UNIQ_KEY\x01race\x02TRAN_MSG\x01true\x02PGROUP\x01race_tx\x02"
	req := &remoting.Command{Code: int16(protocol.SendMessage), Language: "GO", Version: 317, Opaque: 1, Body: []byte("half"),
		ExtFields: map[string]string{"producerGroup": "race_tx", "topic": "RaceTx", "queueId": "0", "sysFlag": "4",
			"bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10), "flag": "0", "reconsumeTimes": "0",
			"unitMode": "false", "maxReconsumeTimes": "0", "batch": "false", "defaultTopic": "TBW102",
			"defaultTopicQueueNums": "4", "properties": props}}
	if _, err := nc.Write(req.AppendFrame(nil)); err != nil {
		t.Fatal(err)
	}
	var p *pendingHalf
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); p == nil; <-tick.C {
		b.txn.mu.Lock()
		for _, h := range b.txn.pending {
			p = h
		}
		b.txn.mu.Unlock()
		if p == nil && time.Now().After(deadline) {
			t.Fatal("the half was not registered within 10 s")
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 50 {
			b.txn.act(p, b.clock.Now())
		}
	}()
	go func() {
		defer wg.Done()
		for range 50 {
			if err := b.txn.carry(p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	b.txn.mu.Lock()
	checks, at := p.checks, p.at
	b.txn.mu.Unlock()
	if checks != 50 || at == p.phys {
		t.Fatalf("after 50 check-backs and 50 carries: %d checks, stored at %d (id %d)", checks, at, p.phys)
	}
}
