package socketio

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawSocket speaks Engine.IO 4 / Socket.IO 5 over a WebSocket by hand. The Node tests use the
// real socket.io clients; this is for what a real client will not do: stop reading, or look at
// the handshake the server sent.
type rawSocket struct {
	t       *testing.T
	ws      *websocket.Conn
	pending []string // events read while looking for an acknowledgement
	open    struct {
		Sid          string `json:"sid"`
		PingInterval int    `json:"pingInterval"`
		PingTimeout  int    `json:"pingTimeout"`
	}
}

// dialRaw opens a websocket-only Engine.IO session at base and joins the default namespace.
func dialRaw(t *testing.T, base string, dialer *websocket.Dialer) *rawSocket {
	t.Helper()
	return dialRawConnect(t, base, dialer, "40")
}

// dialRawConnect is dialRaw with the namespace connect packet given, e.g. 40{"token":"…"} for a
// client's auth option.
func dialRawConnect(t *testing.T, base string, dialer *websocket.Dialer, connectPacket string) *rawSocket {
	t.Helper()
	if dialer == nil {
		dialer = websocket.DefaultDialer
	}
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, resp, err := dialer.Dial(u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", u, err, status)
	}
	rs := &rawSocket{t: t, ws: ws}
	t.Cleanup(func() { ws.Close() })
	open := rs.read()
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &rs.open) != nil {
		t.Fatalf("handshake: got %q, want an Engine.IO open packet", open)
	}
	rs.send(connectPacket)
	if connect := rs.read(); !strings.HasPrefix(connect, "40{") {
		t.Fatalf("namespace connect: got %q", connect)
	}
	return rs
}

func (rs *rawSocket) send(packet string) {
	rs.t.Helper()
	if err := rs.ws.WriteMessage(websocket.TextMessage, []byte(packet)); err != nil {
		rs.t.Fatalf("send %q: %v", packet, err)
	}
}

// emit sends a Socket.IO event, asking for an acknowledgement when ackID > 0.
func (rs *rawSocket) emit(ackID int, name string, args ...any) {
	rs.t.Helper()
	b, err := json.Marshal(append([]any{name}, args...))
	if err != nil {
		rs.t.Fatal(err)
	}
	id := ""
	if ackID > 0 {
		id = strconv.Itoa(ackID)
	}
	rs.send("42" + id + string(b))
}

// read returns the next Engine.IO packet that is not a heartbeat, answering pings.
func (rs *rawSocket) read() string {
	rs.t.Helper()
	for {
		p, err := rs.readErr(10 * time.Second)
		if err != nil {
			rs.t.Fatalf("read: %v", err)
		}
		if p == "2" {
			rs.send("3")
			continue
		}
		return p
	}
}

func (rs *rawSocket) readErr(timeout time.Duration) (string, error) {
	rs.ws.SetReadDeadline(time.Now().Add(timeout))
	_, b, err := rs.ws.ReadMessage()
	return string(b), err
}

// ack reads the acknowledgement with ackID and decodes its first argument.
func (rs *rawSocket) ack(ackID int) map[string]any {
	rs.t.Helper()
	p := rs.read()
	for strings.HasPrefix(p, "42") {
		rs.pending = append(rs.pending, p)
		p = rs.read()
	}
	prefix := "43" + strconv.Itoa(ackID)
	var args []map[string]any
	if !strings.HasPrefix(p, prefix) || json.Unmarshal([]byte(p[len(prefix):]), &args) != nil || len(args) != 1 {
		rs.t.Fatalf("got %q, want acknowledgement %d with one object", p, ackID)
	}
	return args[0]
}

// meta is the third argument of every relayed event.
type meta struct {
	Seq     uint64 `json:"seq"`
	Type    string `json:"type"`
	Session string `json:"session"`
}

// event reads the next Socket.IO event: its name, data and meta.
func (rs *rawSocket) event() (string, json.RawMessage, meta) {
	rs.t.Helper()
	var p string
	if len(rs.pending) > 0 {
		p, rs.pending = rs.pending[0], rs.pending[1:]
	} else {
		p = rs.read()
	}
	var args []json.RawMessage
	if !strings.HasPrefix(p, "42") || json.Unmarshal([]byte(p[2:]), &args) != nil || len(args) != 3 {
		rs.t.Fatalf("got %q, want an event with data and meta", p)
	}
	var name string
	var m meta
	if json.Unmarshal(args[0], &name) != nil || json.Unmarshal(args[2], &m) != nil {
		rs.t.Fatalf("event %q: bad name or meta", p)
	}
	return name, args[1], m
}

// smallReceiveBuffer makes a dialer whose sockets buffer little, so that a client that stops
// reading pushes back on the server quickly.
func smallReceiveBuffer() *websocket.Dialer {
	d := *websocket.DefaultDialer
	d.NetDial = func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}
	return &d
}

// pollingHandshake opens an Engine.IO session over HTTP long-polling and returns the response.
func pollingHandshake(t *testing.T, base, eio string, header http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/socket.io/?EIO="+eio+"&transport=polling", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
