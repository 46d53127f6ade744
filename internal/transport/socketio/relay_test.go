package socketio

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
)

// caddyWriter hides Hijack exactly as Caddy's ResponseWriterWrapper does: it embeds only the
// http.ResponseWriter interface and hands the original out through Unwrap.
type caddyWriter struct{ http.ResponseWriter }

func (w caddyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func behindCaddy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(caddyWriter{w}, r)
	})
}

// testRelay is a Socket.IO server over a real hub and memory broker, served behind caddyWriter,
// with a webhook endpoint that publishes like the relay's: POST /hooks/progress.
type testRelay struct {
	url    string
	hub    *hub.Hub
	broker *broker.Memory
	sio    *Server
}

func newTestRelay(t *testing.T, cfg Config) *testRelay {
	t.Helper()
	b := broker.NewMemory(broker.Defaults())
	h, err := hub.New(b, hub.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return newTestRelayOn(t, h, b, cfg, "")
}

// newTestRelayOn serves a second Socket.IO server (other settings) over an existing hub.
func newTestRelayOn(t *testing.T, h *hub.Hub, b *broker.Memory, cfg Config, secret string) *testRelay {
	t.Helper()
	sio, err := New(h, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/progress", webhook(b, secret))
	mux.Handle(sio.Path(), behindCaddy(sio))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		sio.Close()
		srv.Close()
	})
	return &testRelay{url: srv.URL, hub: h, broker: b, sio: sio}
}

// webhook publishes a JSON object or array of objects {sessionId, type?, eventId?, ...}, checking
// X-Relay-Signature when secret is set, and answers as the relay's webhook does.
func webhook(b broker.Broker, secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if secret != "" {
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(body)
			if !hmac.Equal([]byte(r.Header.Get("X-Relay-Signature")), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))) {
				http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
				return
			}
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			raws = []json.RawMessage{body}
		}
		in := make([]event.Input, 0, len(raws))
		for _, raw := range raws {
			var head struct{ SessionID, Type, EventID string }
			if err := json.Unmarshal(raw, &head); err != nil {
				http.Error(w, `{"error":"not JSON"}`, http.StatusBadRequest)
				return
			}
			if head.Type == "" {
				head.Type = "progress"
			}
			in = append(in, event.Input{Session: head.SessionID, Type: head.Type, ID: head.EventID, Data: raw})
		}
		res, err := b.Publish(r.Context(), in)
		switch {
		case errors.Is(err, broker.ErrFinished):
			http.Error(w, `{"error":"session already finished"}`, http.StatusConflict)
		case err != nil:
			http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			json.NewEncoder(w).Encode(map[string]int{"accepted": len(res.Events), "duplicates": res.Duplicates})
		}
	})
}

// publish sequences one event of typ for session directly on the broker.
func (tr *testRelay) publish(t *testing.T, session, typ string, data string) {
	t.Helper()
	if _, err := tr.broker.Publish(context.Background(), []event.Input{{Session: session, Type: typ, Data: json.RawMessage(data)}}); err != nil {
		t.Fatal(err)
	}
}

// subscribers is the hub's count of open Socket.IO subscriptions.
func (tr *testRelay) subscribers() int { return tr.hub.Stats().Subscribers["socketio"] }

// eventually waits for cond, failing with what after the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
