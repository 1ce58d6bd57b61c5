// Package healthcheck probes a running mqbroker over the remoting protocol:
// it asks the name server for the route of the default topic, which checks
// that the process accepts connections and answers requests. The image is
// FROM scratch, so this is what compose's health check runs.
package healthcheck

import (
	"bufio"
	"context"
	"fmt"
	"net"

	"github.com/shopsaga/shopsaga/mqbroker/internal/protocol"
	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// Probe returns nil if the name server at addr answers a route lookup.
func Probe(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	req := &remoting.Command{Code: int16(protocol.GetRouteInfoByTopic), Language: "GO", Version: 317, Opaque: 1,
		ExtFields: map[string]string{"topic": "TBW102"}}
	if _, err := c.Write(req.AppendFrame(nil)); err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	resp, err := remoting.ReadCommand(bufio.NewReader(c), 16<<20)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if resp.Code != int16(protocol.Success) {
		return fmt.Errorf("health check: route lookup answered %s: %s", protocol.ResponseCode(resp.Code), resp.Remark)
	}
	return nil
}
