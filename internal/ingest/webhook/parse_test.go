package webhook

import (
	"net/http"
	"strings"
	"testing"
)

func testParser() *parser {
	return &parser{sessionField: DefaultSessionField, typeField: DefaultTypeField, idField: "eventId", maxEvents: 4}
}

func TestParseKeepsEachObjectsBytes(t *testing.T) {
	elems := []string{
		`{"sessionId":"s","msg":"line\nbreak \"quoted\" \u00e9 é ✓","n":1.50e3}`,
		"{\n  \"sessionId\" : \"s\",\n  \"nested\" : { \"a\" : [ 1 , 2 ] }\n}",
	}
	bodies := map[string]string{
		"batch":  "\xef\xbb\xbf[" + elems[0] + " , " + elems[1] + "]",
		"single": "\r\n" + elems[1] + "\t",
	}
	for name, body := range bodies {
		in, rej := testParser().parse([]byte(body), fallbackSession{})
		if rej != nil {
			t.Fatalf("%s: %s", name, rej.msg)
		}
		want := elems
		if name == "single" {
			want = elems[1:]
		}
		if len(in) != len(want) {
			t.Fatalf("%s: %d events, want %d", name, len(in), len(want))
		}
		for i := range in {
			if string(in[i].Data) != want[i] {
				t.Errorf("%s event %d: Data %q, want %q", name, i, in[i].Data, want[i])
			}
		}
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		body, header, path string
		session, typ, id   string
	}{
		{body: `{"sessionId":"a","type":"complete","eventId":"e-1"}`, session: "a", typ: "complete", id: "e-1"},
		{body: `{"sessionId":42,"eventId":17}`, session: "42", typ: "progress", id: "17"},
		{body: `{"sessionId":"","type":null,"eventId":{"x":1}}`, header: "h", path: "p", session: "h", typ: "progress"},
		{body: `{"sessionId":null,"eventId":true}`, path: "p", session: "p", typ: "progress"},
		{body: `{"sessionId":"a\u003ab"}`, session: "a:b", typ: "progress"},
	}
	for _, tc := range tests {
		in, rej := testParser().parse([]byte(tc.body), fallbackSession{header: tc.header, path: tc.path})
		if rej != nil {
			t.Errorf("%s: %s", tc.body, rej.msg)
			continue
		}
		if got := in[0]; got.Session != tc.session || got.Type != tc.typ || got.ID != tc.id {
			t.Errorf("%s: session %q type %q id %q, want %q %q %q", tc.body, got.Session, got.Type, got.ID, tc.session, tc.typ, tc.id)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	tests := []struct {
		body   string
		status int
		want   string
	}{
		{"", http.StatusBadRequest, "empty body"},
		{" \r\n\t", http.StatusBadRequest, "empty body"},
		{"[]", http.StatusBadRequest, "empty batch"},
		{"null", http.StatusBadRequest, "body is a JSON null"},
		{`{"sessionId":"a","x":"` + "\xff" + `"}`, http.StatusBadRequest, "not valid UTF-8"},
		{`{"sessionId":"a","x":` + deep + `}`, http.StatusBadRequest, "nested deeper than 128 levels"},
		{strings.Repeat("[", 1<<20), http.StatusBadRequest, "nested deeper than 128 levels"},
		{"{\"sessionId\":\"a\"}\n[{\"sessionId\":\"a\"}]", http.StatusBadRequest, "neither JSON nor NDJSON: line 2: is a JSON array"},
		{"{\"sessionId\":\"a\"}\n\n{\"sessionId\":\"a/\"}", http.StatusBadRequest, "event at index 1 (line 3): session ID"},
		{"{\"sessionId\":\"a\"}\n{}", http.StatusUnprocessableEntity, "event at index 1 (line 2): no session ID"},
		{`{"sessionId":true}`, http.StatusBadRequest, `field "sessionId" must be a string, not a JSON boolean`},
		{`{"sessionId":"` + strings.Repeat("s", 129) + `"}`, http.StatusBadRequest, "longer than 128"},
		{`[{"sessionId":"a"},{"sessionId":"a"},{"sessionId":"a"},{"sessionId":"a"},{"sessionId":"a"}]`, http.StatusRequestEntityTooLarge, "at most 4"},
		{strings.Repeat("{\"sessionId\":\"a\"}\n", 5), http.StatusRequestEntityTooLarge, "at most 4"},
		{`{"sessionId":"a"} {"sessionId":"a"}`, http.StatusBadRequest, "not valid JSON"},
	}
	for _, tc := range tests {
		in, rej := testParser().parse([]byte(tc.body), fallbackSession{})
		if rej == nil || in != nil {
			t.Errorf("%.60q: accepted %d events, want %d", tc.body, len(in), tc.status)
			continue
		}
		if rej.status != tc.status || !strings.Contains(rej.msg, tc.want) {
			t.Errorf("%.60q: %d %q, want %d saying %q", tc.body, rej.status, rej.msg, tc.status, tc.want)
		}
	}
}

func TestParseAcceptsNestingUpToTheLimit(t *testing.T) {
	inner := strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1)
	if _, rej := testParser().parse([]byte(`{"sessionId":"a","x":`+inner+`}`), fallbackSession{}); rej != nil {
		t.Errorf("depth %d refused: %s", maxDepth, rej.msg)
	}
	// Brackets inside strings do not count.
	brackets := strings.Repeat(`[{\"`, 200)
	if _, rej := testParser().parse([]byte(`{"sessionId":"a","x":"`+brackets+`"}`), fallbackSession{}); rej != nil {
		t.Errorf("brackets in a string refused: %s", rej.msg)
	}
}
