package sse

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

func newTap(t *testing.T, pub Publisher, cfg TapConfig) *Tap {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return NewTap(ctx, pub, cfg)
}

// teeProxy is a reverse proxy, like Caddy's reverse_proxy, whose responses go through a Tee of the
// session named by the last path segment.
func teeProxy(t *testing.T, tap *Tap, backend string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tee := tap.Wrap(w, r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
		defer tee.Close()
		rp.ServeHTTP(tee, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// firstEventLatency is how long a GET of u takes to deliver its first event's bytes.
func firstEventLatency(t *testing.T, u string) time.Duration {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func TestTeePassesBytesUnchangedAndPublishes(t *testing.T) {
	r := newRelay(t)
	// Writes that split a CRLF, a multi-byte character and an event across chunks, with a BOM,
	// comments and retry: the client must get exactly these bytes.
	chunks := []string{
		"\xEF\xBB\xBF: hello\r\n",
		"retry: 1000\r\nid: 1\r\ndata: {\"type\":\"progress\",\"name\":\"Zo\xC3",
		"\xAB\"}\r",
		"\n\r\n",
		"id: 2\ndata: {\"type\":\"progress\",\n",
		"data: \"n\":2}\n\n: heartbeat\n\n",
		"id: 3\nevent: complete\ndata: {\"done\":true}\n\n",
	}
	proceed := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		writeFlush(w, chunks[0])
		if r.URL.Query().Get("latency") != "" {
			return
		}
		<-proceed // the rest only after the client saw the first bytes: nothing may be held back
		for _, c := range chunks[1:] {
			writeFlush(w, c)
		}
	}))
	defer backend.Close()
	tap := newTap(t, r.broker, TapConfig{})
	proxy := teeProxy(t, tap, backend.URL)
	sub := r.subscribe(t, "imp-7", "websocket")

	resp, err := http.Get(proxy.URL + "/api/import/progress/imp-7")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len(chunks[0]))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(first)+string(rest), strings.Join(chunks, ""); got != want {
		t.Fatalf("client got %q\nwant %q", got, want)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}

	got, err := drain(sub)
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, "subscriber", got, []string{"1", "2", "3"})
	wantData := []string{`{"type":"progress","name":"Zoë"}`, "{\"type\":\"progress\",\n\"n\":2}", `{"done":true}`}
	for i, ev := range got {
		if string(ev.Data) != wantData[i] {
			t.Errorf("event %d data %s, want %s", i, ev.Data, wantData[i])
		}
	}
	if got[2].Type != "complete" {
		t.Errorf("event: complete gave type %q", got[2].Type)
	}
	eventually(t, "the tee to finish", func() bool { st := tap.Stats(); return st.Streams == 0 && st.Queued == 0 })
	if st := tap.Stats(); st.EventsIn != 3 {
		t.Errorf("stats = %+v, want 3 events in", st)
	}

	backendURL, _ := url.Parse(backend.URL)
	plain := httptest.NewServer(httputil.NewSingleHostReverseProxy(backendURL))
	defer plain.Close()
	// The best of a few tries, so that a busy machine's scheduling shows less.
	direct, proxied, teed := time.Hour, time.Hour, time.Hour
	for range 5 {
		direct = min(direct, firstEventLatency(t, backend.URL+"/direct?latency=1"))
		proxied = min(proxied, firstEventLatency(t, plain.URL+"/api/import/progress/other?latency=1"))
		teed = min(teed, firstEventLatency(t, proxy.URL+"/api/import/progress/other?latency=1"))
	}
	t.Logf("first-event latency: direct %v, through a reverse proxy %v, through a reverse proxy with the tee %v",
		direct, proxied, teed)
}

// readerOnly hides a reader's WriteTo, so that io.Copy calls the writer's ReadFrom.
type readerOnly struct{ io.Reader }

