package caddymodule

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"

	ssein "github.com/progress-relay/progress-relay/internal/ingest/sse"
)

// The SSE ingest tests of issue 4 that must run through the real Caddy: upstream_sse (pull) and
// tee_sse in front of reverse_proxy, against httptest backends on loopback.

// sseUpstream is a backend's SSE endpoint: it records every request, then hands it to the test.
type sseUpstream struct {
	URL string

	mu   sync.Mutex // guards reqs
	reqs []*upstreamRequest
}

// upstreamRequest is what the relay sent upstream, and when the request's context ended.
type upstreamRequest struct {
	path        string
	lastEventID string
	accept      string
	ended       chan struct{} // closed when the upstream saw the relay go away
	endedAt     time.Time     // set before ended is closed
}

// newSSEUpstream serves serve(w, req, n) for the n-th request (from 1) on ln, or on a fresh
// loopback port when ln is nil.
func newSSEUpstream(t *testing.T, ln net.Listener, serve func(w http.ResponseWriter, req *http.Request, n int)) *sseUpstream {
	t.Helper()
	up := &sseUpstream{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &upstreamRequest{path: req.URL.Path, lastEventID: req.Header.Get("Last-Event-ID"),
			accept: req.Header.Get("Accept"), ended: make(chan struct{})}
		up.mu.Lock()
		up.reqs = append(up.reqs, rec)
		n := len(up.reqs)
		up.mu.Unlock()
		go func() {
			<-req.Context().Done()
			rec.endedAt = time.Now()
			close(rec.ended)
		}()
		serve(w, req, n)
	}))
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(srv.Close)
	up.URL = srv.URL
	return up
}

func (up *sseUpstream) count() int {
	up.mu.Lock()
	defer up.mu.Unlock()
	return len(up.reqs)
}

// request returns the n-th request (from 1).
func (up *sseUpstream) request(n int) *upstreamRequest {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.reqs[n-1]
}

// startEventStream sends an SSE response's headers at once, as a backend does before its first event.
func startEventStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
}

func writeFlush(w http.ResponseWriter, s string) error {
	if _, err := io.WriteString(w, s); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}

// upstreamEvents returns the frames an upstream sends for n events with ids e1..en (the last one
// complete) and the data the relay must deliver for each.
func upstreamEvents(n int) (frames, data []string) {
	for i := 1; i <= n; i++ {
		typ := "progress"
		if i == n {
			typ = "complete"
		}
		d := fmt.Sprintf(`{"type":%q,"processed":%d,"total":%d}`, typ, i, n)
		frames = append(frames, fmt.Sprintf("id: e%d\ndata: %s\n\n", i, d))
		data = append(data, d)
	}
	return frames, data
}

// delivery is one event as a subscriber received it. seq is 0 where the transport does not carry
// it: a seed-protocol WebSocket without envelope gets the data alone.
type delivery struct {
	seq  uint64
	data string
}

// subscriber is an open subscription of one transport; collect reads it until its stream ends. It
// runs on its own goroutine, so it reports failures as errors rather than through t.
type subscriber struct {
	kind    string
	collect func() ([]delivery, error)
}

// seedSubscriber registers a seed-protocol WebSocket at / with {"sessionId": session}.
func (r *relay) seedSubscriber(session string) subscriber {
	r.t.Helper()
	c := r.dial("/")
	if err := c.WriteJSON(map[string]any{"sessionId": session}); err != nil {
		r.t.Fatal(err)
	}
	return subscriber{"seed WebSocket", func() ([]delivery, error) { return collectWebSocket(c, false) }}
}

// wsSubscriber opens a WebSocket at the subscribe path, which sends envelopes.
func (r *relay) wsSubscriber(path string) subscriber {
	r.t.Helper()
	c := r.dial(path)
	return subscriber{"WebSocket " + path, func() ([]delivery, error) { return collectWebSocket(c, true) }}
}

