package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
)

type testRelay struct {
	broker  broker.Broker
	hub     *hub.Hub
	handler *Handler
	srv     *httptest.Server
	url     string
}

// newTestRelay serves the seed protocol on a real loopback server, over TLS when tlsOn.
func newTestRelay(t *testing.T, cfg Config, tlsOn bool) *testRelay {
	t.Helper()
	mb := broker.NewMemory(broker.Defaults())
	h, err := hub.New(mb, hub.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRelay{broker: mb, hub: h, handler: New(h, cfg)}
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.handler.ServeSeed(w, r, Access{})
	})
	if tlsOn {
		tr.srv = httptest.NewTLSServer(serve)
	} else {
		tr.srv = httptest.NewServer(serve)
	}
	tr.url = "ws" + strings.TrimPrefix(tr.srv.URL, "http")
	t.Cleanup(func() {
		tr.handler.Shutdown(time.Second)
		tr.srv.Close()
		h.Close()
	})
	return tr
}

func (tr *testRelay) publish(t *testing.T, session string, n int) {
	t.Helper()
	data, _ := json.Marshal(map[string]any{"sessionId": session, "n": n})
	if _, err := tr.broker.Publish(context.Background(), []event.Input{{Session: session, Type: "progress", Data: data}}); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawClient speaks WebSocket by hand, to send what gorilla's client never would.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return &rawClient{conn: conn, br: br}
}

