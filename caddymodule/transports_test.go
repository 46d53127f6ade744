package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func (r *relay) wsURL(path string) string {
	return "ws://127.0.0.1:" + fmt.Sprint(r.port) + path
}

func (r *relay) dial(path string) *websocket.Conn {
	r.t.Helper()
	c, res, err := websocket.DefaultDialer.Dial(r.wsURL(path), nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		r.t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// readFrames reads text frames until the connection closes or n frames arrived, and returns the
// frames and the close error, if the connection closed.
func readFrames(t *testing.T, c *websocket.Conn, n int) ([]string, *websocket.CloseError) {
	t.Helper()
	var frames []string
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for n < 0 || len(frames) < n {
		_, msg, err := c.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return frames, ce
			}
			t.Fatalf("after %d frames: %v", len(frames), err)
		}
		frames = append(frames, string(msg))
	}
	return frames, nil
}

func (r *relay) subscribers(transport string) int { return r.health().Subscribers[transport] }

func (r *relay) health() health {
	r.t.Helper()
	res, err := http.Get(r.base + "/relay/health")
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	var h health
	json.NewDecoder(res.Body).Decode(&h)
	return h
}

func TestWebhookEventsReachEveryTransportOnceInOrder(t *testing.T) {
	r := startRelay(t, defaultWebhook)
	const session = "import-1"

	seed := r.dial("/")
	if err := seed.WriteJSON(map[string]any{"sessionId": session}); err != nil {
		t.Fatal(err)
	}
	byURL := r.dial("/api/import/progress/" + session)

	req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/"+session, nil)
	req.Header.Set("Accept", "text/event-stream")
	sseRes, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sseRes.Body.Close()
	if ct := sseRes.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("SSE content type %q", ct)
	}
	waitFor(t, "subscribers to register", func() bool {
		return r.subscribers("websocket") == 2 && r.subscribers("sse") == 1
	})

	// Long-poll from the start, in the background, following the cursor.
	var polled []envelope
	var pollDone sync.WaitGroup
	pollDone.Add(1)
	go func() {
		defer pollDone.Done()
		after := uint64(0)
		for i := 0; i < 100; i++ {
			status, a := r.poll(session, after, "5")
			if status != http.StatusOK {
				t.Errorf("poll status %d", status)
				return
			}
			polled = append(polled, a.Events...)
			after = a.Last
			if a.Done {
				return
			}
		}
	}()

	var sent []string
	single := progressEvents(session, 1, 3)
	for _, e := range single {
		r.mustPost(e)
	}
	b := progressEvents(session, 4, 4)
	r.mustPost(batch(b))
	nd := progressEvents(session, 8, 4)
	r.mustPost(ndjson(nd))
	final := fmt.Sprintf(`{"sessionId":%q,"type":"complete","eventId":"done","created":11}`, session)
	r.mustPost(final)
	sent = append(append(append(append(sent, single...), b...), nd...), final)

	frames, closed := readFrames(t, seed, -1)
	if len(frames) != len(sent) {
		t.Fatalf("seed WebSocket got %d frames, want %d: %v", len(frames), len(sent), frames)
	}
	for i := range sent {
		if frames[i] != sent[i] {
			t.Fatalf("frame %d = %s, want the posted bytes %s", i, frames[i], sent[i])
		}
	}
	if closed == nil || closed.Code != websocket.CloseNormalClosure {
		t.Fatalf("seed WebSocket closed with %v, want 1000 after the terminal event", closed)
	}

	frames, closed = readFrames(t, byURL, -1)
	checkEnvelopes(t, "by-URL WebSocket", frames, sent)
	if closed == nil || closed.Code != websocket.CloseNormalClosure {
		t.Fatalf("by-URL WebSocket closed with %v, want 1000", closed)
	}

	evs := readSSE(t, sseRes.Body, -1)
	if len(evs) != len(sent) {
		t.Fatalf("SSE got %d events, want %d", len(evs), len(sent))
	}
	for i, ev := range evs {
		if ev.id != fmt.Sprint(i+1) || ev.data != sent[i] {
			t.Fatalf("SSE event %d = id %s data %s; want id %d data %s", i, ev.id, ev.data, i+1, sent[i])
		}
	}

	pollDone.Wait()
	var polledFrames []string
	for _, e := range polled {
		b, _ := json.Marshal(e)
		polledFrames = append(polledFrames, string(b))
	}
	checkEnvelopes(t, "long-poll", polledFrames, sent)
}

// checkEnvelopes checks that frames are envelopes of sent, seq 1..n, data byte-for-byte.
func checkEnvelopes(t *testing.T, what string, frames, sent []string) {
	t.Helper()
	if len(frames) != len(sent) {
		t.Fatalf("%s got %d events, want %d", what, len(frames), len(sent))
	}
	for i, f := range frames {
		var e envelope
		if err := json.Unmarshal([]byte(f), &e); err != nil {
			t.Fatalf("%s frame %d %q: %v", what, i, f, err)
		}
		if e.Seq != uint64(i+1) || string(e.Data) != sent[i] || e.Session == "" || e.Type == "" {
			t.Fatalf("%s frame %d = %s; want seq %d with data %s", what, i, f, i+1, sent[i])
		}
	}
}