// sseSubscriber opens an SSE stream at path and checks its answer's head.
func (r *relay) sseSubscriber(path string) subscriber {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		r.t.Fatalf("SSE %s answered %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return subscriber{"SSE " + path, func() ([]delivery, error) { return collectSSE(res.Body) }}
}

// pollSubscriber long-polls path from the start, following the cursor, once collect runs.
func (r *relay) pollSubscriber(path string) subscriber {
	return subscriber{"long-poll " + path, func() ([]delivery, error) { return collectPoll(r.base + path) }}
}

// collectWebSocket reads frames until the relay closes the connection, which must be with 1000.
func collectWebSocket(c *websocket.Conn, envelopes bool) ([]delivery, error) {
	var got []delivery
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, msg, err := c.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure:
			return got, nil
		case err != nil:
			return got, fmt.Errorf("after %d frames: %w", len(got), err)
		case !envelopes:
			got = append(got, delivery{data: string(msg)})
			continue
		}
		var e envelope
		if err := json.Unmarshal(msg, &e); err != nil {
			return got, fmt.Errorf("frame %q: %w", msg, err)
		}
		got = append(got, delivery{seq: e.Seq, data: string(e.Data)})
	}
}

// collectSSE reads events until the relay ends the stream.
func collectSSE(body io.Reader) ([]delivery, error) {
	var got []delivery
	p := ssein.NewParser(body, 0)
	for {
		ev, err := p.Next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("after %d events: %w", len(got), err)
		}
		if ev.Type != "" {
			return got, fmt.Errorf("the relay wrote an event: line (%q)", ev.Type)
		}
		seq, err := strconv.ParseUint(ev.ID, 10, 64)
		if err != nil {
			return got, fmt.Errorf("event id %q is not a seq", ev.ID)
		}
		got = append(got, delivery{seq: seq, data: string(ev.Data)})
	}
}

// collectPoll long-polls u until the answer says done.
func collectPoll(u string) ([]delivery, error) {
	var got []delivery
	after := uint64(0)
	for range 200 {
		res, err := http.Get(fmt.Sprintf("%s?after=%d&wait=10", u, after))
		if err != nil {
			return got, err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return got, fmt.Errorf("poll answered %d %s", res.StatusCode, b)
		}
		var a pollAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			return got, fmt.Errorf("poll answer %s: %w", b, err)
		}
		for _, e := range a.Events {
			got = append(got, delivery{seq: e.Seq, data: string(e.Data)})
		}
		after = a.Last
		if a.Done {
			return got, nil
		}
	}
	return got, errors.New("no done after 200 polls")
}

// startCollecting reads every subscriber at once, each on its own goroutine; the function it
// returns waits for them and returns what each received.
func startCollecting(subs []subscriber) func(t *testing.T) [][]delivery {
	got := make([][]delivery, len(subs))
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() { got[i], errs[i] = s.collect() })
	}
	return func(t *testing.T) [][]delivery {
		t.Helper()
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("subscriber %d (%s): %v", i, subs[i].kind, err)
			}
		}
		return got
	}
}

// collectAll reads every subscriber at once and returns what each received.
func collectAll(t *testing.T, subs []subscriber) [][]delivery {
	t.Helper()
	return startCollecting(subs)(t)
}

// checkDeliveries checks that got is want, once each, in order, with seqs 1..n where carried.
func checkDeliveries(t *testing.T, who string, got []delivery, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s got %d events, want %d: %+v", who, len(got), len(want), got)
	}
	for i, d := range got {
		if d.data != want[i] || (d.seq != 0 && d.seq != uint64(i+1)) {
			t.Fatalf("%s event %d = seq %d %s; want seq %d %s", who, i, d.seq, d.data, i+1, want[i])
		}
	}
}

