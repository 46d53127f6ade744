package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/progress-relay/progress-relay/internal/event"
)

// pollingSocket speaks Engine.IO 4 over HTTP long-polling by hand, and upgrades to WebSocket the
// way engine.io-client does: probe, stop polling once the running poll returns, then upgrade.
type pollingSocket struct {
	t    *testing.T
	base string // .../socket.io/?EIO=4&transport=polling&sid=…
	sid  string
}

func openPolling(t *testing.T, relayURL string) *pollingSocket {
	t.Helper()
	resp := pollingHandshake(t, relayURL, "4", nil)
	body, _ := io.ReadAll(resp.Body)
	var open struct{ Sid string }
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "0") || json.Unmarshal(body[1:], &open) != nil {
		t.Fatalf("polling handshake: %d %q", resp.StatusCode, body)
	}
	return &pollingSocket{t: t, base: relayURL + "/socket.io/?EIO=4&transport=polling&sid=" + open.Sid, sid: open.Sid}
}

// send POSTs one packet.
func (ps *pollingSocket) send(packet string) {
	ps.t.Helper()
	resp, err := http.Post(ps.base, "text/plain;charset=UTF-8", strings.NewReader(packet))
	if err != nil {
		ps.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		ps.t.Fatalf("POST %q: %d", packet, resp.StatusCode)
	}
}

// poll GETs the next packets; it runs off the test goroutine, so it reports errors.
func (ps *pollingSocket) poll() ([]string, error) {
	resp, err := http.Get(ps.base)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("poll: %d %q %v", resp.StatusCode, body, err)
	}
	return strings.Split(string(body), "\x1e"), nil // Engine.IO 4's record separator
}

// TestUpgradeMidStreamKeepsOrder upgrades a polling socket to WebSocket while events stream to
// it: events the engine still held for the polling transport must reach the client before the
// ones the relay writes straight to the WebSocket, with none lost or repeated.
func TestUpgradeMidStreamKeepsOrder(t *testing.T) {
	tr := newTestRelay(t, Config{})
	ps := openPolling(t, tr.url)
	ps.send("40")
	if p, err := ps.poll(); err != nil || len(p) != 1 || !strings.HasPrefix(p[0], "40{") {
		t.Fatalf("namespace connect: %q %v", p, err)
	}
	ps.send(`421["registerSession","up"]`)

	// The publisher keeps inFlight events ahead of the client, so that some are always on their
	// way (none collapse: the queue holds more), until the upgrade is done and 200 events more.
	const inFlight = 64
	credits := make(chan struct{}, inFlight)
	var upgradedAt atomic.Uint64 // events received when the upgrade packet went out; 0 before
	go func() {
		var seq uint64
		for {
			credits <- struct{}{}
			seq++
			typ := "progress"
			if at := upgradedAt.Load(); at > 0 && seq >= at+200 {
				typ = "complete"
			}
			in := []event.Input{{Session: "up", Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, seq))}}
			if _, err := tr.broker.Publish(context.Background(), in); err != nil || typ == "complete" {
				return
			}
		}
	}()

	var got []uint64
	complete := false
	record := func(packets []string) error {
		for _, p := range packets {
			switch {
			case p == "6", p == "2", strings.HasPrefix(p, "431["):
				// a noop (the upgrade's nudge), a ping, registerSession's acknowledgement
			case strings.HasPrefix(p, "42["):
				seq, ok := numberAfter([]byte(p), `{"seq":`)
				if !ok {
					return fmt.Errorf("event without seq: %q", p)
				}
				got = append(got, seq)
				complete = strings.HasPrefix(p, `42["complete"`)
				<-credits
			default:
				return fmt.Errorf("unexpected packet %q", p)
			}
		}
		return nil
	}

	// Poll until some events arrived, as a client would while it probes the WebSocket.
	stopPolling := make(chan struct{})
	pollingDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stopPolling:
				pollingDone <- nil
				return
			default:
			}
			packets, err := ps.poll()
			if err == nil {
				err = record(packets)
			}
			if err != nil {
				pollingDone <- err
				return
			}
		}
	}()
	eventually(t, "the registration", func() bool { return tr.subscribers() == 1 })

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(tr.url, "http")+"/socket.io/?EIO=4&transport=websocket&sid="+ps.sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, p, err := ws.ReadMessage(); err != nil || string(p) != "3probe" {
		t.Fatalf("probe: %q %v", p, err)
	}
	close(stopPolling) // the running poll returns with a noop at the latest
	if err := <-pollingDone; err != nil {
		t.Fatal(err)
	}
	upgradedAt.Store(uint64(len(got)) + 1)
	if err := ws.WriteMessage(websocket.TextMessage, []byte("5")); err != nil {
		t.Fatal(err)
	}

	for !complete {
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		if string(p) == "2" {
			ws.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		if err := record([]string{string(p)}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d events over polling, %d over WebSocket", upgradedAt.Load()-1, uint64(len(got))-upgradedAt.Load()+1)
	for i, seq := range got {
		if seq != uint64(i)+1 {
			t.Fatalf("event %d has seq %d: events were lost, repeated or reordered around the upgrade", i+1, seq)
		}
	}
}