func TestLateJoinersAndResumersMissNothing(t *testing.T) {
	r := startRelay(t, defaultWebhook)
	const session = "late-1"
	sent := progressEvents(session, 1, 6)
	r.mustPost(batch(sent[:4]))

	late := r.dial("/")
	late.WriteJSON(map[string]any{"sessionId": session})
	frames, _ := readFrames(t, late, 4)
	for i := range frames {
		if frames[i] != sent[i] {
			t.Fatalf("late joiner frame %d = %s", i, frames[i])
		}
	}

	resumed := r.dial("/")
	resumed.WriteJSON(map[string]any{"sessionId": session, "after": 2, "envelope": true})

	req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/"+session+"?after=1", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "3") // wins over ?after=
	sseRes, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sseRes.Body.Close()

	r.mustPost(batch(sent[4:]))

	frames, _ = readFrames(t, resumed, 4)
	checkEnvelopesFrom(t, "resumed WebSocket", frames, sent, 3)

	evs := readSSE(t, sseRes.Body, 3)
	for i, ev := range evs {
		if ev.id != fmt.Sprint(4+i) || ev.data != sent[3+i] {
			t.Fatalf("resumed SSE event %d = %+v", i, ev)
		}
	}
	if status, a := r.poll(session, 5, "0"); status != 200 || len(a.Events) != 1 || a.Events[0].Seq != 6 || a.Last != 6 || a.Done {
		t.Fatalf("poll after 5 = %d %+v", status, a)
	}
}

func checkEnvelopesFrom(t *testing.T, what string, frames, sent []string, firstSeq int) {
	t.Helper()
	for i, f := range frames {
		var e envelope
		json.Unmarshal([]byte(f), &e)
		if int(e.Seq) != firstSeq+i || string(e.Data) != sent[firstSeq+i-1] {
			t.Fatalf("%s frame %d = %s, want seq %d", what, i, f, firstSeq+i)
		}
	}
}

func TestLongPollWaitsThenAnswersEmptyOrAtTheFirstEvent(t *testing.T) {
	r := startRelay(t, defaultWebhook)
	start := time.Now()
	status, a := r.poll("not-started", 0, "0.3")
	if status != 200 || len(a.Events) != 0 || a.Last != 0 || a.Done || a.Session != "not-started" {
		t.Fatalf("empty poll = %d %+v", status, a)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("empty poll answered after %s; it should wait", waited)
	}

	got := make(chan pollAnswer, 1)
	go func() {
		_, a := r.poll("soon", 0, "30")
		got <- a
	}()
	waitFor(t, "the poll to subscribe", func() bool { return r.subscribers("poll") == 1 })
	r.mustPost(`{"sessionId":"soon","type":"progress","n":1}`)
	select {
	case a := <-got:
		if len(a.Events) != 1 || a.Last != 1 || a.Done {
			t.Fatalf("poll = %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long-poll did not answer when the event arrived")
	}
}

func TestFinishedSessionAnswers204AndDone(t *testing.T) {
	r := startRelay(t, defaultWebhook)
	r.mustPost(batch([]string{`{"sessionId":"fin","type":"progress"}`, `{"sessionId":"fin","type":"complete"}`}))

	req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/fin", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "2")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("SSE at the terminal event answered %d, want 204", res.StatusCode)
	}
	if status, a := r.poll("fin", 2, "5"); status != 200 || !a.Done || len(a.Events) != 0 || a.Last != 2 {
		t.Fatalf("poll past the end = %d %+v", status, a)
	}
	if status, a := r.poll("fin", 1, "5"); !a.Done || len(a.Events) != 1 || a.Events[0].Type != "complete" {
		t.Fatalf("poll before the end = %d %+v", status, a)
	}
	ws := r.dial("/")
	ws.WriteJSON(map[string]any{"sessionId": "fin", "after": 2})
	if _, closed := readFrames(t, ws, -1); closed == nil || closed.Code != websocket.CloseNormalClosure {
		t.Fatalf("WebSocket past the end closed with %v", closed)
	}
}

func TestOtherRequestsPassToTheNextHandler(t *testing.T) {
	r := startRelay(t, defaultWebhook)
	for _, path := range []string{"/", "/api/import", "/api/import/progress/a/b"} {
		res, err := http.Get(r.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := res.Body.Read(b)
		res.Body.Close()
		if !strings.Contains(string(b[:n]), "next handler") {
			t.Fatalf("GET %s = %d %q; want the next handler", path, res.StatusCode, b[:n])
		}
	}
}

func TestReloadKeepsSubscribersConnectedAndDelivering(t *testing.T) {
	r := startRelay(t, defaultWebhook)
	const session = "reload-1"
	ws := r.dial("/")
	ws.WriteJSON(map[string]any{"sessionId": session})
	req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/"+session, nil)
	req.Header.Set("Accept", "text/event-stream")
	sseRes, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sseRes.Body.Close()
	waitFor(t, "subscribers", func() bool { return r.subscribers("websocket") == 1 && r.subscribers("sse") == 1 })

	sent := progressEvents(session, 1, 6)
	r.mustPost(batch(sent[:3]))
	if frames, _ := readFrames(t, ws, 3); len(frames) != 3 {
		t.Fatal("before reload")
	}
	r.load(defaultWebhook + "\n\t\thistory 50\n\t\tqueue_size 512")
	r.mustPost(batch(sent[3:]))

	frames, _ := readFrames(t, ws, 3)
	for i, f := range frames {
		if f != sent[3+i] {
			t.Fatalf("after reload WebSocket frame %d = %s", i, f)
		}
	}
	evs := readSSE(t, sseRes.Body, 6)
	if len(evs) != 6 || evs[5].id != "6" {
		t.Fatalf("SSE across reload got %+v", evs)
	}
}