// pullBlock is the progress_relay block of a relay pulling from up, with extra upstream_sse options.
func pullBlock(up string, options ...string) string {
	return fmt.Sprintf("\t\tupstream_sse %s/progress/{session} {\n\t\t\t%s\n\t\t}", up, strings.Join(options, "\n\t\t\t"))
}

func TestUpstreamPullOneRequestFansOutToAHundredMixedSubscribers(t *testing.T) {
	const session = "pull-100"
	frames, want := upstreamEvents(21)
	release := make(chan struct{})
	up := newSSEUpstream(t, nil, func(w http.ResponseWriter, req *http.Request, _ int) {
		startEventStream(w)
		select {
		case <-release:
		case <-req.Context().Done():
			return
		}
		for _, f := range frames {
			if writeFlush(w, f) != nil {
				return
			}
		}
	})
	r := startRelay(t, pullBlock(up.URL, "idle 1s"))

	path := "/api/import/progress/" + session
	var subs []subscriber
	for i := range 100 {
		switch i % 4 {
		case 0:
			subs = append(subs, r.seedSubscriber(session))
		case 1:
			subs = append(subs, r.wsSubscriber(path))
		case 2:
			subs = append(subs, r.sseSubscriber(path))
		case 3:
			subs = append(subs, r.pollSubscriber(path))
		}
	}
	collect := startCollecting(subs)
	waitFor(t, "100 subscribers", func() bool {
		return r.subscribers("websocket") == 50 && r.subscribers("sse") == 25 && r.subscribers("poll") == 25
	})
	waitFor(t, "the upstream request", func() bool { return up.count() >= 1 })
	close(release)
	for i, g := range collect(t) {
		checkDeliveries(t, fmt.Sprintf("subscriber %d (%s)", i, subs[i].kind), g, want)
	}
	if n := up.count(); n != 1 {
		t.Fatalf("upstream got %d requests for 100 subscribers, want 1", n)
	}
	if rq := up.request(1); rq.path != "/progress/"+session || rq.accept != "text/event-stream" || rq.lastEventID != "" {
		t.Fatalf("upstream request = %+v", rq)
	}
}

func TestUpstreamPullReconnectsAfterADropWithLastEventID(t *testing.T) {
	for _, tc := range []struct {
		name       string
		resumeFrom int // the first event the upstream sends on the second request
	}{
		{"upstream resumes after Last-Event-ID", 6},
		{"upstream replays events already seen", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const session = "drop-1"
			frames, want := upstreamEvents(11)
			kill := make(chan struct{})
			up := newSSEUpstream(t, nil, func(w http.ResponseWriter, req *http.Request, n int) {
				startEventStream(w)
				if n > 1 {
					for _, f := range frames[tc.resumeFrom-1:] {
						if writeFlush(w, f) != nil {
							return
						}
					}
					return
				}
				for _, f := range frames[:5] {
					writeFlush(w, f)
				}
				// Event 6 is cut off before its blank line: its id must not become the Last-Event-ID.
				writeFlush(w, "id: e6\ndata: {\"type\":\"progress\",")
				select {
				case <-kill:
				case <-req.Context().Done():
					return
				}
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				conn.Close() // mid-stream, mid-event, without the chunked terminator
			})
			r := startRelay(t, pullBlock(up.URL, "idle 1s", "retry 100ms"))

			path := "/api/import/progress/" + session
			subs := []subscriber{r.sseSubscriber(path), r.wsSubscriber(path), r.seedSubscriber(session), r.pollSubscriber(path)}
			collect := startCollecting(subs)
			waitFor(t, "the first five events", func() bool {
				_, a := r.poll(session, 4, "0")
				return a.Last == 5
			})
			close(kill)
			for i, g := range collect(t) {
				checkDeliveries(t, subs[i].kind, g, want)
			}

			if n := up.count(); n != 2 {
				t.Fatalf("upstream got %d requests, want 2", n)
			}
			if id := up.request(1).lastEventID; id != "" {
				t.Errorf("first request sent Last-Event-ID %q", id)
			}
			if id := up.request(2).lastEventID; id != "e5" {
				t.Errorf("reconnection sent Last-Event-ID %q, want e5 (the last complete event)", id)
			}
		})
	}
}

