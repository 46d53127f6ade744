package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

const testSecret = "test-secret-do-not-echo"

// recordingSink is the broker's consumer in these tests: it keeps what was delivered.
type recordingSink struct {
	mu     sync.Mutex
	events []*event.Event
}

func (s *recordingSink) Deliver(ev *event.Event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

func (s *recordingSink) Resync() {}

func (s *recordingSink) delivered() []*event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*event.Event(nil), s.events...)
}

// recordingObserver keeps what the handler reported.
type recordingObserver struct {
	mu                   sync.Mutex
	accepted, duplicates int
	rejected             []string // "<status> <reason>"
}

func (o *recordingObserver) Accepted(_ *http.Request, n, d int) {
	o.mu.Lock()
	o.accepted += n
	o.duplicates += d
	o.mu.Unlock()
}

func (o *recordingObserver) Rejected(_ *http.Request, status int, reason string) {
	o.mu.Lock()
	o.rejected = append(o.rejected, http.StatusText(status)+" "+reason)
	o.mu.Unlock()
}

func (o *recordingObserver) counts() (accepted, duplicates int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.accepted, o.duplicates
}

func (o *recordingObserver) rejections() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.rejected...)
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is a webhook handler behind a real HTTP server, publishing to a real memory broker.
type fixture struct {
	t      *testing.T
	url    string
	broker *broker.Memory
	sink   *recordingSink
	obs    *recordingObserver
}

// newFixture serves the handler at /hooks (no path session) and /sessions/{session}/hook.
// When cfg has no authentication it gets testSecret. next, if set, is the forward target.
func newFixture(t *testing.T, cfg Config, opts broker.Options, next Next) *fixture {
	t.Helper()
	if cfg.Secret == "" && cfg.Bearer == "" && !cfg.Insecure {
		cfg.Secret = testSecret
	}
	f := &fixture{t: t, broker: broker.NewMemory(opts), sink: &recordingSink{}, obs: &recordingObserver{}}
	if err := f.broker.Start(f.sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.broker.Close() })
	cfg.Observer = f.obs
	h, err := New(cfg, f.broker)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		if err := h.Handle(w, r, r.PathValue("session"), next); err != nil {
			t.Errorf("Handle returned %v", err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hooks", serve)
	mux.HandleFunc("/sessions/{session}/hook", serve)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// sign is the signature a backend sends for body.
func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// request builds a POST to path with body signed by testSecret, then applies header pairs
// (a pair with an empty value deletes the header).
func (f *fixture) request(path, body string, header ...string) *http.Request {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sign(testSecret, body))
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	return req
}

// reply is an answer as the tests look at it.
type reply struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (f *fixture) do(req *http.Request) reply {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	rep := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &rep.json); err != nil {
			f.t.Fatalf("answer %q is not JSON: %v", b, err)
		}
	}
	return rep
}

func (f *fixture) post(body string, header ...string) reply {
	f.t.Helper()
	return f.do(f.request("/hooks", body, header...))
}

// wantAccepted checks a 202 with the given counts.
func wantAccepted(t *testing.T, rep reply, accepted, duplicates int) {
	t.Helper()
	if rep.status != http.StatusAccepted {
		t.Fatalf("status %d %s, want 202", rep.status, rep.body)
	}
	if got := rep.json["accepted"]; got != float64(accepted) {
		t.Errorf("accepted = %v, want %d (%s)", got, accepted, rep.body)
	}
	got, present := rep.json["duplicates"]
	if duplicates == 0 && present {
		t.Errorf("duplicates present in %s, want it omitted", rep.body)
	}
	if duplicates > 0 && got != float64(duplicates) {
		t.Errorf("duplicates = %v, want %d (%s)", got, duplicates, rep.body)
	}
}
