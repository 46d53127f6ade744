package socketio

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/progress-relay/progress-relay/internal/event"
)

func TestWebSocketUpgradeWorksBehindCaddyWriter(t *testing.T) {
	tr := newTestRelay(t, Config{})
	rs := dialRaw(t, tr.url, nil)
	if rs.open.Sid == "" {
		t.Fatal("no sid in the handshake")
	}
	eventually(t, "the socket to be counted", func() bool { return tr.sio.Connections() == 1 })
	// Events can be written straight to the connection only on the relay's own transport, which
	// the engine gets when the hijacked connection is a wire.
	conn, ok := tr.sio.generations[0].eng.Clients().Load(rs.open.Sid)
	if !ok {
		t.Fatalf("no Engine.IO session %s", rs.open.Sid)
	}
	if _, direct := conn.Transport().(*wsTransport); !direct {
		t.Fatalf("the socket runs on %T, not the relay's WebSocket transport", conn.Transport())
	}
}

// TestEngineAloneCannotUpgradeBehindCaddyWriter is the control for the test above: the library's
// own handler, behind the same writer, refuses the upgrade, which is why Server wraps the writer.
func TestEngineAloneCannotUpgradeBehindCaddyWriter(t *testing.T) {
	tr := newTestRelay(t, Config{})
	srv := httptest.NewServer(behindCaddy(tr.sio.generations[0].eng))
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err == nil {
		ws.Close()
		t.Fatal("the bare engine upgraded behind a writer without Hijack; the wrapper may be unnecessary")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got %v, %v; want the engine's 400 upgrade failure", resp, err)
	}
}

func TestRegisterDeliversHistoryThenLiveInOrder(t *testing.T) {
	var observed atomic.Int64
	tr := newTestRelay(t, Config{Observe: func(transport string, ev *event.Event, latency time.Duration) {
		if transport == "socketio" && ev.Session == "s1" && latency >= 0 {
			observed.Add(1)
		}
	}})
	for i := 1; i <= 3; i++ {
		tr.publish(t, "s1", "progress", fmt.Sprintf(`{"sessionId":"s1","n":%d}`, i))
	}
	rs := dialRaw(t, tr.url, nil)
	rs.emit(1, "registerSession", "s1")
	if got := rs.ack(1); got["ok"] != true || got["seq"] != 3.0 || got["done"] != false {
		t.Fatalf("ack %v, want {ok: true, seq: 3, done: false}", got)
	}
	tr.publish(t, "s1", "progress", `{"sessionId":"s1","n":4}`)
	tr.publish(t, "s1", "complete", `{"sessionId":"s1","n":5}`)
	for want := uint64(1); want <= 5; want++ {
		name, data, m := rs.event()
		wantName := "progress"
		if want == 5 {
			wantName = "complete"
		}
		if name != wantName || m.Seq != want || m.Type != wantName || m.Session != "s1" ||
			string(data) != fmt.Sprintf(`{"sessionId":"s1","n":%d}`, want) {
			t.Fatalf("event %d: got %s %s %+v", want, name, data, m)
		}
	}
	eventually(t, "Observe to hear of the 5 events", func() bool { return observed.Load() == 5 })
	// The terminal event ends the subscription, not the socket.
	eventually(t, "the subscription to end", func() bool { return tr.subscribers() == 0 })
	rs.emit(2, "registerSession", "s2")
	if got := rs.ack(2); got["ok"] != true {
		t.Fatalf("the socket no longer registers after a terminal event: %v", got)
	}
}

func TestHandshakeAuthTokenServesRegistrationsWithoutOne(t *testing.T) {
	tr := newTestRelay(t, Config{Authorize: func(session, token string) error {
		if token != "letmein" {
			return errors.New("bad token")
		}
		return nil
	}})
	rs := dialRawConnect(t, tr.url, nil, `40{"token":"letmein"}`)
	rs.emit(1, "registerSession", "private")
	if got := rs.ack(1); got["ok"] != true {
		t.Fatalf("with the handshake's auth token: %v", got)
	}
	rs.emit(2, "registerSession", "other", map[string]any{"token": "wrong"})
	if got := rs.ack(2); got["ok"] != false {
		t.Fatalf("a wrong token in the payload wins over the handshake's: %v", got)
	}
	plain := dialRaw(t, tr.url, nil)
	plain.emit(1, "registerSession", "private")
	if got := plain.ack(1); got["ok"] != false {
		t.Fatalf("without any token: %v", got)
	}
}

