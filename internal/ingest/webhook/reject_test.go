package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// TestEachRejection sends the bad input behind every refusal of the contract and checks the
// status, the JSON error, and that nothing of the refused request was delivered.
func TestEachRejection(t *testing.T) {
	withMaxSessions := broker.Defaults()
	withMaxSessions.MaxSessions = 1
	ts := strconv.FormatInt(newClock().Now().Unix(), 10)

	tests := []struct {
		name    string
		cfg     Config
		opts    *broker.Options
		setup   []string // bodies accepted before the bad request
		request func(f *fixture) *http.Request
		status  int
		want    string // in the error message
	}{
		{
			name:    "not JSON",
			request: func(f *fixture) *http.Request { return f.request("/hooks", `{"sessionId":"a",`) },
			status:  http.StatusBadRequest, want: "not valid JSON",
		},
		{
			name:    "JSON scalar",
			request: func(f *fixture) *http.Request { return f.request("/hooks", `"sessionId"`) },
			status:  http.StatusBadRequest, want: "body is a JSON string",
		},
		{
			name: "bad NDJSON line",
			request: func(f *fixture) *http.Request {
				return f.request("/hooks", "{\"sessionId\":\"a\"}\n{\"sessionId\":\"a\"\n")
			},
			status: http.StatusBadRequest, want: "line 2",
		},
		{
			name:    "batch element not an object",
			request: func(f *fixture) *http.Request { return f.request("/hooks", `[{"sessionId":"a"},{"sessionId":"a"},42]`) },
			status:  http.StatusBadRequest, want: "event at index 2: is a JSON number",
		},
		{
			name:    "bad session in batch",
			request: func(f *fixture) *http.Request { return f.request("/hooks", `[{"sessionId":"a"},{"sessionId":"a/b"}]`) },
			status:  http.StatusBadRequest, want: `event at index 1: session ID from field "sessionId": invalid session ID: character '/' at position 1`,
		},
		{
			name:    "bad session in path",
			request: func(f *fixture) *http.Request { return f.request("/sessions/a%20b/hook", `{}`) },
			status:  http.StatusBadRequest, want: "the webhook path",
		},
		{
			name:    "no session",
			request: func(f *fixture) *http.Request { return f.request("/hooks", `[{"sessionId":"a"},{"n":1}]`) },
			status:  http.StatusUnprocessableEntity, want: "event at index 1: no session ID",
		},
		{
			name:    "missing signature",
			request: func(f *fixture) *http.Request { return f.request("/hooks", `{"sessionId":"a"}`, SignatureHeader, "") },
			status:  http.StatusUnauthorized, want: "missing X-Relay-Signature",
		},
		{
			name: "bad signature",
			request: func(f *fixture) *http.Request {
				return f.request("/hooks", `{"sessionId":"a"}`, SignatureHeader, sign(testSecret, `{"sessionId":"b"}`))
			},
			status: http.StatusUnauthorized, want: "signature does not match",
		},
		{
			name: "bad bearer",
			cfg:  Config{Bearer: "right-token"},
			request: func(f *fixture) *http.Request {
				return f.request("/hooks", `{"sessionId":"a"}`, "Authorization", "Bearer wrong-token")
			},
			status: http.StatusUnauthorized, want: "bearer token does not match",
		},
		{
			name: "stale timestamp",
			cfg:  Config{TimestampHeader: "X-Relay-Timestamp", Now: func() time.Time { return newClock().Now().Add(6 * time.Minute) }},
			request: func(f *fixture) *http.Request {
				body := `{"sessionId":"a"}`
				return f.request("/hooks", body, "X-Relay-Timestamp", ts, SignatureHeader, sign(testSecret, ts+"."+body))
			},
			status: http.StatusUnauthorized, want: "X-Relay-Timestamp is 6m0s away",
		},
		{
			name: "body too large",
			cfg:  Config{MaxBody: 64},
			request: func(f *fixture) *http.Request {
				return f.request("/hooks", `{"sessionId":"a","pad":"`+strings.Repeat("x", 64)+`"}`)
			},
			status: http.StatusRequestEntityTooLarge, want: "at most 64 bytes",
		},
		{
			name: "body too large without a Content-Length",
			cfg:  Config{MaxBody: 64},
			request: func(f *fixture) *http.Request {
				req := f.request("/hooks", `{"sessionId":"a","pad":"`+strings.Repeat("x", 64)+`"}`)
				req.ContentLength = -1 // sent chunked, so only the MaxBytesReader can catch it
				return req
			},
			status: http.StatusRequestEntityTooLarge, want: "at most 64 bytes",
		},
		{
			name: "too many events",
			cfg:  Config{MaxEvents: 2},
			request: func(f *fixture) *http.Request {
				return f.request("/hooks", `[{"sessionId":"a"},{"sessionId":"a"},{"sessionId":"a"}]`)
			},
			status: http.StatusRequestEntityTooLarge, want: "too many events: at most 2 per request",
		},
		{
			name:    "event after terminal",
			setup:   []string{`{"sessionId":"done","type":"complete"}`},
			request: func(f *fixture) *http.Request { return f.request("/hooks", `{"sessionId":"done","n":1}`) },
			status:  http.StatusConflict, want: "session done already finished",
		},
		{
			name:  "batch with one event after terminal",
			setup: []string{`{"sessionId":"done","type":"complete"}`},
			request: func(f *fixture) *http.Request {
				return f.request("/hooks", `[{"sessionId":"fresh","n":1},{"sessionId":"done","n":1},{"sessionId":"fresh","n":2}]`)
			},
			status: http.StatusConflict, want: "session done already finished",
		},
		{
			name: "batch that finishes a session and goes on",
			request: func(f *fixture) *http.Request {
				return f.request("/hooks", `[{"sessionId":"s","n":1},{"sessionId":"s","type":"error"},{"sessionId":"s","n":2}]`)
			},
			status: http.StatusConflict, want: "session s already finished",
		},
		{
			name:    "max sessions reached",
			opts:    &withMaxSessions,
			setup:   []string{`{"sessionId":"first"}`},
			request: func(f *fixture) *http.Request { return f.request("/hooks", `{"sessionId":"second"}`) },
			status:  http.StatusServiceUnavailable, want: "too many sessions",
		},
		{
			name: "method not POST",
			request: func(f *fixture) *http.Request {
				req := f.request("/hooks", "")
				req.Method = http.MethodGet
				return req
			},
			status: http.StatusMethodNotAllowed, want: "method GET not allowed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := broker.Defaults()
			if tc.opts != nil {
				opts = *tc.opts
			}
			f := newFixture(t, tc.cfg, opts, nil)
			for _, body := range tc.setup {
				req := f.request("/hooks", body)
				if tc.cfg.Bearer != "" {
					req.Header.Set("Authorization", "Bearer "+tc.cfg.Bearer)
				}
				wantAccepted(t, f.do(req), 1, 0)
			}
			before := len(f.sink.delivered())
			rep := f.do(tc.request(f))
			wantError(t, rep, tc.status, tc.want)
			if got := len(f.sink.delivered()); got != before {
				t.Errorf("a refused request delivered %d events", got-before)
			}
			if rej := f.obs.rejections(); len(rej) != 1 || !strings.HasPrefix(rej[0], http.StatusText(tc.status)) {
				t.Errorf("observer heard %q, want one %d", rej, tc.status)
			}
		})
	}
}

