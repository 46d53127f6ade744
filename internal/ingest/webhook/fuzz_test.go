package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/progress-relay/progress-relay/internal/event"
)

// FuzzParseBody checks the body parser's invariants on any input: it never panics; it accepts
// all of a body or nothing; every accepted event is a valid JSON object (by encoding/json, not
// only by gjson) found byte-for-byte, in order, in the body, with a valid session ID.
func FuzzParseBody(f *testing.F) {
	for _, seed := range []string{
		`{"sessionId":"imp-1","type":"progress","done":5,"total":10}`,
		`[{"sessionId":"a","eventId":"1"},{"sessionId":"b","type":"complete","eventId":2}]`,
		"{\"sessionId\":\"a\"}\r\n\n{\"type\":\"error\",\"eventId\":\"x\"}\n",
		"\xef\xbb\xbf {\n \"sessionId\": \"pretty\"\n}\n",
		`{"sessionId":"a","x":[[[[{"y":"\"]}"}]]]]}`,
		`[{"sessionId":"a"},42]`,
		`{"sessionId":true}`,
		`{"sessionId":"a/b"}`,
		`[]`,
		`"x"`,
		"{\"sessionId\":\"a\"}\n[1]",
		`{"sessionId":"\u00ff\ud800"}`,
		"{\"sessionId\":\"a\",\"s\":\"\xff\"}",
		`[{"sessionId":"a"},{"sessionId":"a"},{"sessionId":"a"},{"sessionId":"a"},{"sessionId":"a"}]`,
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, withFallback bool) {
		fb := fallbackSession{}
		if withFallback {
			fb.header = "fallback"
		}
		p := testParser()
		in, rej := p.parse(body, fb)
		if rej != nil {
			if in != nil {
				t.Fatalf("refused (%d %s) but returned %d events", rej.status, rej.msg, len(in))
			}
			switch rej.status {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			default:
				t.Fatalf("parser answered %d", rej.status)
			}
			if rej.msg == "" {
				t.Fatal("refusal without a message")
			}
			return
		}
		if len(in) == 0 || len(in) > p.maxEvents {
			t.Fatalf("accepted %d events, want 1..%d", len(in), p.maxEvents)
		}
		rest := body
		for i, ev := range in {
			checkAcceptedEvent(t, i, ev)
			at := bytes.Index(rest, ev.Data)
			if at < 0 {
				t.Fatalf("event %d: Data %q is not in the body after the previous event", i, ev.Data)
			}
			rest = rest[at+len(ev.Data):]
		}
		// The standard library must agree that the body is JSON, or else NDJSON line by line.
		trimmed := bytes.TrimPrefix(body, utf8BOM)
		if !json.Valid(trimmed) {
			for _, line := range bytes.Split(trimmed, []byte{'\n'}) {
				if line = bytes.Trim(line, jsonSpace); len(line) > 0 && !json.Valid(line) {
					t.Fatalf("accepted a body that is neither JSON nor NDJSON: line %q", line)
				}
			}
		}
		// What the standard library sees as a batch must give one event per element.
		var elems []json.RawMessage
		if json.Unmarshal(body, &elems) == nil && len(elems) != len(in) {
			t.Fatalf("batch of %d elements gave %d events", len(elems), len(in))
		}
	})
}

func checkAcceptedEvent(t *testing.T, i int, ev event.Input) {
	t.Helper()
	if !json.Valid(ev.Data) || !utf8.Valid(ev.Data) {
		t.Fatalf("event %d: Data %q is not valid JSON", i, ev.Data)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(ev.Data, &obj); err != nil {
		t.Fatalf("event %d: Data %q is not a JSON object: %v", i, ev.Data, err)
	}
	if err := event.ValidSession(ev.Session); err != nil {
		t.Fatalf("event %d: accepted with %v", i, err)
	}
	if ev.Type == "" {
		t.Fatalf("event %d: empty type", i)
	}
}
