package sse

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// newPuller starts a Puller of srvURL on the relay, registered with its hub, with a test clock.
func newPuller(t *testing.T, r *relay, pub Publisher, cfg PullConfig) (*Puller, *testClock) {
	t.Helper()
	p, err := NewPuller(pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testClock{}
	p.setClock(tc.clock())
	r.hub.AddWatcher(p)
	t.Cleanup(p.Close)
	return p, tc
}

func TestOneUpstreamConnectionForAHundredSubscribers(t *testing.T) {
	r := newRelay(t)
	up := &upstream{}
	release := make(chan struct{})
	const progress = 20
	want := ids(progress + 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		up.record(req)
		startSSE(w)
		<-release
		for i := 1; i <= progress; i++ {
			writeFlush(w, sseEvent(want[i-1], "progress", i))
		}
		writeFlush(w, sseEvent(want[progress], "complete", progress+1))
	}))
	defer srv.Close()
	p, _ := newPuller(t, r, r.broker, PullConfig{URL: srv.URL + "/api/import/progress/{session}"})

	transports := []string{"websocket", "sse", "poll", "socketio"}
	results := make([][]*event.Event, 100)
	errs := make([]error, 100)
	var wg sync.WaitGroup
	for i := range results {
		sub := r.subscribe(t, "import-1", transports[i%len(transports)])
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = drain(sub)
		}()
	}
	eventually(t, "the upstream request", func() bool { return up.count() == 1 })
	close(release)
	wg.Wait()

	for i := range results {
		if errs[i] != nil {
			t.Fatalf("subscriber %d: %v", i, errs[i])
		}
		wantSequence(t, "subscriber "+transports[i%len(transports)], results[i], want)
	}
	if n := up.count(); n != 1 {
		t.Errorf("upstream got %d requests, want 1", n)
	}
	if got := up.header(0, "Accept"); got != "text/event-stream" {
		t.Errorf("Accept = %q", got)
	}
	if path := up.requests[0].URL.Path; path != "/api/import/progress/import-1" {
		t.Errorf("upstream path = %q", path)
	}
	eventually(t, "the pull to end after the terminal event", func() bool { return p.Stats().Pulling == 0 })
	st := p.Stats()
	if st.EventsIn != progress+1 || st.Reconnects != 0 || st.Open != 0 {
		t.Errorf("stats = %+v, want %d events in, no reconnect, nothing open", st, progress+1)
	}
}

func TestReconnectResumesFromLastEventID(t *testing.T) {
	for _, tc := range []struct {
		name       string
		replay     bool // the upstream ignores Last-Event-ID and sends everything again
		duplicates uint64
	}{
		{"upstream resumes", false, 0},
		{"upstream replays seen IDs", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRelay(t)
			up := &upstream{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				n := up.record(req)
				startSSE(w)
				switch n {
				case 1:
					writeFlush(w, "retry: 250\n"+sseEvent("1", "progress", 1)+sseEvent("2", "progress", 2)+sseEvent("3", "progress", 3))
					// Event 4 is cut off before its blank line: it must not count as received.
					writeFlush(w, "id: 4\ndata: {\"type\":\"progress\",\"n\":4}\n")
					panic(http.ErrAbortHandler) // kill the connection mid-stream
				default:
					from := 4
					if tc.replay {
						from = 1
					}
					for i := from; i <= 6; i++ {
						writeFlush(w, sseEvent(ids(7)[i-1], "progress", i))
					}
					writeFlush(w, sseEvent("7", "complete", 7))
				}
			}))
			defer srv.Close()
			p, clk := newPuller(t, r, r.broker, PullConfig{URL: srv.URL + "/{session}", Retry: 5 * time.Second})
			got, err := drain(r.subscribe(t, "s1", "sse"))
			if err != nil {
				t.Fatal(err)
			}
			wantSequence(t, "subscriber", got, ids(7))

			if up.count() != 2 {
				t.Fatalf("upstream got %d requests, want 2", up.count())
			}
			if got := up.header(0, "Last-Event-ID"); got != "" {
				t.Errorf("first request sent Last-Event-ID %q", got)
			}
			if got := up.header(1, "Last-Event-ID"); got != "3" {
				t.Errorf("reconnection sent Last-Event-ID %q, want 3", got)
			}
			// The upstream's retry: 250 replaces the configured 5 s; the jitter is 0 under test.
			if waits := clk.recorded(); len(waits) != 1 || waits[0] != 250*time.Millisecond {
				t.Errorf("reconnection waits = %v, want [250ms]", waits)
			}
			eventually(t, "the pull to end", func() bool { return p.Stats().Pulling == 0 })
			if st := p.Stats(); st.Reconnects != 1 || st.EventsIn != 7 || st.Duplicates != tc.duplicates {
				t.Errorf("stats = %+v, want 1 reconnect, 7 events in, %d duplicates", st, tc.duplicates)
			}
		})
	}
}

