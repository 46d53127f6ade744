package webhook

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// wantDelivered checks session, seq, type and the exact Data of what the broker delivered.
func wantDelivered(t *testing.T, got []*event.Event, want ...event.Input) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("delivered %d events, want %d", len(got), len(want))
	}
	seqs := map[string]uint64{}
	for i, ev := range got {
		w := want[i]
		seqs[w.Session]++
		if ev.Session != w.Session || ev.Type != w.Type || ev.ID != w.ID || string(ev.Data) != string(w.Data) || ev.Seq != seqs[w.Session] {
			t.Errorf("event %d = {%s seq %d %s %q %s}, want {%s seq %d %s %q %s}",
				i, ev.Session, ev.Seq, ev.Type, ev.ID, ev.Data, w.Session, seqs[w.Session], w.Type, w.ID, w.Data)
		}
	}
}

func TestSingleEventAcceptedByteForByte(t *testing.T) {
	f := newFixture(t, Config{}, broker.Defaults(), nil)
	obj := `{"sessionId":"imp-1", "type":"progress",  "done": 5,"total":10, "note":"caf\u00e9 ✓"}`
	wantAccepted(t, f.post("\n  "+obj+"\r\n"), 1, 0)
	wantDelivered(t, f.sink.delivered(), event.Input{Session: "imp-1", Type: "progress", Data: []byte(obj)})
	if accepted, _ := f.obs.counts(); accepted != 1 {
		t.Errorf("observer counted %d accepted, want 1", accepted)
	}
}

func TestBatchAcceptedWholeInOnePublish(t *testing.T) {
	f := newFixture(t, Config{}, broker.Defaults(), nil)
	a := `{"sessionId":"a","type":"progress","n":1}`
	b := `{ "sessionId" : "b" , "n" : [1, 2] }`
	c := `{"sessionId":"a","type":"complete"}`
	wantAccepted(t, f.post("[ "+a+",\n\t"+b+" ,"+c+"]"), 3, 0)
	wantDelivered(t, f.sink.delivered(),
		event.Input{Session: "a", Type: "progress", Data: []byte(a)},
		event.Input{Session: "b", Type: "progress", Data: []byte(b)},
		event.Input{Session: "a", Type: "complete", Data: []byte(c)})
}

func TestNDJSONAccepted(t *testing.T) {
	f := newFixture(t, Config{}, broker.Defaults(), nil)
	lines := []string{`{"sessionId":"s","type":"start"}`, `{"sessionId":"s","done":1}`, `{"sessionId":"s","type":"complete"}`}
	body := lines[0] + "\r\n\n   \n" + lines[1] + "\n" + lines[2] + "\n"
	wantAccepted(t, f.post(body, "Content-Type", "application/x-ndjson"), 3, 0)
	wantDelivered(t, f.sink.delivered(),
		event.Input{Session: "s", Type: "start", Data: []byte(lines[0])},
		event.Input{Session: "s", Type: "progress", Data: []byte(lines[1])},
		event.Input{Session: "s", Type: "complete", Data: []byte(lines[2])})
}

