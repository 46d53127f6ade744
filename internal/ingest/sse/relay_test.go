package sse

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
)

// waitTimeout bounds every wait for something to happen in these tests.
const waitTimeout = 10 * time.Second

// relay is the real memory broker and hub that ingested events flow through.
type relay struct {
	broker *broker.Memory
	hub    *hub.Hub
}

func newRelay(t *testing.T) *relay {
	t.Helper()
	b := broker.NewMemory(broker.Defaults())
	h, err := hub.New(b, hub.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &relay{broker: b, hub: h}
}

func (r *relay) subscribe(t *testing.T, session, transport string) *hub.Subscription {
	t.Helper()
	sub, err := r.hub.Subscribe(context.Background(), session, hub.Options{Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// drain reads sub until a terminal event, the subscription's end, or the deadline.
func drain(sub *hub.Subscription) ([]*event.Event, error) {
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	var got, buf []*event.Event
	for {
		select {
		case <-sub.Ready():
			buf = sub.Next(buf)
			for _, ev := range buf {
				got = append(got, ev)
				if ev.Terminal {
					return got, nil
				}
			}
		case <-sub.Done():
			return got, fmt.Errorf("subscription dropped: %v", sub.Err())
		case <-deadline.C:
			return got, fmt.Errorf("no terminal event within %v", waitTimeout)
		}
	}
}

// wantSequence checks that evs are seqs 1..len(ids) in order, with the given source IDs and a
// terminal last event.
func wantSequence(t *testing.T, who string, evs []*event.Event, ids []string) {
	t.Helper()
	if len(evs) != len(ids) {
		t.Fatalf("%s: got %d events %s, want %d", who, len(evs), describe(evs), len(ids))
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.ID != ids[i] {
			t.Fatalf("%s: event %d is seq %d id %q; want seq %d id %q (all: %s)", who, i, ev.Seq, ev.ID, i+1, ids[i], describe(evs))
		}
	}
	if !evs[len(evs)-1].Terminal {
		t.Fatalf("%s: last event %s is not terminal", who, describe(evs[len(evs)-1:]))
	}
}

func describe(evs []*event.Event) string {
	parts := make([]string, len(evs))
	for i, ev := range evs {
		parts[i] = fmt.Sprintf("%d/%s/%s", ev.Seq, ev.ID, ev.Type)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// eventually waits for cond, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sseEvent formats one upstream event the way a backend writes it.
func sseEvent(id, typ string, n int) string {
	return fmt.Sprintf("id: %s\ndata: {\"type\":%q,\"n\":%d}\n\n", id, typ, n)
}

// ids returns "1".."n".
func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i + 1)
	}
	return out
}

// upstream records the requests an upstream SSE server received.
type upstream struct {
	mu       sync.Mutex
	requests []*http.Request
}

func (u *upstream) record(r *http.Request) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.requests = append(u.requests, r.Clone(context.Background()))
	return len(u.requests)
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

func (u *upstream) header(i int, name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests[i].Header.Get(name)
}

func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
}

func writeFlush(w http.ResponseWriter, s string) {
	_, _ = w.Write([]byte(s))
	_ = http.NewResponseController(w).Flush()
}

// testClock records the waits a Puller asks for and lets each pass after a millisecond.
type testClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *testClock) clock() clock {
	return clock{
		after: func(d time.Duration) <-chan time.Time {
			c.mu.Lock()
			c.waits = append(c.waits, d)
			c.mu.Unlock()
			return time.After(time.Millisecond)
		},
		jitter: func(int64) int64 { return 0 },
	}
}

func (c *testClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