func TestTeeReadFromPublishes(t *testing.T) {
	r := newRelay(t)
	tap := newTap(t, r.broker, TapConfig{})
	stream := sseEvent("1", "progress", 1) + sseEvent("2", "progress", 2) + sseEvent("3", "complete", 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tee := tap.Wrap(w, "copy")
		defer tee.Close()
		tee.Header().Set("Content-Type", "text/event-stream")
		if _, ok := any(tee).(io.ReaderFrom); !ok {
			t.Error("Tee is not an io.ReaderFrom")
		}
		if _, err := io.Copy(tee, readerOnly{strings.NewReader(stream)}); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	sub := r.subscribe(t, "copy", "sse")
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != stream {
		t.Fatalf("client got %q, want %q", body, stream)
	}
	got, err := drain(sub)
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, "subscriber", got, ids(3))
}

func TestTeeLeavesCompressedAndOtherResponsesAlone(t *testing.T) {
	r := newRelay(t)
	core, logs := observer.New(zapcore.WarnLevel)
	tap := newTap(t, r.broker, TapConfig{Logger: zap.New(core)})
	stream := sseEvent("1", "complete", 1)
	responses := map[string]struct {
		status   int
		header   map[string]string
		body     string
		useWrite bool
	}{
		"/gzip-1": {200, map[string]string{"Content-Type": "text/event-stream", "Content-Encoding": "gzip"},
			"\x1f\x8b" + stream, true},
		"/br-2":     {200, map[string]string{"Content-Type": "text/event-stream", "Content-Encoding": "br"}, stream, false},
		"/json-3":   {200, map[string]string{"Content-Type": "application/json"}, `{"ok":true}`, true},
		"/error-4":  {502, map[string]string{"Content-Type": "text/event-stream"}, stream, true},
		"/sendfile": {200, map[string]string{"Content-Type": "text/plain"}, strings.Repeat("x", 100000), false},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tee := tap.Wrap(w, "s")
		defer tee.Close()
		res := responses[req.URL.Path]
		for k, v := range res.header {
			tee.Header().Set(k, v)
		}
		tee.WriteHeader(res.status)
		if res.useWrite {
			tee.Write([]byte(res.body))
		} else {
			io.Copy(tee, readerOnly{strings.NewReader(res.body)})
		}
	}))
	defer srv.Close()
	// A client that asks for no compression and so does not undo it.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for path, res := range responses {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != res.body || resp.StatusCode != res.status {
			t.Errorf("%s: got %d %q, want %d %q", path, resp.StatusCode, body, res.status, res.body)
		}
		if enc := res.header["Content-Encoding"]; resp.Header.Get("Content-Encoding") != enc {
			t.Errorf("%s: Content-Encoding %q, want %q", path, resp.Header.Get("Content-Encoding"), enc)
		}
	}
	st := tap.Stats()
	if st.EventsIn != 0 || st.Compressed != 2 || st.Streams != 0 {
		t.Errorf("stats = %+v, want nothing published and 2 compressed", st)
	}
	if n := logs.FilterMessageSnippet("compressed SSE response").Len(); n != 1 {
		t.Errorf("logged the compressed response %d times, want once", n)
	}
	if evs, _, _ := r.broker.History(context.Background(), "s", 0); len(evs) != 0 {
		t.Errorf("published %s", describe(evs))
	}
}

func TestResponseControllerReachesThroughTheTee(t *testing.T) {
	tap := newTap(t, broker.NewMemory(broker.Defaults()), TapConfig{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tee := tap.Wrap(w, "s")
		defer tee.Close()
		rc := http.NewResponseController(tee)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		if req.URL.Path == "/hijack" {
			conn, brw, err := rc.Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			brw.Flush()
			return
		}
		tee.Header().Set("Content-Type", "text/event-stream")
		tee.WriteHeader(http.StatusOK)
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
	}))
	defer srv.Close()
	for path, want := range map[string]string{"/hijack": "hijacked", "/sse": ""} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("%s: body %q, want %q", path, body, want)
		}
	}
}