func TestRegisterAcknowledgements(t *testing.T) {
	tr := newTestRelay(t, Config{
		MaxSessionsPerSocket: 2,
		Authorize: func(session, token string) error {
			if session == "private" && token != "letmein" {
				return errors.New("bad token")
			}
			return nil
		},
	})
	tr.publish(t, "done", "progress", `{}`)
	tr.publish(t, "done", "complete", `{}`)
	rs := dialRaw(t, tr.url, nil)

	cases := []struct {
		args    []any
		ok      bool
		errPart string
		seq     float64
		done    bool
	}{
		{args: []any{"bad/id"}, errPart: "invalid session ID"},
		{args: []any{42}, errPart: "session ID (a string)"},
		{args: []any{"x", "notanobject"}, errPart: "must be an object"},
		{args: []any{"x", map[string]any{"after": -1}}, errPart: "not a sequence number"},
		{args: []any{"private"}, errPart: "not authorized for session private: bad token"},
		{args: []any{"private", map[string]any{"token": "letmein"}}, ok: true},
		{args: []any{"private", map[string]any{"token": "letmein"}}, ok: true}, // again: still one subscription
		{args: []any{"done", map[string]any{"after": 2}}, ok: true, seq: 2, done: true},
		{args: []any{"second"}, ok: true},
		{args: []any{"third"}, errPart: "already watches 2 sessions"},
	}
	for i, c := range cases {
		rs.emit(i+1, "registerSession", c.args...)
		got := rs.ack(i + 1)
		if c.ok {
			if got["ok"] != true || got["seq"] != c.seq || got["done"] != c.done {
				t.Errorf("registerSession%v: got %v, want ok with seq %v done %v", c.args, got, c.seq, c.done)
			}
			continue
		}
		if msg, _ := got["error"].(string); got["ok"] != false || !strings.Contains(msg, c.errPart) {
			t.Errorf("registerSession%v: got %v, want an error containing %q", c.args, got, c.errPart)
		}
	}
	if n := tr.subscribers(); n != 2 {
		t.Fatalf("%d subscriptions, want 2 (private, second)", n)
	}

	rs.emit(20, "unregisterSession", "second")
	if got := rs.ack(20); got["ok"] != true {
		t.Fatalf("unregisterSession: %v", got)
	}
	eventually(t, "the subscription to be released", func() bool { return tr.subscribers() == 1 })

	// A late joiner resuming after seq 1 gets the terminal event, then its subscription ends.
	rs.emit(21, "registerSession", "done", map[string]any{"after": "1"})
	if got := rs.ack(21); got["ok"] != true || got["seq"] != 2.0 || got["done"] != false {
		t.Fatalf("got %v", got)
	}
	if name, _, m := rs.event(); name != "complete" || m.Seq != 2 {
		t.Fatalf("got %s %+v, want complete seq 2", name, m)
	}
	eventually(t, "one subscription (private)", func() bool { return tr.subscribers() == 1 })
}

func TestUnknownEventsAreIgnored(t *testing.T) {
	tr := newTestRelay(t, Config{})
	rs := dialRaw(t, tr.url, nil)
	rs.emit(1, "subscribe", "s1")
	rs.emit(2, "registerSession", "s1")
	// A socket's events are handled in order: had the unknown one been answered, its answer
	// would come first.
	if got := rs.ack(2); got["ok"] != true {
		t.Fatalf("got %v", got)
	}
}

func TestDisconnectReleasesSubscriptions(t *testing.T) {
	tr := newTestRelay(t, Config{})
	rs := dialRaw(t, tr.url, nil)
	rs.emit(1, "registerSession", "a")
	rs.ack(1)
	rs.emit(2, "registerSession", "b")
	rs.ack(2)
	if n := tr.subscribers(); n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}
	rs.ws.Close()
	eventually(t, "subscriptions to be released", func() bool { return tr.subscribers() == 0 })
	eventually(t, "the socket to be forgotten", func() bool { return tr.sio.Connections() == 0 })
}

