package remoting

// invoke.go: requests the server sends to a client and whose answer it
// waits for (Apache RocketMQ's Broker2Client#callClient). Matching an
// answer to its request is the Handler's job: the server hands every
// response frame a peer sends to the Handler's ServeResponse; the request
// carries an opaque from NextOpaque, which the answer repeats.

// ResponseObserver, when a Handler also implements it, receives the
// responses peers send to server-initiated requests (SendRequest). It is
// called on the connection's reader goroutine and must not block; a
// response nobody waits for is to be dropped.
type ResponseObserver interface {
	ServeResponse(c *Conn, resp *Command)
}

// NextOpaque reserves an opaque for a server-initiated request; on this
// connection it repeats none of SendOneway's or other NextOpaque's (until
// it wraps after 2³² requests). Register the waiter for the answer under it
// before SendRequest, so an answer cannot arrive first.
func (c *Conn) NextOpaque() int32 { return c.opaque.Add(1) }

// SendRequest sends a server-initiated request that expects an answer (no
// oneway bit), with an opaque from NextOpaque. It is safe for concurrent use.
func (c *Conn) SendRequest(opaque int32, code int16, ext map[string]string, body []byte) error {
	return c.Write(&Command{Code: code, Language: "GO", Version: 317, Opaque: opaque, ExtFields: ext, Body: body})
}
