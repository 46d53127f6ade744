package main

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRelay receives webhooks as the relay does: it checks the signature, accepts a JSON object
// or array, and drops events whose eventId it has already accepted.
type fakeRelay struct {
	t      *testing.T
	secret string
	// answer, when set, decides the status of the nth request (from 1) before it is accepted.
	answer func(n int) int

	mu       sync.Mutex
	requests int
	events   []progressEvent // accepted, in order
	seen     map[string]bool
	resent   int // events received again after a failed attempt
	done     chan struct{}
}

func newFakeRelay(t *testing.T, secret string) (*fakeRelay, *httptest.Server) {
	f := &fakeRelay{t: t, secret: secret, seen: map[string]bool{}, done: make(chan struct{})}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts
}

func (f *fakeRelay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	want := sign([]byte(f.secret), body)
	if !hmac.Equal([]byte(r.Header.Get(signatureHeader)), []byte(want)) {
		f.t.Errorf("request %d: signature %q, want %q", f.requests, r.Header.Get(signatureHeader), want)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var batch []progressEvent
	if strings.HasPrefix(string(body), "[") {
		if err := json.Unmarshal(body, &batch); err != nil {
			f.t.Errorf("request %d: %v", f.requests, err)
		}
	} else {
		var one progressEvent
		if err := json.Unmarshal(body, &one); err != nil {
			f.t.Errorf("request %d: %v", f.requests, err)
		}
		batch = append(batch, one)
	}
	if f.answer != nil {
		if status := f.answer(f.requests); status != http.StatusAccepted {
			for _, ev := range batch {
				f.seen["attempted:"+ev.EventID] = true
			}
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(status)
			return
		}
	}
	for _, ev := range batch {
		if f.seen["attempted:"+ev.EventID] {
			f.resent++
		}
		if f.seen[ev.EventID] {
			continue // a duplicate: acknowledged and dropped
		}
		f.seen[ev.EventID] = true
		f.events = append(f.events, ev)
		if ev.terminal() {
			close(f.done)
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeRelay) wait(t *testing.T) []progressEvent {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no terminal event reached the relay within 10s")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]progressEvent(nil), f.events...)
}

func newTestWebhooks(t *testing.T, url, secret string) *webhookReporter {
	w := newWebhookReporter(t.Context(), url, secret, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.retry = retryPolicy{initial: time.Millisecond, max: 10 * time.Millisecond, giveUp: 5 * time.Second}
	return w
}

// checkWebhookEvents checks what the relay accepted: numbered from 1, one session, complete last.
func checkWebhookEvents(t *testing.T, events []progressEvent, session string, rows int) {
	t.Helper()
	if len(events) != rows+2 {
		t.Fatalf("%d events, want %d", len(events), rows+2)
	}
	for i, ev := range events {
		if ev.SessionID != session || ev.EventID != session+":"+strconv.Itoa(i+1) {
			t.Fatalf("event %d: session %q eventId %q", i, ev.SessionID, ev.EventID)
		}
	}
	if last := events[len(events)-1]; last.Type != typeComplete || last.Processed != rows {
		t.Fatalf("last event %+v", last)
	}
}

func TestWebhookModeSendsSignedEventsInOrder(t *testing.T) {
	relay, relayServer := newFakeRelay(t, "s3cret")
	hooks := newTestWebhooks(t, relayServer.URL, "s3cret")
	_, ts := newTestServer(t, settings{}, hooks)

	created := post(t, ts.URL+"/api/import", "text/csv", smallCSV, http.StatusAccepted)
	events := relay.wait(t)
	checkWebhookEvents(t, events, created["sessionId"].(string), 5)
	if last := events[len(events)-1]; last.Created != 2 || last.Failed != 3 {
		t.Fatalf("summary %+v", last)
	}
	hooks.wait()
}

func TestWebhooksAreRetriedUntilTheRelayTakesThem(t *testing.T) {
	relay, relayServer := newFakeRelay(t, "s3cret")
	relay.answer = func(n int) int {
		switch n {
		case 1:
			return http.StatusServiceUnavailable
		case 2:
			return http.StatusTooManyRequests
		}
		return http.StatusAccepted
	}
	hooks := newTestWebhooks(t, relayServer.URL, "s3cret")
	_, ts := newTestServer(t, settings{}, hooks)

	created := post(t, ts.URL+"/api/import", "text/csv", smallCSV, http.StatusAccepted)
	events := relay.wait(t)
	checkWebhookEvents(t, events, created["sessionId"].(string), 5)
	relay.mu.Lock()
	defer relay.mu.Unlock()
	if relay.resent == 0 {
		t.Fatal("no event was sent again after the failed attempts")
	}
}

func TestWebhooksStopWhenTheRelaySaysTheSessionIsOver(t *testing.T) {
	relay, relayServer := newFakeRelay(t, "s3cret")
	relay.answer = func(int) int { return http.StatusConflict }
	hooks := newTestWebhooks(t, relayServer.URL, "s3cret")
	_, ts := newTestServer(t, settings{Pace: time.Millisecond}, hooks)

	post(t, ts.URL+"/api/import", "text/csv", smallCSV, http.StatusAccepted)
	hooks.wait() // returns once the sender has stopped: after the 409, it sends nothing more
	relay.mu.Lock()
	defer relay.mu.Unlock()
	if relay.requests != 1 {
		t.Fatalf("%d requests after a 409, want 1", relay.requests)
	}
}
