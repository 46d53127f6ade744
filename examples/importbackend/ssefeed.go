package main

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// sseFeed keeps each session's events and streams them at GET /api/import/progress/{session}, as
// the Node.js backend did: one "data: {json}" block per event, here with "id: <n>" too, so that a
// reader (the relay's upstream pull, or a browser) can resume with Last-Event-ID.
type sseFeed struct {
	heartbeat time.Duration // comment sent when idle, so that proxies keep the stream open
	keep      time.Duration // how long a finished session stays readable

	mu       sync.Mutex // guards sessions
	sessions map[string]*feedSession
}

// feedSession is one session's events. changed is closed and replaced on every append, which
// wakes every stream waiting on it.
type feedSession struct {
	mu      sync.Mutex // guards the fields below
	events  []emitted
	done    bool
	changed chan struct{}
}

func newSSEFeed(keep time.Duration) *sseFeed {
	return &sseFeed{heartbeat: 15 * time.Second, keep: keep, sessions: map[string]*feedSession{}}
}

func (f *sseFeed) open(session string) {
	f.mu.Lock()
	f.sessions[session] = &feedSession{changed: make(chan struct{})}
	f.mu.Unlock()
}

func (f *sseFeed) report(ev emitted, session string) {
	if s := f.session(session); s != nil {
		s.mu.Lock()
		s.events = append(s.events, ev)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
}

func (f *sseFeed) finish(session string) {
	s := f.session(session)
	if s == nil {
		return
	}
	s.mu.Lock()
	s.done = true
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	time.AfterFunc(f.keep, func() { f.forget(session) })
}

// forget drops a session that is no longer needed.
func (f *sseFeed) forget(session string) {
	f.mu.Lock()
	delete(f.sessions, session)
	f.mu.Unlock()
}

func (f *sseFeed) session(id string) *feedSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[id]
}

// since returns the events after the first n, a channel closed when there are more, and whether
// the session is over.
func (s *feedSession) since(n int) ([]emitted, <-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.events))
	return s.events[n:len(s.events):len(s.events)], s.changed, s.done
}

// serve streams session from after its event number after (Last-Event-ID, else ?after=, else 0).
func (f *sseFeed) serve(w http.ResponseWriter, r *http.Request, session string) {
	s := f.session(session)
	if s == nil {
		writeError(w, http.StatusNotFound, "no import with session "+strconv.Quote(session))
		return
	}
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("after")
	}
	after := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "Last-Event-ID / after must be an event number")
			return
		}
		after = n
	}
	if events, _, done := s.since(after); done && len(events) == 0 {
		w.WriteHeader(http.StatusNoContent) // tells EventSource not to reconnect
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	heartbeat := time.NewTicker(f.heartbeat)
	defer heartbeat.Stop()
	for {
		events, changed, done := s.since(after)
		for _, ev := range events {
			if _, err := w.Write(sseFrame(ev)); err != nil {
				return
			}
			after = ev.Number
			if ev.Terminal {
				rc.Flush()
				return
			}
		}
		if len(events) > 0 && rc.Flush() != nil {
			return
		}
		if done {
			return
		}
		select {
		case <-changed:
		case <-heartbeat.C:
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

func sseFrame(ev emitted) []byte {
	b := make([]byte, 0, len(ev.JSON)+24)
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, int64(ev.Number), 10)
	b = append(b, "\ndata: "...)
	b = append(b, ev.JSON...) // compact JSON: one line
	return append(b, '\n', '\n')
}