// reconnects reads the process's count of upstream reconnections.
func reconnects(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.reconnects.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestUpstreamPullRetriesWhileTheUpstreamIsDownThenDelivers(t *testing.T) {
	const session = "down-1"
	frames, want := upstreamEvents(4)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there yet: connection refused
	r := startRelay(t, pullBlock("http://"+addr, "idle 1s", "retry 100ms", "max_retry 400ms"))

	before := reconnects(t)
	path := "/api/import/progress/" + session
	subs := []subscriber{r.sseSubscriber(path), r.wsSubscriber(path)}
	waitFor(t, "the relay to retry twice", func() bool { return reconnects(t) >= before+2 })

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the reserved upstream port was taken: %v", err)
	}
	up := newSSEUpstream(t, ln, func(w http.ResponseWriter, req *http.Request, n int) {
		if n == 1 { // still starting up
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		startEventStream(w)
		for _, f := range frames {
			if writeFlush(w, f) != nil {
				return
			}
		}
	})
	subs = append(subs, r.pollSubscriber(path))
	for i, g := range collectAll(t, subs) {
		checkDeliveries(t, subs[i].kind, g, want)
	}
	if n := up.count(); n != 2 {
		t.Fatalf("upstream got %d requests once up, want 2 (a 503, then the stream)", n)
	}
}

func TestUpstreamPullClosesAfterIdleOnceTheLastSubscriberLeft(t *testing.T) {
	const session = "idle-1"
	const idle = time.Second
	first := `{"type":"progress","processed":1}`
	up := newSSEUpstream(t, nil, func(w http.ResponseWriter, req *http.Request, _ int) {
		startEventStream(w)
		writeFlush(w, "id: e1\ndata: "+first+"\n\n")
		<-req.Context().Done()
	})
	r := startRelay(t, pullBlock(up.URL, "idle "+idle.String()))
	path := "/api/import/progress/" + session

	ws := r.dial(path)
	if frames, _ := readFrames(t, ws, 1); len(frames) != 1 {
		t.Fatal("no first event")
	}
	ws.Close()
	waitFor(t, "the subscriber to leave", func() bool { return r.subscribers("websocket") == 0 })

	// A subscriber back within idle (a page reload) finds the same upstream connection.
	back := r.dial(path)
	frames, _ := readFrames(t, back, 1)
	checkEnvelopes(t, "returning subscriber", frames, []string{first})
	select {
	case <-up.request(1).ended:
		t.Fatal("the upstream connection closed while a subscriber was back")
	default:
	}

	if h := r.health(); h.Upstream == nil || h.Upstream.Open != 1 || h.Upstream.Sessions != 1 {
		t.Fatalf("health while pulling: %+v", h.Upstream)
	}
	left := time.Now()
	back.Close()
	rq := up.request(1)
	select {
	case <-rq.ended:
	case <-time.After(idle + 10*time.Second):
		t.Fatalf("the upstream connection was still open %s after the last subscriber left", idle+10*time.Second)
	}
	// The timer starts only once the relay has seen the subscriber go, so idle is a lower bound.
	if after := rq.endedAt.Sub(left); after < idle {
		t.Fatalf("the upstream connection closed %s after the last subscriber left, before idle (%s)", after, idle)
	} else {
		t.Logf("upstream closed %s after the last subscriber left (idle %s)", after.Round(time.Millisecond), idle)
	}
	if n := up.count(); n != 1 {
		t.Fatalf("upstream got %d requests, want 1", n)
	}
	waitFor(t, "health to show no open upstream", func() bool { return r.health().Upstream.Open == 0 })
}

func TestUpstreamPull404EndsTheSessionWithOneErrorEvent(t *testing.T) {
	const session = "missing-1"
	up := newSSEUpstream(t, nil, func(w http.ResponseWriter, req *http.Request, _ int) {
		http.NotFound(w, req)
	})
	r := startRelay(t, pullBlock(up.URL, "idle 1s"))
	path := "/api/import/progress/" + session
	subs := []subscriber{r.sseSubscriber(path), r.seedSubscriber(session), r.wsSubscriber(path), r.pollSubscriber(path)}
	for i, g := range collectAll(t, subs) {
		if len(g) != 1 {
			t.Fatalf("%s got %+v, want one error event", subs[i].kind, g)
		}
		var e struct {
			Type   string `json:"type"`
			Error  string `json:"error"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal([]byte(g[0].data), &e); err != nil || e.Type != "error" || e.Status != 404 ||
			!strings.Contains(e.Error, "404") || (g[0].seq != 0 && g[0].seq != 1) {
			t.Fatalf("%s got %+v, want an error event naming status 404", subs[i].kind, g[0])
		}
	}
	if n := up.count(); n != 1 {
		t.Fatalf("upstream got %d requests, want 1: a 404 is not retried", n)
	}
}

// startSite runs Caddy with one site on a free loopback port whose body is site.
func startSite(t *testing.T, site string) *relay {
	t.Helper()
	r := &relay{t: t, port: freePort(t)}
	r.base = fmt.Sprintf("http://127.0.0.1:%d", r.port)
	cf := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\nhttp://127.0.0.1:%d {\n%s\n}\n", r.port, site)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, cf)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
	return r
}

// startTee runs the relay teeing the SSE that reverse_proxy fetches from upstream, with its own
// subscribe path moved out of the backend's way.
func startTee(t *testing.T, upstream string) *relay {
	t.Helper()
	return startSite(t, fmt.Sprintf(`	progress_relay {
		tee_sse /api/import/progress/{session}
		subscribe /relay/progress/{session}
	}
	reverse_proxy /api/* %s`, strings.TrimPrefix(upstream, "http://")))
}

// pollTee answers a long-poll of session's history at the tee relay's subscribe path, at once.
func (r *relay) pollTee(session string) pollAnswer {
	r.t.Helper()
	res, err := http.Get(r.base + "/relay/progress/" + session + "?after=0&wait=0")
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	var a pollAnswer
	if b, _ := io.ReadAll(res.Body); res.StatusCode != http.StatusOK || json.Unmarshal(b, &a) != nil {
		r.t.Fatalf("poll of %s answered %d %s", session, res.StatusCode, b)
	}
	return a
}

// teeScript is what the tee test's backend writes, chunk by chunk, and the data of each event.
var teeScript = struct {
	chunks []string
	data   []string
}{
	chunks: []string{
		": the backend's own stream\n\n",
		"retry: 2000\nid: t1\nevent: progress\ndata: {\"type\":\"progress\",\"processed\":1}\n\n",
		"id: t2\r\ndata: {\"type\":\"progress\",\r\ndata: \"processed\":2}\r\n\r\n", // CRLF, data on two lines
		"id: t3\ndata: {\"type\":\"progress\",\"proce",                              // an event split across writes
		"ssed\":3}\n\n",
		"data: {\"type\":\"progress\",\"processed\":4}\n\n", // no id
		"id: t5\ndata: {\"type\":\"complete\",\"processed\":5}\n\n",
	},
	data: []string{
		`{"type":"progress","processed":1}`,
		"{\"type\":\"progress\",\n\"processed\":2}",
		`{"type":"progress","processed":3}`,
		`{"type":"progress","processed":4}`,
		`{"type":"complete","processed":5}`,
	},
}

// streamReader reads a body on its own goroutine, so that a test can wait for bytes with a deadline.
type streamReader struct {
	mu   sync.Mutex // guards buf and err
	buf  bytes.Buffer
	err  error
	more chan struct{} // receives a value after each read
}

func readStream(body io.Reader) *streamReader {
	s := &streamReader{more: make(chan struct{}, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := body.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.err = err
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// waitLen waits until n bytes arrived (or the stream ended) and returns everything so far, and the
// read error that ended the stream, if it ended.
func (s *streamReader) waitLen(t *testing.T, n int) ([]byte, error) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		got, err := bytes.Clone(s.buf.Bytes()), s.err
		s.mu.Unlock()
		if len(got) >= n || err != nil {
			return got, err
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("only %d of %d bytes arrived: %q", len(got), n, got)
		}
	}
}

func TestTeePassesUpstreamBytesThroughCaddyUnchangedAndPublishes(t *testing.T) {
	const session = "tee-1"
	step := make(chan struct{})
	up := newSSEUpstream(t, nil, func(w http.ResponseWriter, req *http.Request, _ int) {
		startEventStream(w)
		for _, c := range teeScript.chunks {
			select {
			case <-step:
			case <-req.Context().Done():
				return
			}
			if writeFlush(w, c) != nil {
				return
			}
		}
	})
	r := startTee(t, up.URL)
	subs := []subscriber{r.wsSubscriber("/relay/progress/" + session), r.seedSubscriber(session)}
	waitFor(t, "the WebSocket subscribers", func() bool { return r.subscribers("websocket") == 2 })

	req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/"+session, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("proxied stream answered %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// Lockstep: the backend writes its next chunk only once the client has the previous one, so a
	// relay that held bytes back (for a whole event or a buffer) would stall here.
	stream := readStream(res.Body)
	var sent []byte
	for i, c := range teeScript.chunks {
		select {
		case step <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatalf("the backend did not take chunk %d", i)
		}
		sent = append(sent, c...)
		if got, err := stream.waitLen(t, len(sent)); !bytes.Equal(got, sent) {
			t.Fatalf("after chunk %d the client has %q (%v), want %q", i, got, err, sent)
		}
	}
	if got, err := stream.waitLen(t, len(sent)+1); !bytes.Equal(got, sent) || !errors.Is(err, io.EOF) {
		t.Fatalf("client got %q then %v, want exactly %q then EOF", got, err, sent)
	}

	for i, g := range collectAll(t, subs) {
		checkDeliveries(t, subs[i].kind, g, teeScript.data)
	}
}

// firstEvent measures how long a new connection's GET of u takes to deliver its first event.
func firstEvent(u string) (time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if _, err := ssein.NewParser(res.Body, 0).Next(); err != nil {
		return 0, fmt.Errorf("first event of %s: %w", u, err)
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestTeeFirstEventLatencyThroughCaddyIsCloseToDirect(t *testing.T) {
	// The backend sends one event and then keeps the stream open without writing: a relay that
	// waited for more bytes before passing the first event on would show the whole hold here.
	up := newSSEUpstream(t, nil, func(w http.ResponseWriter, req *http.Request, _ int) {
		startEventStream(w)
		writeFlush(w, "id: l1\ndata: {\"type\":\"progress\",\"processed\":1}\n\n")
		select {
		case <-req.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	r := startTee(t, up.URL)
	const rounds = 7
	var direct, proxied []time.Duration
	for i := range rounds {
		path := fmt.Sprintf("/api/import/progress/latency-%d", i)
		d, err := firstEvent(up.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := firstEvent(r.base + path)
		if err != nil {
			t.Fatal(err)
		}
		direct, proxied = append(direct, d), append(proxied, p)
	}
	md, mp := median(direct), median(proxied)
	t.Logf("first-event latency over %d new connections, median: direct %s, through Caddy with tee_sse %s (+%s); all direct %v, all through Caddy %v",
		rounds, md, mp, mp-md, direct, proxied)
	// Generous: a shared 2-core machine under -race, not a benchmark; buffering would cost seconds.
	if mp > md+50*time.Millisecond {
		t.Fatalf("first event through Caddy took %s, direct %s: more than 50ms slower", mp, md)
	}
	// The teed events were published: each session's first event is in its history.
	for i := range rounds {
		session := fmt.Sprintf("latency-%d", i)
		waitFor(t, "the teed event of "+session, func() bool {
			return len(r.pollTee(session).Events) == 1
		})
	}
}

func TestTeeLeavesGzipCompressedUpstreamSSEUntouchedAndUnteed(t *testing.T) {
	var mu sync.Mutex
	written := map[string][]byte{} // the compressed bytes the backend wrote, per path
	up := newSSEUpstream(t, nil, func(w http.ResponseWriter, req *http.Request, _ int) {
		if !strings.HasPrefix(req.URL.Path, "/api/import/progress/gz-") {
			startEventStream(w)
			writeFlush(w, "id: p1\ndata: {\"type\":\"complete\",\"processed\":1}\n\n")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		var rec bytes.Buffer
		zw := gzip.NewWriter(io.MultiWriter(w, &rec))
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(zw, "id: g%d\ndata: {\"type\":\"progress\",\"processed\":%d}\n\n", i, i)
			zw.Flush()
			http.NewResponseController(w).Flush()
		}
		zw.Close()
		mu.Lock()
		written[req.URL.Path] = rec.Bytes()
		mu.Unlock()
	})
	r := startTee(t, up.URL)

	const path = "/api/import/progress/gz-1"
	req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Encoding", "gzip") // set by hand, so the client does not decompress
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if enc := res.Header.Get("Content-Encoding"); enc != "gzip" {
		t.Fatalf("Content-Encoding through Caddy = %q, want gzip", enc)
	}
	mu.Lock()
	want := written[path]
	mu.Unlock()
	if !bytes.Equal(got, want) {
		t.Fatalf("client got %d bytes, backend wrote %d: not identical", len(got), len(want))
	}
	zr, err := gzip.NewReader(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !strings.Contains(string(plain), "id: g3\n") {
		t.Fatalf("the compressed stream reads %q, %v", plain, err)
	}

	// An uncompressed stream through the same tee afterwards is published: once its event is in,
	// the compressed one would have been too, had it been teed.
	plain, err := http.Get(r.base + "/api/import/progress/plain-1")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, plain.Body)
	plain.Body.Close()
	waitFor(t, "the uncompressed stream's event", func() bool {
		return r.pollTee("plain-1").Done
	})
	if a := r.pollTee("gz-1"); len(a.Events) != 0 {
		t.Fatalf("the compressed stream was teed: poll = %+v", a)
	}
}

// Two sites share the memory broker; only one configures upstream_sse. Whatever order Caddy
// provisions them in, the pull stays on (a site without it must not switch off the other's).
func TestUpstreamPullSurvivesASecondSiteWithoutIt(t *testing.T) {
	const session = "two-sites"
	up := newSSEUpstream(t, nil, func(w http.ResponseWriter, req *http.Request, _ int) {
		startEventStream(w)
		writeFlush(w, "id: e1\ndata: {\"type\":\"progress\"}\n\n")
		<-req.Context().Done()
	})
	r := startRelay(t, pullBlock(up.URL))
	other := freePort(t)
	for round := 0; round < 5; round++ {
		cf := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\nhttp://127.0.0.1:%d {\n\tprogress_relay {\n%s\n\t}\n}\nhttp://127.0.0.1:%d {\n\tprogress_relay\n}\n",
			r.port, pullBlock(up.URL), other)
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := caddy.Load(cfg, true); err != nil {
			t.Fatal(err)
		}
		http.DefaultClient.CloseIdleConnections()
		sub := r.dial("/api/import/progress/" + fmt.Sprintf("%s-%d", session, round))
		if frames, closed := readFrames(t, sub, 1); len(frames) != 1 {
			t.Fatalf("round %d: no pulled event (closed %v)", round, closed)
		}
		sub.Close()
	}
}
