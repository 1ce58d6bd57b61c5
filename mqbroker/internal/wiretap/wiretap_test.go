package wiretap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"net"
	"testing"

	"github.com/shopsaga/shopsaga/mqbroker/internal/remoting"
)

// upstream answers every request with a response whose body names its own
// address, as a name server's route does.
func upstream(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					req, err := remoting.ReadCommand(r, 1<<20)
					if err != nil {
						return
					}
					resp := remoting.NewResponse(req, 0, "")
					resp.Body = []byte(`{"brokerAddrs":{"0":"` + ln.Addr().String() + `"}}`)
					if _, err := c.Write(resp.AppendFrame(nil)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln
}

// sameLengthAddr finds a free loopback port whose address has the length of addr.
func sameLengthAddr(t *testing.T, addr string) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().String()
		ln.Close()
		if len(a) == len(addr) && a != addr {
			return a
		}
	}
	t.Skip("no free port of the same length")
	return ""
}

func TestProxyRecordsBothDirectionsAndRewritesAddresses(t *testing.T) {
	up := upstream(t)
	listen := sameLengthAddr(t, up.Addr().String())
	p, err := Listen([]Route{{Name: "namesrv", Listen: listen, Upstream: up.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	req := &remoting.Command{Code: 105, Language: "JAVA", Opaque: 7, ExtFields: map[string]string{"topic": "T"}}
	if _, err := c.Write(req.AppendFrame(nil)); err != nil {
		t.Fatal(err)
	}
	resp, err := remoting.ReadCommand(bufio.NewReader(c), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if want := `"0":"` + listen + `"`; !bytes.Contains(resp.Body, []byte(want)) {
		t.Fatalf("client got %s, want the proxy address %s", resp.Body, listen)
	}
	p.Close()

	var buf bytes.Buffer
	if err := Write(&buf, Header{Command: "test"}, p.Rec.Frames(), Trailer{Stdout: "ok"}); err != nil {
		t.Fatal(err)
	}
	g, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	reqs := g.Requests()
	if len(g.Frames) != 2 || len(reqs) != 1 || reqs[0].Code != 105 || reqs[0].Ext["topic"] != "T" {
		t.Fatalf("frames %+v", g.Frames)
	}
	rf, ok := g.ResponseTo(reqs[0])
	if !ok || !bytes.Contains(rf.Raw, []byte(up.Addr().String())) {
		t.Fatalf("recorded response %+v should hold the original upstream address", rf)
	}
	cmd, err := reqs[0].Command()
	if err != nil || cmd.Opaque != 7 {
		t.Fatalf("decode recorded request: %v %+v", err, cmd)
	}
	if g.Trailer.Stdout != "ok" {
		t.Fatalf("trailer %+v", g.Trailer)
	}
}

func TestListenRefusesAddressesOfDifferentLength(t *testing.T) {
	if _, err := Listen([]Route{{Name: "x", Listen: "127.0.0.1:1", Upstream: "127.0.0.1:19876"}}); err == nil {
		t.Fatal("want an error")
	}
}

func TestHexAddr(t *testing.T) {
	got, err := hexAddr("127.0.0.1:19911")
	if err != nil || got != "7F00000100004DC7" {
		t.Fatalf("hexAddr = %q, %v", got, err)
	}
}

// TestWrite_goldenBytes pins the golden-file format of doc.go.
func TestWrite_goldenBytes(t *testing.T) {
	var rec Recording
	cmd := &remoting.Command{Code: 106, Language: "JAVA", Version: 401, Opaque: 3}
	rec.add("namesrv", 1, true, cmd.AppendFrame(nil))
	var buf bytes.Buffer
	if err := Write(&buf, Header{Command: "mqadmin clusterList -n 127.0.0.1:29876",
		Routes: []Route{{Name: "namesrv", Listen: "127.0.0.1:29876", Upstream: "127.0.0.1:19876"}}},
		rec.Frames(), Trailer{Stdout: "ok\n"}); err != nil {
		t.Fatal(err)
	}
	frame := base64.StdEncoding.EncodeToString(cmd.AppendFrame(nil))
	want := `{"wiretap":1,"command":"mqadmin clusterList -n 127.0.0.1:29876","routes":[{"name":"namesrv","listen":"127.0.0.1:29876","upstream":"127.0.0.1:19876"}]}
{"seq":1,"conn":1,"route":"namesrv","from":"client","dir":"request","frame":"` + frame + `","code":106,"opaque":3,"flag":0,"serialize":0,"language":"JAVA","version":401,"bodyLen":0}
{"stdout":"ok\n","stderr":"","exit":0}
`
	if buf.String() != want {
		t.Fatalf("golden file:\n%s\nwant:\n%s", buf.String(), want)
	}
}