// TestSlowSocketIsDroppedWhileOthersKeepReceiving: a socket that stops reading holds no one up,
// and is dropped after write_timeout rather than buffering without bound.
func TestSlowSocketIsDroppedWhileOthersKeepReceiving(t *testing.T) {
	tr := newTestRelay(t, Config{WriteTimeout: time.Second})
	slow := dialRaw(t, tr.url, smallReceiveBuffer())
	fast := dialRaw(t, tr.url, nil)
	for i, rs := range []*rawSocket{slow, fast} {
		rs.emit(1, "registerSession", "busy")
		if got := rs.ack(1); got["ok"] != true {
			t.Fatalf("socket %d: %v", i, got)
		}
	}
	// slow reads nothing from now on: 12 MB fill its socket buffers (4 MB at most) many times.
	pad := strings.Repeat("x", 8<<10)
	const n = 1500
	got := make(chan error, 1)
	go func() { got <- readSeqs(fast, n) }()
	for i := 1; i <= n; i++ {
		typ := "progress"
		if i == n {
			typ = "complete"
		}
		tr.publish(t, "busy", typ, fmt.Sprintf(`{"i":%d,"pad":%q}`, i, pad))
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fast socket did not get every event")
	}
	eventually(t, "the slow socket to be dropped", func() bool { return tr.sio.Connections() == 1 })
	eventually(t, "the slow socket's subscription to be released", func() bool { return tr.subscribers() == 0 })
	if kicked := tr.hub.Stats().Kicked; kicked != 1 {
		t.Fatalf("the hub counted %d slow consumers, want 1", kicked)
	}
}

// readSeqs reads events until the terminal one (seq last), checking that seqs only increase:
// a busy subscriber may have progress events collapsed, never reordered or repeated.
func readSeqs(rs *rawSocket, last uint64) error {
	var prev uint64
	for prev < last {
		p, err := rs.readErr(10 * time.Second)
		if err != nil {
			return fmt.Errorf("after seq %d: %w", prev, err)
		}
		if p == "2" {
			if err := rs.ws.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				return err
			}
			continue
		}
		i := strings.LastIndex(p, `{"seq":`)
		var seq uint64
		if i < 0 {
			return fmt.Errorf("not an event: %.80q", p)
		}
		if _, err := fmt.Sscanf(p[i:], `{"seq":%d,`, &seq); err != nil || seq <= prev {
			return fmt.Errorf("seq %d after %d (%v)", seq, prev, err)
		}
		prev = seq
	}
	return nil
}

func TestReloadKeepsSocketsAndAppliesChangesToNewOnes(t *testing.T) {
	tr := newTestRelay(t, Config{})
	old := dialRaw(t, tr.url, nil)
	old.emit(1, "registerSession", "r")
	old.ack(1)
	if old.open.PingInterval != 25000 || old.open.PingTimeout != 20000 {
		t.Fatalf("handshake %+v, want the default heartbeat", old.open)
	}

	if err := tr.sio.SetConfig(Config{PingInterval: 7 * time.Second, PingTimeout: 3 * time.Second,
		EventNames: map[string]string{"progress": "importProgress"}}); err != nil {
		t.Fatal(err)
	}
	fresh := dialRaw(t, tr.url, nil)
	if fresh.open.PingInterval != 7000 || fresh.open.PingTimeout != 3000 {
		t.Fatalf("handshake after reload %+v, want the new heartbeat", fresh.open)
	}
	fresh.emit(1, "registerSession", "r")
	fresh.ack(1)

	tr.publish(t, "r", "progress", `{"n":1}`)
	for _, rs := range []*rawSocket{old, fresh} {
		if name, _, m := rs.event(); name != "importProgress" || m.Seq != 1 {
			t.Fatalf("got %s %+v, want importProgress seq 1 on every socket", name, m)
		}
	}
	if err := tr.sio.SetConfig(Config{EventNames: map[string]string{"progress": "disconnect"}}); err == nil {
		t.Fatal("SetConfig accepted a reserved event name")
	}
}

func TestCloseEndsEverySocket(t *testing.T) {
	tr := newTestRelay(t, Config{})
	rs := dialRaw(t, tr.url, nil)
	rs.emit(1, "registerSession", "c")
	rs.ack(1)

	closed := make(chan error, 1)
	go func() { closed <- tr.sio.Close() }()
	for {
		p, err := rs.readErr(10 * time.Second)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the socket is still open after Close")
		}
		if err != nil {
			break // closed by the server
		}
		if p != "2" {
			t.Fatalf("got %q while closing", p)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if tr.sio.Connections() != 0 || tr.subscribers() != 0 {
		t.Fatalf("after Close: %d sockets, %d subscriptions", tr.sio.Connections(), tr.subscribers())
	}
	resp := pollingHandshake(t, tr.url, "4", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("handshake after Close: %d, want 503", resp.StatusCode)
	}
}