func TestUpstreamDownAtFirstRetriesThenDelivers(t *testing.T) {
	r := newRelay(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there until the test says so

	p, clk := newPuller(t, r, r.broker, PullConfig{URL: "http://" + addr + "/{session}", Retry: 50 * time.Millisecond,
		MaxRetry: 400 * time.Millisecond})
	sub := r.subscribe(t, "late", "websocket")
	eventually(t, "five failed attempts", func() bool { return len(clk.recorded()) >= 5 })

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		startSSE(w)
		writeFlush(w, sseEvent("a", "progress", 1)+sseEvent("b", "complete", 2))
	})}
	go srv.Serve(ln)
	defer srv.Close()

	got, err := drain(sub)
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, "subscriber", got, []string{"a", "b"})
	// Failures double the wait from a floor of minFailureWait, up to MaxRetry.
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}
	waits := clk.recorded()
	for i, w := range want {
		if waits[i] != w {
			t.Fatalf("waits = %v, want them to start %v", waits, want)
		}
	}
	if st := p.Stats(); st.Reconnects < 5 {
		t.Errorf("stats = %+v, want at least 5 reconnects", st)
	}
}

func TestUpstreamClosedAfterIdle(t *testing.T) {
	r := newRelay(t)
	up := &upstream{}
	closed := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		up.record(req)
		startSSE(w)
		writeFlush(w, sseEvent("1", "progress", 1))
		<-req.Context().Done()
		closed <- time.Now()
	}))
	defer srv.Close()
	const idle = 150 * time.Millisecond
	p, _ := newPuller(t, r, r.broker, PullConfig{URL: srv.URL + "/{session}", Idle: idle})

	sub := r.subscribe(t, "s", "poll")
	<-sub.Ready()
	left := time.Now()
	sub.Close()
	select {
	case at := <-closed:
		if waited := at.Sub(left); waited < idle {
			t.Errorf("upstream closed %v after the last subscriber left, before the idle time of %v", waited, idle)
		}
	case <-time.After(waitTimeout):
		t.Fatal("upstream still open after the last subscriber left")
	}
	eventually(t, "the pull to end", func() bool { st := p.Stats(); return st.Pulling == 0 && st.Open == 0 })
	if up.count() != 1 {
		t.Errorf("upstream got %d requests, want 1", up.count())
	}
}

func TestSubscriberBackWithinIdleKeepsTheConnectionAndCloseEndsIt(t *testing.T) {
	r := newRelay(t)
	up := &upstream{}
	closed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		up.record(req)
		startSSE(w)
		writeFlush(w, sseEvent("1", "progress", 1))
		<-req.Context().Done()
		close(closed)
	}))
	defer srv.Close()
	p, _ := newPuller(t, r, r.broker, PullConfig{URL: srv.URL + "/{session}", Idle: time.Hour})

	first := r.subscribe(t, "s", "sse")
	<-first.Ready()
	first.Close() // the page reloads...
	second := r.subscribe(t, "s", "sse")
	<-second.Ready() // ...and gets the history at once
	eventually(t, "the connection to be open", func() bool { return p.Stats().Open == 1 })
	if up.count() != 1 {
		t.Fatalf("upstream got %d requests, want 1", up.count())
	}

	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return")
	}
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("Close left the upstream connection open")
	}
	if st := p.Stats(); st.Pulling != 0 || st.Open != 0 {
		t.Errorf("after Close: %+v", st)
	}
	p.Watch("other") // a late notice from the hub starts nothing
	if st := p.Stats(); st.Pulling != 0 {
		t.Errorf("Watch after Close started a pull: %+v", st)
	}
}