// wantError checks a JSON error answer and that it does not leak the secret.
func wantError(t *testing.T, rep reply, status int, want string) {
	t.Helper()
	if rep.status != status {
		t.Fatalf("status %d %s, want %d", rep.status, rep.body, status)
	}
	if ct := rep.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	msg, _ := rep.json["error"].(string)
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not say %q", msg, want)
	}
	if strings.Contains(rep.body, testSecret) {
		t.Errorf("answer leaks the secret: %s", rep.body)
	}
	if status == http.StatusMethodNotAllowed && rep.header.Get("Allow") != http.MethodPost {
		t.Errorf("405 without Allow: POST (got %q)", rep.header.Get("Allow"))
	}
}

// failingPublisher stands for a broker that fails in a way the memory broker cannot.
type failingPublisher struct{ err error }

func (p failingPublisher) Publish(context.Context, []event.Input) (broker.Result, error) {
	return broker.Result{}, p.err
}

func TestPublishFailuresAnswer503Or500WithoutDetail(t *testing.T) {
	closed := broker.NewMemory(broker.Defaults())
	if err := closed.Start(&recordingSink{}); err != nil {
		t.Fatal(err)
	}
	_ = closed.Close()
	for _, tc := range []struct {
		name   string
		pub    Publisher
		status int
		want   string
	}{
		{"broker unreachable", failingPublisher{fmt.Errorf("redis 10.0.0.7:6379: %w", broker.ErrUnavailable)}, http.StatusServiceUnavailable, "broker unavailable"},
		{"broker closed", closed, http.StatusServiceUnavailable, "broker unavailable"},
		{"unexpected failure", failingPublisher{errors.New("script NOSCRIPT at 10.0.0.7")}, http.StatusInternalServerError, "internal error while publishing events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &recordingObserver{}
			h, err := New(Config{Secret: testSecret, Observer: obs}, tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = h.Handle(w, r, "", nil)
			}))
			defer srv.Close()
			f := &fixture{t: t, url: srv.URL}
			rep := f.post(`{"sessionId":"p"}`)
			wantError(t, rep, tc.status, tc.want)
			if strings.Contains(rep.body, "10.0.0.7") {
				t.Errorf("answer leaks internal detail: %s", rep.body)
			}
			if rej := obs.rejections(); len(rej) != 1 || (tc.status == 500 && !strings.Contains(rej[0], "NOSCRIPT")) {
				t.Errorf("observer heard %q, want the internal detail of a 500", rej)
			}
		})
	}
}
