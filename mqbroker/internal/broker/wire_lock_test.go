package broker_test

import (
	"errors"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
)

func TestOpen_refusesADataDirInUse(t *testing.T) {
	b := brokertest.Start(t)
	cfg := broker.DefaultConfig()
	cfg.NamesrvAddr, cfg.BrokerAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", b.DataDir()
	second, err := broker.Open(cfg)
	if err == nil {
		second.Close()
		t.Fatal("a second broker opened a data directory in use")
	}
	if !errors.Is(err, broker.ErrDataDirLocked) {
		t.Fatalf("err = %v, want ErrDataDirLocked", err)
	}
}
