package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newTestServer serves the import API on 127.0.0.1 with progress going to out (nil: an SSE feed).
func newTestServer(t *testing.T, cfg settings, out reporter) (*server, *httptest.Server) {
	t.Helper()
	if cfg.MaxRows == 0 {
		cfg.MaxRows = 1000
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Keep == 0 {
		cfg.Keep = time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{
		cfg: cfg, dir: newDirectory(1000), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ctx: ctx, now: time.Now, waiting: map[string]*job{},
	}
	if out == nil {
		s.feed = newSSEFeed(time.Minute)
		out = s.feed
	}
	s.out = out
	ts := httptest.NewServer(s.routes())
	t.Cleanup(func() {
		cancel()
		s.running.Wait()
		ts.Close()
	})
	return s, ts
}

// post sends body to the import API and decodes the answer.
func post(t *testing.T, url, contentType, body string, wantStatus int) map[string]any {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: answer is not JSON: %v", url, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("POST %s: status %d %v, want %d", url, resp.StatusCode, out, wantStatus)
	}
	return out
}

// sseFrame is one event read from a stream.
type sseEvent struct {
	ID   int
	Data progressEvent
}

// readStream reads SSE events until the stream ends or the deadline passes.
func readStream(t *testing.T, body io.Reader, deadline time.Duration) []sseEvent {
	t.Helper()
	type result struct {
		events []sseEvent
		err    error
	}
	done := make(chan result, 1)
	go func() {
		var out []sseEvent
		var cur sseEvent
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.ID != 0 {
					out = append(out, cur)
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				n, err := strconv.Atoi(strings.TrimPrefix(line, "id: "))
				if err != nil {
					done <- result{out, err}
					return
				}
				cur.ID = n
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.Data); err != nil {
					done <- result{out, err}
					return
				}
			}
		}
		done <- result{out, sc.Err()}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("reading the stream: %v", r.err)
		}
		return r.events
	case <-time.After(deadline):
		t.Fatalf("the stream did not end within %s", deadline)
		return nil
	}
}

// runImport creates a deferred import, subscribes to its SSE stream, starts it and returns the
// answer to the creation and every event of the stream.
func runImport(t *testing.T, ts *httptest.Server, query, contentType, body string) (map[string]any, []sseEvent) {
	t.Helper()
	created := post(t, ts.URL+"/api/import?start=deferred"+query, contentType, body, http.StatusAccepted)
	session := created["sessionId"].(string)
	resp, err := http.Get(ts.URL + "/api/import/progress/" + session)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("progress stream: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	post(t, ts.URL+created["start"].(string), "application/json", "{}", http.StatusAccepted)
	return created, readStream(t, resp.Body, 10*time.Second)
}

// checkSequence checks that events are numbered from 1 without gaps, that every event but the
// last is progress with counts that add up, and returns the last.
func checkSequence(t *testing.T, events []sseEvent, session string) progressEvent {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("no events")
	}
	for i, ev := range events {
		d := ev.Data
		if ev.ID != i+1 || d.EventID != session+":"+strconv.Itoa(i+1) {
			t.Fatalf("event %d: id %d, eventId %q", i, ev.ID, d.EventID)
		}
		if d.SessionID != session || d.SentAt == 0 {
			t.Fatalf("event %d: sessionId %q sentAt %d", i, d.SessionID, d.SentAt)
		}
		if d.Created+d.Failed != d.Processed {
			t.Fatalf("event %d: created %d + failed %d != processed %d", i, d.Created, d.Failed, d.Processed)
		}
		if i < len(events)-1 && d.Type != typeProgress {
			t.Fatalf("event %d is %q before the end", i, d.Type)
		}
		if i > 0 && d.Type == typeProgress && d.Processed != events[i-1].Data.Processed+1 {
			t.Fatalf("event %d: processed %d after %d", i, d.Processed, events[i-1].Data.Processed)
		}
	}
	return events[len(events)-1].Data
}