func TestUpstreamRefusalBecomesOneErrorEvent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		want        string
	}{
		{"404", http.StatusNotFound, "text/plain", `{"type":"error","error":"upstream answered 404 Not Found","status":404}`},
		{"403", http.StatusForbidden, "application/json",
			`{"type":"error","error":"upstream answered 403 Forbidden","status":403}`},
		{"not SSE", http.StatusOK, "text/html; charset=utf-8",
			`{"type":"error","error":"upstream answered 200 OK with Content-Type \"text/html; charset=utf-8\", ` +
				`not text/event-stream","status":200}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRelay(t)
			up := &upstream{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				up.record(req)
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				w.Write([]byte("no such import"))
			}))
			defer srv.Close()
			p, clk := newPuller(t, r, r.broker, PullConfig{URL: srv.URL + "/{session}"})
			got, err := drain(r.subscribe(t, "gone", "websocket"))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Type != ErrorType || string(got[0].Data) != tc.want {
				t.Fatalf("got %s data %s; want one error event %s", describe(got), got[0].Data, tc.want)
			}
			eventually(t, "the pull to end", func() bool { return p.Stats().Pulling == 0 })
			if up.count() != 1 || len(clk.recorded()) != 0 {
				t.Errorf("%d requests and waits %v; want 1 request, no retry", up.count(), clk.recorded())
			}
		})
	}
}

func TestNoContentEndsThePull(t *testing.T) {
	r := newRelay(t)
	up := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		up.record(req)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	p, clk := newPuller(t, r, r.broker, PullConfig{URL: srv.URL + "/{session}"})
	r.subscribe(t, "done", "sse")
	eventually(t, "the pull to end", func() bool { return p.Stats().Pulling == 0 })
	if up.count() != 1 || len(clk.recorded()) != 0 {
		t.Errorf("%d requests and waits %v; want 1 request, no retry", up.count(), clk.recorded())
	}
	if evs, _, _ := r.broker.History(context.Background(), "done", 0); len(evs) != 0 {
		t.Errorf("a 204 published %s", describe(evs))
	}
}

// flakyPublisher fails its first calls as a broker that cannot be reached does.
type flakyPublisher struct {
	Publisher
	failures atomic.Int32
}

func (f *flakyPublisher) Publish(ctx context.Context, in []event.Input) (broker.Result, error) {
	if f.failures.Add(-1) >= 0 {
		return broker.Result{}, broker.ErrUnavailable
	}
	return f.Publisher.Publish(ctx, in)
}

func TestBrokerErrorsAreRetriedAndLogged(t *testing.T) {
	r := newRelay(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		startSSE(w)
		writeFlush(w, sseEvent("1", "progress", 1)+sseEvent("2", "progress", 2)+sseEvent("3", "complete", 3))
	}))
	defer srv.Close()
	core, logs := observer.New(zapcore.WarnLevel)
	flaky := &flakyPublisher{Publisher: r.broker}
	flaky.failures.Store(3)
	p, _ := newPuller(t, r, flaky, PullConfig{URL: srv.URL + "/{session}", Logger: zap.New(core)})

	got, err := drain(r.subscribe(t, "s", "sse"))
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, "subscriber", got, ids(3))
	if st := p.Stats(); st.PublishErrors != 3 {
		t.Errorf("stats = %+v, want 3 publish errors", st)
	}
	retried := logs.FilterMessageSnippet("publishing an SSE event failed").All()
	if len(retried) != 3 || retried[0].ContextMap()["error"] != broker.ErrUnavailable.Error() {
		t.Errorf("logged %d publish failures (%v), want 3 naming the broker error", len(retried), retried)
	}
}

func TestFinishedSessionStopsThePull(t *testing.T) {
	r := newRelay(t)
	ended := []event.Input{{Session: "s", Type: "complete", Data: json.RawMessage(`{}`)}}
	if _, err := r.broker.Publish(context.Background(), ended); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		startSSE(w)
		writeFlush(w, sseEvent("late", "progress", 1))
		<-req.Context().Done()
	}))
	defer srv.Close()
	p, clk := newPuller(t, r, r.broker, PullConfig{URL: srv.URL + "/{session}"})
	r.subscribe(t, "s", "sse")
	eventually(t, "the pull to end", func() bool { st := p.Stats(); return st.Pulling == 0 && st.Open == 0 })
	if waits := clk.recorded(); len(waits) != 0 {
		t.Errorf("reconnected (waits %v) to a finished session", waits)
	}
}

func TestWatchCountsSurviveNoticesOutOfOrder(t *testing.T) {
	r := newRelay(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		startSSE(w)
		<-req.Context().Done()
	}))
	defer srv.Close()
	p, err := NewPuller(r.broker, PullConfig{URL: srv.URL + "/{session}", Idle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The hub may report a session's old lifetime ending after its new one began.
	p.Unwatch("s")
	p.Watch("s")
	if st := p.Stats(); st.Pulling != 0 {
		t.Fatalf("pulling with no net watcher: %+v", st)
	}
	p.Watch("s")
	eventually(t, "the connection", func() bool { return p.Stats().Open == 1 })
	p.Unwatch("s")
	eventually(t, "the idle close", func() bool { return p.Stats().Pulling == 0 })
}

func TestNewPullerChecksTheURL(t *testing.T) {
	bad := []string{"", "http://backend/progress", "backend/{session}", "ftp://backend/{session}", "http://[::1/{session}"}
	for _, u := range bad {
		if _, err := NewPuller(nil, PullConfig{URL: u}); err == nil {
			t.Errorf("NewPuller accepted %q", u)
		}
	}
	p, err := NewPuller(nil, PullConfig{URL: "https://backend:8443/api/import/progress/{session}?stream=1"})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}