// feedTee writes stream through a Tee of session around a recorder, in small writes.
func feedTee(t *testing.T, tap *Tap, session, stream string) *Tee {
	t.Helper()
	rec := httptest.NewRecorder()
	tee := tap.Wrap(rec, session)
	tee.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	for b := []byte(stream); len(b) > 0; b = b[min(7, len(b)):] {
		if _, err := tee.Write(b[:min(7, len(b))]); err != nil {
			t.Fatal(err)
		}
	}
	if rec.Body.String() != stream || !rec.Flushed {
		t.Fatalf("recorder got %q (flushed %v), want %q flushed", rec.Body.String(), rec.Flushed, stream)
	}
	return tee
}

func TestEventsFromSeveralClientsOfOneSessionArePublishedOnce(t *testing.T) {
	r := newRelay(t)
	tap := newTap(t, r.broker, TapConfig{})
	withoutIDs := "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n"
	// Two clients stream the same session: only the first one's ID-less events are published.
	a := feedTee(t, tap, "s", withoutIDs)
	b := feedTee(t, tap, "s", withoutIDs)
	eventually(t, "the first client's events", func() bool { return tap.Stats().EventsIn == 2 && tap.Stats().Queued == 0 })
	// Once the first ends, the other takes over.
	a.Close()
	feedMore := "data: {\"n\":3}\n\n"
	b.Write([]byte(feedMore))
	eventually(t, "the second client's event", func() bool { return tap.Stats().EventsIn == 3 && tap.Stats().Queued == 0 })
	b.Close()

	// Events with an id: are published from every client; the broker drops the repeats.
	withIDs := sseEvent("x", "progress", 1) + sseEvent("y", "progress", 2)
	c := feedTee(t, tap, "t", withIDs)
	d := feedTee(t, tap, "t", withIDs)
	c.Close()
	d.Close()
	eventually(t, "both clients' events", func() bool { st := tap.Stats(); return st.EventsIn == 5 && st.Duplicates == 2 })
	evs, _, _ := r.broker.History(context.Background(), "s", 0)
	var data []string
	for _, ev := range evs {
		data = append(data, string(ev.Data))
	}
	if strings.Join(data, " ") != `{"n":1} {"n":2} {"n":3}` {
		t.Errorf("session s holds %v", data)
	}
}

// gatedPublisher holds every Publish until open is closed, and says when the first one arrived.
type gatedPublisher struct {
	Publisher
	open    chan struct{}
	arrived chan struct{}
	once    sync.Once
}

func (g *gatedPublisher) Publish(ctx context.Context, in []event.Input) (broker.Result, error) {
	g.once.Do(func() { close(g.arrived) })
	<-g.open
	return g.Publisher.Publish(ctx, in)
}

func TestSlowBrokerNeverHoldsTheStreamAndKeepsTerminalEvents(t *testing.T) {
	r := newRelay(t)
	gate := &gatedPublisher{Publisher: r.broker, open: make(chan struct{}), arrived: make(chan struct{})}
	tap := newTap(t, gate, TapConfig{Queue: 4})
	rec := httptest.NewRecorder()
	tee := tap.Wrap(rec, "slow")
	tee.Header().Set("Content-Type", "text/event-stream")
	tee.Write([]byte(sseEvent("1", "progress", 1)))
	<-gate.arrived // the publisher is now stuck on event 1
	var stream bytes.Buffer
	for i := 2; i <= 10; i++ {
		stream.WriteString(sseEvent(ids(11)[i-1], "progress", i))
	}
	stream.WriteString(sseEvent("11", "complete", 11))
	done := make(chan struct{})
	go func() {
		tee.Write(stream.Bytes()) // must return while the broker is stuck
		tee.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("a stuck broker held the stream back")
	}
	sub := r.subscribe(t, "slow", "poll")
	close(gate.open)
	got, err := drain(sub)
	if err != nil {
		t.Fatal(err)
	}
	// Event 1 was being published, 2–5 fit the queue, 6–10 were dropped, the terminal event was kept.
	wantSequence(t, "subscriber", got, []string{"1", "2", "3", "4", "5", "11"})
	if st := tap.Stats(); st.Dropped != 5 {
		t.Errorf("stats = %+v, want 5 dropped", st)
	}
}
