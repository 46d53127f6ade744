package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/progress-relay/progress-relay/internal/event"
)

// TestDirectWritesInterleaveWithTheEngine streams events, written straight to the WebSocket, while
// the engine writes its own packets to the same connection: a heartbeat every few milliseconds and
// the acknowledgements of a second registration. Every frame must arrive whole (the client's
// WebSocket reader fails on a torn one), events in order, with payloads of every frame length
// encoding (under 126 bytes, 16-bit and 64-bit lengths).
func TestDirectWritesInterleaveWithTheEngine(t *testing.T) {
	tr := newTestRelay(t, Config{PingInterval: 5 * time.Millisecond, PingTimeout: 10 * time.Second})
	rs := dialRaw(t, tr.url, nil)
	rs.emit(1, "registerSession", "mix")
	if got := rs.ack(1); got["ok"] != true {
		t.Fatalf("registerSession: %v", got)
	}

	sizes := []int{0, 100, 200, 70 << 10}
	const n = 400
	credits := make(chan struct{}, 64) // events ahead of the client; none collapse
	published := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			credits <- struct{}{}
			typ := "step"
			if i == n {
				typ = "complete"
			}
			data := fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("x", sizes[i%len(sizes)]))
			if _, err := tr.broker.Publish(context.Background(), []event.Input{{Session: "mix", Type: typ, Data: json.RawMessage(data)}}); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()

	var last uint64
	pings, acks := 0, 0
	for ackID := 2; last < n; {
		rs.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := rs.ws.ReadMessage()
		if err != nil {
			t.Fatalf("after seq %d: %v", last, err)
		}
		p := string(b)
		switch {
		case p == "2":
			pings++
			if err := rs.ws.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				t.Fatal(err)
			}
			// Ask for an acknowledgement now and then: the engine writes it while events flow.
			rs.emit(ackID, "registerSession", fmt.Sprintf("other-%d", ackID%8))
			ackID++
		case strings.HasPrefix(p, "43"):
			acks++
		default:
			seq, ok := numberAfter(b, `{"seq":`)
			if !strings.HasPrefix(p, `42["`) || !ok || seq != last+1 {
				t.Fatalf("after seq %d: got %.80q", last, p)
			}
			if want := fmt.Sprintf(`"pad":"%s"`, strings.Repeat("x", sizes[seq%uint64(len(sizes))])); !strings.Contains(p, want) {
				t.Fatalf("event %d: wrong payload (%d bytes)", seq, len(p))
			}
			last = seq
			<-credits
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if pings == 0 || acks == 0 {
		t.Fatalf("%d pings and %d acknowledgements during the stream: the engine wrote nothing in between", pings, acks)
	}
}
