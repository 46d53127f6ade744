package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// streamTimeout bounds every stream a cluster test reads: it must have ended by then.
const streamTimeout = 45 * time.Second

// stream is one subscriber, read in the background until its session ends. Seed-protocol frames
// without envelopes carry no seq: they are recorded with seq 0.
type stream struct {
	what string

	mu   sync.Mutex // guards got and err
	got  []envelope
	err  error
	done chan struct{}
}

func newStream(what string) *stream { return &stream{what: what, done: make(chan struct{})} }

func (s *stream) add(e envelope) {
	s.mu.Lock()
	s.got = append(s.got, e)
	s.mu.Unlock()
}

// end records why the stream ended (nil: it ended as the contract says after a terminal event).
func (s *stream) end(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.done)
}

// count is how many events arrived so far.
func (s *stream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// ended tells whether the stream has ended.
func (s *stream) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// wait returns every event, once the stream has ended after the session's terminal event.
func (s *stream) wait(t *testing.T) []envelope {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(streamTimeout + 5*time.Second):
		t.Fatalf("%s: still open", s.what)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		t.Fatalf("%s after %d events (%s): %v", s.what, len(s.got), seqList(s.got), s.err)
	}
	return s.got
}

// watchWS opens a WebSocket on n at path, sends hello if there is one, and reads frames until the
// server closes with 1000. Frames are envelopes when envelopes is set, the raw data otherwise.
func watchWS(n *node, path string, hello map[string]any, envelopes bool) *stream {
	n.t.Helper()
	s := newStream(fmt.Sprintf("WebSocket %s on %s", path, n.name))
	c := n.dial(path)
	if hello != nil {
		if err := c.WriteJSON(hello); err != nil {
			n.t.Fatalf("%s: %v", s.what, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(streamTimeout))
	go func() {
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok && ce.Code == websocket.CloseNormalClosure {
					err = nil
				}
				s.end(err)
				return
			}
			e := envelope{Data: json.RawMessage(msg)}
			if envelopes {
				if err := json.Unmarshal(msg, &e); err != nil {
					s.end(fmt.Errorf("frame %q: %w", msg, err))
					return
				}
			}
			s.add(e)
		}
	}()
	return s
}

// watchSSE opens an SSE stream of session on n, resuming after lastEventID when it is set, and
// reads it until the server ends it.
func watchSSE(n *node, session, lastEventID string) *stream {
	n.t.Helper()
	s := newStream(fmt.Sprintf("SSE on %s", n.name))
	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/api/import/progress/"+session, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		n.t.Fatalf("%s: %v", s.what, err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		res.Body.Close()
		n.t.Fatalf("%s answered %d", s.what, res.StatusCode)
	}
	n.t.Cleanup(cancel)
	go func() {
		defer res.Body.Close()
		s.end(readSSEStream(res.Body, s.add))
	}()
	return s
}

// readSSEStream hands every event of an SSE body to add until the body ends.
func readSSEStream(body io.Reader, add func(envelope)) error {
	var bad error
	err := scanSSE(body, func(ev sseEvent) bool {
		seq, err := strconv.ParseUint(ev.id, 10, 64)
		if err != nil {
			bad = fmt.Errorf("event id %q: %w", ev.id, err)
			return false
		}
		add(envelope{Seq: seq, Data: json.RawMessage(ev.data)})
		return true
	})
	if bad != nil {
		return bad
	}
	return err
}

// watchPoll long-polls session on n from after, following the cursor until the answer says done.
// A 503 (the broker is down) is retried, as the relay's browser client does.
func watchPoll(n *node, session string, after uint64) *stream {
	s := newStream(fmt.Sprintf("long-poll on %s", n.name))
	go func() {
		deadline := time.Now().Add(streamTimeout)
		for time.Now().Before(deadline) {
			url := fmt.Sprintf("%s/api/import/progress/%s?after=%d&wait=10", n.base, session, after)
			res, err := http.Get(url)
			if err != nil {
				s.end(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable {
				time.Sleep(100 * time.Millisecond) // the client's retry interval
				continue
			}
			var a pollAnswer
			if res.StatusCode != http.StatusOK || json.Unmarshal(b, &a) != nil {
				s.end(fmt.Errorf("answered %d %s", res.StatusCode, b))
				return
			}
			for _, e := range a.Events {
				s.add(e)
			}
			after = a.Last
			if a.Done {
				s.end(nil)
				return
			}
		}
		s.end(fmt.Errorf("not done after %s", streamTimeout))
	}()
	return s
}

// sameEvents checks that got is want: the same events, once each, in order. Events recorded
// without a seq (seed frames) are compared by data and position only.
func sameEvents(t *testing.T, what string, got, want []envelope) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s got %d events (%s), want %d (%s)", what, len(got), seqList(got), len(want), seqList(want))
	}
	for i := range want {
		if (got[i].Seq != 0 && got[i].Seq != want[i].Seq) || string(got[i].Data) != string(want[i].Data) {
			t.Fatalf("%s event %d = seq %d %s, want seq %d %s", what, i, got[i].Seq, got[i].Data, want[i].Seq, want[i].Data)
		}
	}
}

// reportedRun checks that the events a node reports are sent, sequenced 1..n in the order sent.
func reportedRun(t *testing.T, what string, got []envelope, sent []string) {
	t.Helper()
	want := make([]envelope, len(sent))
	for i, data := range sent {
		want[i] = envelope{Seq: uint64(i + 1), Data: json.RawMessage(data)}
	}
	sameEvents(t, what, got, want)
}

func seqList(evs []envelope) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(e.Seq, 10))
	}
	return b.String()
}

// refusal is how a node answered a new subscription it could not make.
type refusal struct {
	sseStatus  int    // the SSE request's status
	retryAfter string // and its Retry-After header
	wsClose    int    // the by-URL WebSocket's close code
	err        error
}

// newSubscribersRefused opens, at the same time, a new SSE stream and a new WebSocket of session
// on n and returns how each was refused (a frozen broker takes seconds to fail each).
func newSubscribersRefused(n *node, session string) refusal {
	var r refusal
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sse := make(chan struct{})
	go func() {
		defer close(sse)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/api/import/progress/"+session, nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			r.err = err
			return
		}
		res.Body.Close()
		r.sseStatus, r.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
	}()
	c, _, err := websocket.DefaultDialer.DialContext(ctx, n.wsURL("/api/import/progress/"+session), nil)
	if err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, _, err = c.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok {
			r.wsClose, err = ce.Code, nil
		}
	}
	<-sse
	r.err = errors.Join(r.err, err)
	return r
}