func (c *rawClient) send(t *testing.T, b []byte) {
	t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

// next reads one server frame: its opcode and payload.
func (c *rawClient) next(t *testing.T) (byte, []byte) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := c.br.Read(h[:1]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	if _, err := c.br.Read(h[1:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	n := int(h[1] & 0x7f)
	if n >= 126 {
		t.Fatalf("test client reads short frames only")
	}
	p := make([]byte, n)
	for got := 0; got < n; {
		m, err := c.br.Read(p[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += m
	}
	return h[0] & 0x0f, p
}

// closeCode reads frames until a close frame and returns its code.
func (c *rawClient) closeCode(t *testing.T) int {
	t.Helper()
	for {
		op, p := c.next(t)
		if op == opClose {
			if len(p) < 2 {
				return websocket.CloseNoStatusReceived
			}
			return int(p[0])<<8 | int(p[1])
		}
	}
}

func TestIdleConnectionsHaveNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's")
	}
	tr := newTestRelay(t, Config{}, false)
	before := runtime.NumGoroutine()
	const n = 50
	for i := range n {
		ws, _, err := websocket.DefaultDialer.Dial(tr.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		if err := ws.WriteJSON(map[string]string{"sessionId": "idle"}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			tr.publish(t, "idle", 1)
			if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"n":1`) {
				t.Fatalf("first event: %s %v", msg, err)
			}
		}
	}
	waitFor(t, "subscribers", func() bool { return tr.hub.Stats().Subscribers["websocket"] == n })
	if got := tr.handler.Polled(); got != n {
		t.Fatalf("%d of %d connections watched by the poller", got, n)
	}
	// The server holds no goroutine per connection; the client side here has none either.
	time.Sleep(50 * time.Millisecond)
	if grown := runtime.NumGoroutine() - before; grown > n/5 {
		t.Fatalf("%d goroutines more with %d idle connections", grown, n)
	}
}

func TestRegistrationInFragmentsAndSplitAcrossReads(t *testing.T) {
	tr := newTestRelay(t, Config{}, false)
	c := dialRaw(t, tr.url)
	msg := []byte(`{"sessionId":"frag","envelope":true}`)
	wire := append(clientFrame(false, opText, msg[:10]), clientFrame(true, opPing, []byte("mid"))...)
	wire = append(wire, clientFrame(false, opContinuation, msg[10:20])...)
	wire = append(wire, clientFrame(true, opContinuation, msg[20:])...)
	for i := range wire { // one byte per write: every frame arrives in pieces
		c.send(t, wire[i:i+1])
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if op, p := c.next(t); op != opPong || string(p) != "mid" {
		t.Fatalf("ping between fragments: got op %d %q, want a pong", op, p)
	}
	waitFor(t, "the registration", func() bool { return tr.hub.Stats().Subscribers["websocket"] == 1 })
	tr.publish(t, "frag", 7)
	op, p := c.next(t)
	if op != opText || !strings.Contains(string(p), `"seq":1`) || !strings.Contains(string(p), `"n":7`) {
		t.Fatalf("event: op %d %s", op, p)
	}
}

func TestClientCloseIsEchoedAndReleasesTheSubscription(t *testing.T) {
	tr := newTestRelay(t, Config{}, false)
	c := dialRaw(t, tr.url)
	c.send(t, clientFrame(true, opText, []byte(`{"sessionId":"bye"}`)))
	waitFor(t, "the registration", func() bool { return tr.hub.Stats().Subscribers["websocket"] == 1 })
	c.send(t, clientFrame(true, opClose, websocket.FormatCloseMessage(4001, "leaving")))
	if code := c.closeCode(t); code != 4001 {
		t.Fatalf("close echoed with %d, want 4001", code)
	}
	if _, err := c.br.ReadByte(); err == nil {
		t.Fatal("the server kept the connection open after the close handshake")
	}
	waitFor(t, "the subscription to go", func() bool { return tr.hub.Stats().Subscribers["websocket"] == 0 })
	waitFor(t, "the connection to go", func() bool { return tr.handler.Connections() == 0 })
}

func TestProtocolErrorsCloseWithTheirCode(t *testing.T) {
	tr := newTestRelay(t, Config{MaxMessage: 64}, false)
	unmasked := clientFrame(true, opText, []byte(`{"sessionId":"x"}`))
	unmasked[1] &^= 0x80
	for _, tc := range []struct {
		name string
		wire []byte
		code int
	}{
		{"unmasked", unmasked, websocket.CloseProtocolError},
		{"too big", clientFrame(true, opText, []byte(strings.Repeat("m", 65))), websocket.CloseMessageTooBig},
		{"too big in fragments", append(clientFrame(false, opText, []byte(strings.Repeat("m", 40))),
			clientFrame(true, opContinuation, []byte(strings.Repeat("m", 40)))...), websocket.CloseMessageTooBig},
		{"stray continuation", clientFrame(true, opContinuation, []byte("x")), websocket.CloseProtocolError},
		{"binary registration", clientFrame(true, opBinary, []byte(`{"sessionId":"x"}`)), websocket.CloseUnsupportedData},
		{"not JSON", clientFrame(true, opText, []byte(`{"sessionId"`)), websocket.CloseInvalidFramePayloadData},
	} {
		c := dialRaw(t, tr.url)
		c.send(t, tc.wire)
		if code := c.closeCode(t); code != tc.code {
			t.Errorf("%s: closed with %d, want %d", tc.name, code, tc.code)
		}
	}
	waitFor(t, "every connection to end", func() bool { return tr.handler.Connections() == 0 })
}

func TestKeepaliveDropsSilentClientsAndKeepsAnsweringOnes(t *testing.T) {
	tr := newTestRelay(t, Config{PingInterval: 40 * time.Millisecond, PongTimeout: 40 * time.Millisecond}, false)
	silent := dialRaw(t, tr.url) // reads nothing, so never answers a ping
	silent.send(t, clientFrame(true, opText, []byte(`{"sessionId":"ka"}`)))
	answering, _, err := websocket.DefaultDialer.Dial(tr.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer answering.Close()
	answering.WriteJSON(map[string]string{"sessionId": "ka"})
	read := make(chan error, 1)
	go func() { // gorilla's client answers pings while it reads
		for {
			if _, _, err := answering.ReadMessage(); err != nil {
				read <- err
				return
			}
		}
	}()
	waitFor(t, "the silent client to be dropped", func() bool { return tr.handler.Connections() == 1 })
	time.Sleep(300 * time.Millisecond) // several ping intervals
	select {
	case err := <-read:
		t.Fatalf("the answering client was dropped: %v", err)
	default:
	}
	if tr.handler.Connections() != 1 || tr.hub.Stats().Subscribers["websocket"] != 1 {
		t.Fatalf("%d connections, %d subscribers; want the answering one", tr.handler.Connections(), tr.hub.Stats().Subscribers["websocket"])
	}
}

func TestSeedConnectionMustRegisterInTime(t *testing.T) {
	tr := newTestRelay(t, Config{RegisterTimeout: 50 * time.Millisecond}, false)
	c := dialRaw(t, tr.url)
	if code := c.closeCode(t); code != websocket.ClosePolicyViolation {
		t.Fatalf("closed with %d, want 1008", code)
	}
	waitFor(t, "the connection to end", func() bool { return tr.handler.Connections() == 0 })
}

// A TLS connection cannot be read from its socket: it falls back to a reading goroutine.
func TestTLSConnectionsAreReadToo(t *testing.T) {
	tr := newTestRelay(t, Config{}, true)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	ws, _, err := d.Dial(tr.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// Longer than the reader's buffer: the frame arrives over several reads.
	ws.WriteJSON(map[string]string{"sessionId": "tls", "pad": strings.Repeat("p", 1500)})
	waitFor(t, "the registration", func() bool { return tr.hub.Stats().Subscribers["websocket"] == 1 })
	tr.publish(t, "tls", 3)
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"n":3`) {
		t.Fatalf("event over TLS: %s %v", msg, err)
	}
	if tr.handler.Polled() != 0 {
		t.Fatal("a TLS connection was put in the poller")
	}
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, 1000) {
		var ce *websocket.CloseError
		t.Fatalf("close over TLS: %v (%v)", err, errors.As(err, &ce))
	}
	waitFor(t, "the connection to end", func() bool { return tr.handler.Connections() == 0 })
}
