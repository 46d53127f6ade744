package socketio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEngineWriterLetsGoWhenTheRequestEnds(t *testing.T) {
	rec := httptest.NewRecorder()
	ew := &engineWriter{w: rec}
	ew.Header().Set("X-Test", "1")
	if _, err := ew.Write([]byte("ok")); err != nil || rec.Body.String() != "ok" || rec.Header().Get("X-Test") != "1" {
		t.Fatalf("while the request runs: %v, %q, %v", err, rec.Body, rec.Header())
	}
	ew.release()
	ew.WriteHeader(http.StatusTeapot)
	ew.Header().Set("X-Late", "1")
	if _, err := ew.Write([]byte("late")); !errors.Is(err, errRequestOver) {
		t.Fatalf("write after the request: %v, want errRequestOver", err)
	}
	if _, _, err := ew.Hijack(); !errors.Is(err, errRequestOver) {
		t.Fatalf("hijack after the request: %v, want errRequestOver", err)
	}
	if rec.Body.String() != "ok" || rec.Code != http.StatusOK || rec.Header().Get("X-Late") != "" {
		t.Fatalf("the finished response changed: %d %q %v", rec.Code, rec.Body, rec.Header())
	}
}

type ctxKey struct{}

func TestEngineRequestKeepsNothingOfTheRequestsContextOrBody(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "caddy's"))
	defer cancel()
	get := httptest.NewRequestWithContext(ctx, http.MethodGet, "/socket.io/?EIO=4&transport=websocket", strings.NewReader("x"))
	er, end := engineRequest(get)
	if er.Context().Value(ctxKey{}) != nil || er.Body != http.NoBody || er.URL.RawQuery != get.URL.RawQuery {
		t.Fatalf("GET copy: context value %v, body %v, query %q", er.Context().Value(ctxKey{}), er.Body, er.URL.RawQuery)
	}
	cancel()
	select {
	case <-er.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the copy's context outlived the request's")
	}
	end()

	post := httptest.NewRequest(http.MethodPost, "/socket.io/?EIO=4&transport=polling&sid=x", strings.NewReader("40"))
	er, end = engineRequest(post)
	if b, _ := io.ReadAll(er.Body); string(b) != "40" {
		t.Fatalf("POST copy body %q, want the packets", b)
	}
	end()
	if er.Context().Err() == nil {
		t.Fatal("the copy's context still runs after the request was handled")
	}
}
