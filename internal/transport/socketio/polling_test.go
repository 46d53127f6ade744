package socketio

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// poll is one long-polling GET of an Engine.IO 4 session.
func poll() (*types.HttpContext, *httptest.ResponseRecorder) {
	rec := httptest.NewRecorder()
	return types.NewHttpContext(rec, httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling&sid=x", nil)), rec
}

func answered(t *testing.T, ctx *types.HttpContext, rec *httptest.ResponseRecorder) string {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the poll was not answered")
	}
	return rec.Body.String()
}

// TestPollingSendThatLostTheRaceWaitsForTheNextPoll replays what the socket's flush and the
// upgrade check do when both saw the transport writable: two Sends for one pending poll.
func TestPollingSendThatLostTheRaceWaitsForTheNextPoll(t *testing.T) {
	first, firstRec := poll()
	tr := (&pollingBuilder{}).New(first).(*pollingTransport)
	tr.OnRequest(first)
	if !tr.Writable() {
		t.Fatal("a pending poll should make the transport writable")
	}

	tr.Send([]*packet.Packet{{Type: packet.NOOP}})                                  // the upgrade check wins
	tr.Send([]*packet.Packet{{Type: packet.MESSAGE, Data: strings.NewReader("a")}}) // the flush lost
	tr.Send([]*packet.Packet{{Type: packet.NOOP}})                                  // a noop that lost is dropped
	if tr.Writable() {
		t.Fatal("writable while a message waits: something newer could overtake it")
	}
	if got := answered(t, first, firstRec); got != "6" {
		t.Fatalf("first poll answered %q, want the noop alone", got)
	}

	second, secondRec := poll()
	tr.OnRequest(second)
	if got := answered(t, second, secondRec); got != "4a" {
		t.Fatalf("next poll answered %q, want the message that waited", got)
	}
}

func TestPollingHandsWaitingPacketsOver(t *testing.T) {
	first, _ := poll()
	tr := (&pollingBuilder{}).New(first).(*pollingTransport)
	tr.Send([]*packet.Packet{{Type: packet.MESSAGE, Data: strings.NewReader("a")}}) // no poll pending
	if w := tr.takeWaiting(); len(w) != 1 || tr.Writable() {
		t.Fatalf("took %d packets; writable %v", len(w), tr.Writable())
	}
	if w := tr.takeWaiting(); len(w) != 0 {
		t.Fatal("packets handed over twice")
	}
}
