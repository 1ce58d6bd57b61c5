package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fsyncCounters are the broker's own counts, read from its /metrics:
// fsync calls, the seconds they took, and messages stored.
type fsyncCounters struct {
	fsyncs, seconds, messages float64
}

func (c fsyncCounters) sub(o fsyncCounters) fsyncCounters {
	return fsyncCounters{c.fsyncs - o.fsyncs, c.seconds - o.seconds, c.messages - o.messages}
}

func (c fsyncCounters) add(o fsyncCounters) fsyncCounters {
	return fsyncCounters{c.fsyncs + o.fsyncs, c.seconds + o.seconds, c.messages + o.messages}
}

// String describes a row's fsyncs: how many per second of sending, messages
// each covered (group commit) and their mean duration.
func (c fsyncCounters) String(sending time.Duration) string {
	if c.fsyncs <= 0 || sending <= 0 {
		return ""
	}
	return fmt.Sprintf("fsync: %.0f/s, %.1f messages each, mean %.0f µs",
		c.fsyncs/sending.Seconds(), c.messages/c.fsyncs, 1e6*c.seconds/c.fsyncs)
}

// readFsyncCounters scrapes the broker's admin /metrics.
func readFsyncCounters(ctx context.Context, admin string) (fsyncCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return fsyncCounters{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fsyncCounters{}, fmt.Errorf("broker metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fsyncCounters{}, fmt.Errorf("broker metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return fsyncCounters{}, fmt.Errorf("broker metrics: %w", err)
	}
	var c fsyncCounters
	if f := fams["mqbroker_fsync_duration_seconds"]; f != nil && len(f.GetMetric()) == 1 {
		h := f.GetMetric()[0].GetHistogram()
		c.fsyncs, c.seconds = float64(h.GetSampleCount()), h.GetSampleSum()
	} else {
		return fsyncCounters{}, fmt.Errorf("broker metrics: no mqbroker_fsync_duration_seconds")
	}
	if f := fams["mqbroker_messages_in_total"]; f != nil {
		for _, m := range f.GetMetric() {
			c.messages += m.GetCounter().GetValue()
		}
	}
	return c, nil
}
