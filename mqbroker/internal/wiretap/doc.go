// Package wiretap records RocketMQ remoting traffic between a real client and
// a real server, so that CI can replay what Apache RocketMQ's own tools send
// (and what Apache RocketMQ answers) without Java.
//
// A Proxy listens on one or more local addresses, each forwarding to an
// upstream (a name server, a broker). Every frame that crosses it, in either
// direction, is appended to a Recording. Frames are forwarded byte for byte
// except for address rewriting: each upstream address that occurs in a frame
// coming from upstream (routes, cluster info) is replaced by the proxy's own
// listening address, so the client keeps talking through the proxy. Pick
// listening addresses of the same length as the upstream ones (127.0.0.1:19911
// ↔ 127.0.0.1:29911) and the rewrite never changes a frame's length, whatever
// header codec the frame uses. The hex form of the address inside message ids
// (IPv4 ‖ port, 16 hex digits) is rewritten the same way. Recorded frames are
// the originals, before any rewriting.
//
// # Golden file format (version 1)
//
// A golden file is JSON Lines. The first line is the header:
//
//	{"wiretap":1,"command":"mqadmin clusterList -n 127.0.0.1:29876",
//	 "routes":[{"name":"namesrv","listen":"127.0.0.1:29876","upstream":"127.0.0.1:19876"}],
//	 "note":"..."}
//
// Every further line is one frame, in the order the proxy saw them:
//
//	{"seq":1,"conn":1,"route":"namesrv","from":"client","dir":"request","frame":"<base64>",
//	 "code":106,"opaque":0,"flag":0,"serialize":0,"language":"JAVA","version":401,
//	 "ext":{...},"body":"<body as text, when it is valid UTF-8>","bodyLen":0}
//
// frame is the complete frame including its 4-byte length prefix, exactly as
// sent (base64); it is authoritative. The decoded fields after it are for reading and
// for tests that want to look at one field; dir is "request" or "response"
// from the flag's response bit (a server-initiated request such as
// NOTIFY_CONSUMER_IDS_CHANGED is a "request" travelling towards the client —
// see "from"). from is "client" or "server". conn numbers the client
// connections per proxy run. The last line is the trailer with what the
// command printed:
//
//	{"stdout":"...","stderr":"...","exit":0}
package wiretap
