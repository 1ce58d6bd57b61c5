//go:build !race

package broker_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/chromedp/chromedp"

	"github.com/shopsaga/shopsaga/mqbroker/brokertest"
	"github.com/shopsaga/shopsaga/mqbroker/internal/broker"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium for one test (skipping the test when
// it is not installed) and returns a chromedp context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("skipping browser test: %s not found (install it with: apt-get install -y chromium)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 1000),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// artifact returns a path under e2e/artifacts (git-ignored) for a test output.
func artifact(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "e2e", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

func TestConsole_inABrowser_showsRatesGroupsAndAMessagesTrace(t *testing.T) {
	ctx := newBrowser(t)
	// Level 3 (the first retry) is 1s; level 4 (1h) parks a delayed message.
	b := brokertest.Start(t, brokertest.WithAdmin(), brokertest.WithDelayLevels("1s 1s 1s 1h"),
		brokertest.WithConfig(func(c *broker.Config) {
			c.OrderTimelineURL = "http://orders.test/v1/orders/{key}/timeline/page"
		}))
	topic, group := uniq("order_reback"), uniq("inventory_reback")
	p := newProducer(t, b)
	sendN(t, p, topic, 20, "")
	retried := primitive.NewMessage(topic, []byte(`{"order_sn":"SN-RETRY-1"}`))
	retried.WithKeys([]string{"SN-RETRY-1"})
	res, err := p.SendSync(context.Background(), retried)
	if err != nil {
		t.Fatal(err)
	}
	later := primitive.NewMessage(topic, []byte("timeout"))
	later.WithKeys([]string{"SN-LATER"})
	later.WithDelayTimeLevel(4)
	if _, err := p.SendSync(context.Background(), later); err != nil {
		t.Fatal(err)
	}

	// The consumer fails SN-RETRY-1 once, then accepts it from %RETRY%.
	col := newCollector()
	var once sync.Once
	startConsumer(t, b, topic, consumerCfg{group: group,
		listen: func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			for _, m := range ms {
				if m.GetKeys() == "SN-RETRY-1" {
					failed := false
					once.Do(func() { failed = true })
					if failed {
						return consumer.ConsumeRetryLater, nil
					}
				}
			}
			col.add(ms...)
			return consumer.ConsumeSuccess, nil
		}})
	col.waitFor(t, 30*time.Second, "the retried message", func(ms []*primitive.MessageExt) bool {
		for _, m := range ms {
			if m.GetKeys() == "SN-RETRY-1" {
				return true
			}
		}
		return false
	})
	waitCommitted(t, b, group, topic, 21)
	waitCommitted(t, b, group, "%RETRY%"+group, 1)

	sendN(t, p, uniq("busy"), 5, "") // recent traffic for the 10-second rate
	base := b.AdminURL()
	var sendRate, groupsText, lookupText, stageText, timelineHref, bodyText string
	var shot, msgShot []byte
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		// The page's script replaces the numbers from /api/stats.
		chromedp.WaitVisible(`#live[data-updated]`),
		chromedp.Text(`[data-stat="sendRate"]`, &sendRate),
		chromedp.FullScreenshot(&shot, 100),
		chromedp.Navigate(base+"/groups"),
		chromedp.Text(`main`, &groupsText),
		chromedp.Navigate(base+"/messages?key=SN-RETRY-1"),
		chromedp.Text(`#results`, &lookupText),
		chromedp.AttributeValue(`#timeline`, "href", &timelineHref, nil),
		chromedp.Click(`#results tr:nth-child(2) a`),
		chromedp.WaitVisible(`#trace`),
		chromedp.Text(`#trace`, &stageText),
		chromedp.Text(`#body`, &bodyText),
		chromedp.FullScreenshot(&msgShot, 100),
	)
	if err != nil {
		t.Fatalf("drive the console: %v", err)
	}
	for name, img := range map[string][]byte{"console-overview.png": shot, "console-message.png": msgShot} {
		path := artifact(t, name)
		if err := os.WriteFile(path, img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}

	if sendRate == "" || sendRate == "0.0" {
		t.Errorf("overview send rate %q right after 5 sends, want > 0", sendRate)
	}
	if !strings.Contains(groupsText, group) || !strings.Contains(groupsText, "online") {
		t.Errorf("groups page lacks %s online:\n%s", group, groupsText)
	}
	// The trace: stored (consumed by the group) → retry scheduled → %RETRY% (consumed).
	for _, want := range []string{"stored", "retry", "%RETRY%" + group, group} {
		if !strings.Contains(lookupText, want) || !strings.Contains(stageText, want) {
			t.Errorf("trace lacks %q:\nlookup: %s\nmessage page: %s", want, lookupText, stageText)
		}
	}
	if timelineHref != "http://orders.test/v1/orders/SN-RETRY-1/timeline/page" {
		t.Errorf("timeline link %q", timelineHref)
	}
	if !strings.Contains(bodyText, "SN-RETRY-1") {
		t.Errorf("message body shown as %q", bodyText)
	}

	// The same data as JSON.
	var trace struct {
		Stage       string   `json:"stage"`
		DeliveredTo []string `json:"deliveredTo"`
		Trace       []struct {
			Topic       string   `json:"topic"`
			Stage       string   `json:"stage"`
			DeliveredTo []string `json:"deliveredTo"`
		} `json:"trace"`
	}
	getJSON(t, base+"/api/messages/"+url.PathEscape(res.MsgID), &trace)
	if trace.Stage != "stored" || len(trace.DeliveredTo) != 1 || trace.DeliveredTo[0] != group {
		t.Errorf("message %s: stage %q delivered to %v, want stored, [%s]", res.MsgID, trace.Stage, trace.DeliveredTo, group)
	}
	var stages []string
	for _, c := range trace.Trace {
		stages = append(stages, c.Stage+":"+c.Topic)
	}
	if len(trace.Trace) != 3 || trace.Trace[1].Stage != "retry" || trace.Trace[2].Topic != "%RETRY%"+group ||
		len(trace.Trace[2].DeliveredTo) != 1 {
		t.Errorf("trace %v, want stored → retry (scheduled) → retry in %%RETRY%%%s, delivered", stages, group)
	}
	var delays []struct {
		Level    int `json:"level"`
		Pending  int `json:"pending"`
		Messages []struct {
			Topic string   `json:"topic"`
			Keys  []string `json:"keys"`
			DueAt time.Time
		} `json:"messages"`
	}
	getJSON(t, base+"/api/delays", &delays)
	if len(delays) != 4 || delays[3].Pending != 1 || len(delays[3].Messages) != 1 ||
		delays[3].Messages[0].Keys[0] != "SN-LATER" || time.Until(delays[3].Messages[0].DueAt) < 59*time.Minute {
		t.Errorf("delays %+v, want SN-LATER pending at level 4, due in about an hour", delays)
	}
	var stats struct {
		MessagesIn  int64 `json:"messagesIn"`
		MessagesOut int64 `json:"messagesOut"`
	}
	getJSON(t, base+"/api/stats", &stats)
	if stats.MessagesIn != 27 || stats.MessagesOut < 21 {
		t.Errorf("stats in %d out %d, want 27 in, at least 21 out", stats.MessagesIn, stats.MessagesOut)
	}
}
