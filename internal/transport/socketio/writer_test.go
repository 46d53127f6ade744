package socketio

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
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
