package sse

import (
	"testing"
	"time"
)

func TestInputTypeAndData(t *testing.T) {
	cases := []struct {
		name     string
		ev       Event
		typePath string
		wantType string
		wantData string
	}{
		{"SSE event field wins", Event{Type: "stage", Data: []byte(`{"type":"progress"}`)},
			"type", "stage", `{"type":"progress"}`},
		{"message is the SSE default, so the JSON decides", Event{Type: "message", Data: []byte(`{"type":"complete"}`)},
			"type", "complete", `{"type":"complete"}`},
		{"JSON type path", Event{Data: []byte(`{"type":"error","msg":"x"}`)}, "type", "error", `{"type":"error","msg":"x"}`},
		{"nested type path", Event{Data: []byte(`{"meta":{"kind":"complete"}}`)},
			"meta.kind", "complete", `{"meta":{"kind":"complete"}}`},
		{"no type anywhere", Event{Data: []byte(`{"processed":5,"total":10}`)}, "type", DefaultType, `{"processed":5,"total":10}`},
		{"non-string type ignored", Event{Data: []byte(`{"type":3}`)}, "type", DefaultType, `{"type":3}`},
		{"JSON kept byte for byte", Event{Data: []byte("{ \"a\" : [1, 2],\n \"type\":\"progress\" }")},
			"type", "progress", "{ \"a\" : [1, 2],\n \"type\":\"progress\" }"},
		{"plain text becomes a JSON string", Event{Data: []byte("50% <done>\nnext")},
			"type", DefaultType, `"50% \u003cdone\u003e\nnext"`},
		{"empty data becomes an empty JSON string", Event{Data: []byte("")}, "type", DefaultType, `""`},
		{"JSON scalar kept", Event{Data: []byte("42")}, "type", DefaultType, `42`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := input("s", tc.ev, tc.typePath)
			if in.Type != tc.wantType || string(in.Data) != tc.wantData || in.Session != "s" {
				t.Errorf("input = {%s %s %s}, want type %s data %s", in.Session, in.Type, in.Data, tc.wantType, tc.wantData)
			}
		})
	}
	if in := input("s", Event{ID: "7", LastEventID: "7", Data: []byte("1")}, "type"); in.ID != "7" {
		t.Errorf("ID = %q, want the event's own id", in.ID)
	}
	if in := input("s", Event{LastEventID: "7", Data: []byte("1")}, "type"); in.ID != "" {
		t.Errorf("ID = %q: an inherited last event ID must not become the event's ID (it would be a duplicate)", in.ID)
	}
}

func TestBackoff(t *testing.T) {
	c := clock{jitter: func(n int64) int64 { return n - 1 }} // the most jitter there can be
	const s, ms = time.Second, time.Millisecond
	cases := []struct {
		base, ceiling time.Duration
		failures      int
		want          time.Duration
	}{
		{s, 30 * s, 0, s + s/4 - 1},            // after progress: the base
		{s, 30 * s, 1, s + s/4 - 1},            // first failure: the base
		{s, 30 * s, 2, 2*s + 2*s/4 - 1},        // then doubling
		{s, 30 * s, 4, 8*s + 8*s/4 - 1},        //
		{s, 30 * s, 9, 30*s + 30*s/4 - 1},      // capped
		{s, 30 * s, 1000, 30*s + 30*s/4 - 1},   // without overflow
		{0, 30 * s, 0, 0},                      // retry: 0 after progress is honoured
		{0, 30 * s, 1, 100*ms + 25*ms - 1},     // but failures wait at least minFailureWait
		{0, 30 * s, 3, 400*ms + 100*ms - 1},    //
		{40 * s, 30 * s, 0, 30*s + 30*s/4 - 1}, // an upstream's retry: over the cap is capped
	}
	for _, tc := range cases {
		if got := c.backoff(tc.base, tc.ceiling, tc.failures); got != tc.want {
			t.Errorf("backoff(%v, %v, %d) = %v, want %v", tc.base, tc.ceiling, tc.failures, got, tc.want)
		}
	}
	noJitter := clock{jitter: func(int64) int64 { return 0 }}
	if got := noJitter.backoff(s, 30*s, 2); got != 2*s {
		t.Errorf("jitter must only add: got %v, want 2s", got)
	}
}