func TestSessionFromFieldThenHeaderThenPath(t *testing.T) {
	f := newFixture(t, Config{SessionField: "meta.session"}, broker.Defaults(), nil)
	body := `[{"meta":{"session":"from-field"}},{"n":1}]`
	wantAccepted(t, f.do(f.request("/sessions/from-path/hook", body, SessionHeader, "from-header")), 2, 0)
	wantAccepted(t, f.do(f.request("/sessions/from-path/hook", `{"n":2}`)), 1, 0)
	got := f.sink.delivered()
	want := []string{"from-field", "from-header", "from-path"}
	for i, ev := range got {
		if ev.Session != want[i] {
			t.Errorf("event %d went to session %q, want %q", i, ev.Session, want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("delivered %d events, want %d", len(got), len(want))
	}
}

func TestDuplicatesCountedOverBatchAndNeverDeliveredTwice(t *testing.T) {
	f := newFixture(t, Config{IDField: "eventId"}, broker.Defaults(), nil)
	body := `[{"sessionId":"d","eventId":"e1"},{"sessionId":"d","eventId":2},{"sessionId":"d","eventId":"e1"}]`
	wantAccepted(t, f.post(body), 2, 1)
	// The backend retries the whole webhook: all three are duplicates now.
	wantAccepted(t, f.post(body), 0, 3)
	wantAccepted(t, f.post(`{"sessionId":"d","eventId":"e1"}`), 0, 1)
	wantDelivered(t, f.sink.delivered(),
		event.Input{Session: "d", Type: "progress", ID: "e1", Data: []byte(`{"sessionId":"d","eventId":"e1"}`)},
		event.Input{Session: "d", Type: "progress", ID: "2", Data: []byte(`{"sessionId":"d","eventId":2}`)})
	if accepted, duplicates := f.obs.counts(); accepted != 2 || duplicates != 5 {
		t.Errorf("observer counted %d accepted, %d duplicates; want 2 and 5", accepted, duplicates)
	}
}

// forwardTarget is the backend's own webhook consumer behind the relay.
type forwardTarget struct {
	mu            sync.Mutex // the server goroutine writes, the test reads
	body          string
	contentLength int64
	calls         int
}

func (n *forwardTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("forward target reading body: %w", err)
	}
	n.mu.Lock()
	n.body, n.contentLength = string(b), r.ContentLength
	n.calls++
	n.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	_, err = io.WriteString(w, "consumer says ok")
	return err
}

func (n *forwardTarget) seen() (body string, contentLength int64, calls int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.body, n.contentLength, n.calls
}

func TestForwardPassesTheExactOriginalBody(t *testing.T) {
	next := &forwardTarget{}
	f := newFixture(t, Config{IDField: "eventId"}, broker.Defaults(), next)
	body := "\xef\xbb\xbf [\n {\"sessionId\":\"fw\", \"eventId\":\"x\"} ]\n\n"
	rep := f.post(body)
	if rep.status != http.StatusOK || rep.body != "consumer says ok" {
		t.Fatalf("answer %d %q, want the consumer's 200", rep.status, rep.body)
	}
	if got, length, _ := next.seen(); got != body || length != int64(len(body)) {
		t.Errorf("consumer got %q (length %d), want %q (length %d)", got, length, body, len(body))
	}
	if got := f.sink.delivered(); len(got) != 1 || got[0].Session != "fw" {
		t.Fatalf("delivered %v, want one event for fw", got)
	}
	// A retried webhook is acknowledged and forwarded again; a refused one is not forwarded.
	f.post(body)
	rep = f.post(`{"sessionId":"fw/bad"}`)
	if _, _, calls := next.seen(); rep.status != http.StatusBadRequest || calls != 2 {
		t.Errorf("bad webhook: status %d, consumer called %d times; want 400 and 2 calls", rep.status, calls)
	}
}

func TestForwardReturnsTheNextHandlersError(t *testing.T) {
	failing := nextFunc(func(http.ResponseWriter, *http.Request) error { return io.ErrUnexpectedEOF })
	b := broker.NewMemory(broker.Defaults())
	if err := b.Start(&recordingSink{}); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h, err := New(Config{Insecure: true}, b)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "/hooks", strings.NewReader(`{"sessionId":"n"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(discardWriter{}, req, "", failing); err != io.ErrUnexpectedEOF {
		t.Errorf("Handle returned %v, want the next handler's error", err)
	}
}

type nextFunc func(http.ResponseWriter, *http.Request) error

func (f nextFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// discardWriter is a ResponseWriter for a call that answers nothing itself.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

func TestTypeDefaultsToProgress(t *testing.T) {
	f := newFixture(t, Config{TypeField: "kind"}, broker.Defaults(), nil)
	wantAccepted(t, f.post(`[{"sessionId":"t","kind":"step"},{"sessionId":"t","kind":7},{"sessionId":"t","kind":""},{"sessionId":"t","type":"complete"}]`), 4, 0)
	want := []string{"step", "progress", "progress", "progress"}
	for i, ev := range f.sink.delivered() {
		if ev.Type != want[i] {
			t.Errorf("event %d has type %q, want %q", i, ev.Type, want[i])
		}
	}
}

func TestConcurrentWebhooksAreAllDeliveredInOrder(t *testing.T) {
	f := newFixture(t, Config{IDField: "eventId", RatePerSecond: 1e6}, broker.Defaults(), nil)
	const senders, each = 8, 25
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf(`[{"sessionId":"c","eventId":"%d-%d"},{"sessionId":"c","eventId":"%d-%d"}]`, s, i, s, i)
				// Not f.post: it calls t.Fatal, which only the test goroutine may.
				req, err := http.NewRequest(http.MethodPost, f.url+"/hooks", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set(SignatureHeader, sign(testSecret, body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted || string(answer) != `{"accepted":1,"duplicates":1}`+"\n" {
					t.Errorf("sender %d webhook %d: %d %s", s, i, resp.StatusCode, answer)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := f.sink.delivered()
	if len(got) != senders*each {
		t.Fatalf("delivered %d events, want %d", len(got), senders*each)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: gaps or reordering", i, ev.Seq)
		}
	}
}
