package broker_test

import (
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
)

// TestPull_newerSubscriptionVersionThanRegisteredIsNotLatest: as Apache's
// PullMessageProcessor, a pull that relies on the registered subscription
// (no subscription sysFlag) but names a newer subVersion than the group's
// last heartbeat gets SUBSCRIPTION_NOT_LATEST (25) until the heartbeat with
// that version arrives; the same or an older version (rocketmq-client-go
// sends 0), or a pull carrying its own subscription, is served.
func TestPull_newerSubscriptionVersionThanRegisteredIsNotLatest(t *testing.T) {
	b := startWireBroker(t)
	b.CreateTopic("SubVerTopic")
	c := dialWire(t, b.BrokerAddr())
	if _, err := c.sendOne("SubVerTopic", 0, "k", "v"); err != nil {
		t.Fatal(err)
	}
	hb := func(clientID, version string) {
		body := strings.Replace(string(heartbeatBody(clientID, "subver_cg", "SubVerTopic", "*")), `"subVersion":1`, `"subVersion":`+version, 1)
		if r := c.mustCall(t, protocol.HeartBeat, nil, []byte(body)); r.Code != 0 {
			t.Fatalf("heartbeat: %s", r.Remark)
		}
	}
	pull := func(sysFlag, subVersion string) int16 {
		ext := pullExt("subver_cg", "SubVerTopic", 0, 0, 0)
		ext["sysFlag"], ext["subVersion"] = sysFlag, subVersion
		return c.mustCall(t, protocol.PullMessage, ext, nil).Code
	}
	hb("subver-a", "100")
	for _, tc := range []struct {
		sysFlag, version string
		want             protocol.ResponseCode
	}{
		{"0", "101", protocol.SubscriptionNotLatest},
		{"0", "100", protocol.Success},
		{"0", "0", protocol.Success},
		{"4", "101", protocol.Success}, // FLAG_SUBSCRIPTION: the pull's own subscription
	} {
		if got := pull(tc.sysFlag, tc.version); got != int16(tc.want) {
			t.Errorf("pull sysFlag %s subVersion %s after heartbeat version 100: %s, want %s", tc.sysFlag, tc.version, protocol.ResponseCode(got), tc.want)
		}
	}
	hb("subver-a", "101")
	if got := pull("0", "101"); got != int16(protocol.Success) {
		t.Errorf("pull subVersion 101 after heartbeat version 101: %s, want SUCCESS", protocol.ResponseCode(got))
	}
	// Another member that subscribed earlier heart-beats with its older version: the group keeps
	// the newest, so the newer member's pulls are still served.
	hb("subver-b", "50")
	if got := pull("0", "101"); got != int16(protocol.Success) {
		t.Errorf("pull subVersion 101 after an older member's heartbeat (version 50): %s, want SUCCESS", protocol.ResponseCode(got))
	}
}
