package sse

import (
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// parseAll reads every event of stream with a Parser, returning them and the error that ended it.
func parseAll(r io.Reader, maxEvent int) ([]Event, *Parser, error) {
	p := NewParser(r, maxEvent)
	var evs []Event
	for {
		ev, err := p.Next()
		if err != nil {
			return evs, p, err
		}
		evs = append(evs, ev)
	}
}

// feedAll pushes stream through a Decoder in chunks of size (the whole stream when size <= 0).
func feedAll(stream string, size, maxEvent int) ([]Event, *Decoder, error) {
	var evs []Event
	d := NewDecoder(maxEvent, func(ev Event) { evs = append(evs, ev) })
	b := []byte(stream)
	if size <= 0 {
		size = max(len(b), 1)
	}
	for len(b) > 0 {
		n := min(size, len(b))
		if err := d.Feed(b[:n]); err != nil {
			return evs, d, err
		}
		b = b[n:]
	}
	return evs, d, nil
}

func ev(typ, data, id, last string) Event {
	return Event{Type: typ, Data: []byte(data), ID: id, LastEventID: last}
}

// parserCases cover every rule of "Interpreting an event stream". They also seed the fuzzer.
var parserCases = []struct {
	name   string
	stream string
	want   []Event
	lastID string
}{
	{"one data line", "data: hello\n\n", []Event{ev("", "hello", "", "")}, ""},
	{"data lines joined with LF", "data: a\ndata: b\ndata: c\n\n", []Event{ev("", "a\nb\nc", "", "")}, ""},
	{"no space after colon", "data:hello\n\n", []Event{ev("", "hello", "", "")}, ""},
	{"only one space stripped", "data:  two\n\n", []Event{ev("", " two", "", "")}, ""},
	{"tab is not stripped", "data:\tx\n\n", []Event{ev("", "\tx", "", "")}, ""},
	{"colon inside value", "data: a:b: c\n\n", []Event{ev("", "a:b: c", "", "")}, ""},
	{"field without colon is an empty value", "data\n\n", []Event{ev("", "", "", "")}, ""},
	{"empty data line dispatches empty data", "data:\n\n", []Event{ev("", "", "", "")}, ""},
	{"two empty data lines give one LF", "data:\ndata:\n\n", []Event{ev("", "\n", "", "")}, ""},
	{"trailing LF of data removed once", "data: a\ndata:\n\n", []Event{ev("", "a\n", "", "")}, ""},
	{"comments ignored", ": hello\ndata: x\n:\n: another\n\n", []Event{ev("", "x", "", "")}, ""},
	{"comment-only block dispatches nothing", ": keepalive\n\n", nil, ""},
	{"unknown fields ignored", "foo: bar\ndata: x\nDATA: y\n\n", []Event{ev("", "x", "", "")}, ""},
	{"field names are case-sensitive", "Data: x\n\n", nil, ""},
	{"leading space makes another field", " data: x\n\n", nil, ""},
	{"event type", "event: update\ndata: x\n\n", []Event{ev("update", "x", "", "")}, ""},
	{"last event field wins", "event: a\nevent: b\ndata: x\n\n", []Event{ev("b", "x", "", "")}, ""},
	{"event type reset after dispatch", "event: a\ndata: 1\n\ndata: 2\n\n",
		[]Event{ev("a", "1", "", ""), ev("", "2", "", "")}, ""},
	{"event without data is not dispatched and its type does not leak", "event: a\n\ndata: x\n\n",
		[]Event{ev("", "x", "", "")}, ""},
	{"id", "id: 7\ndata: x\n\n", []Event{ev("", "x", "7", "7")}, "7"},
	{"id persists as last event ID but not as own ID", "id: 7\ndata: x\n\ndata: y\n\n",
		[]Event{ev("", "x", "7", "7"), ev("", "y", "", "7")}, "7"},
	{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
		[]Event{ev("", "a", "1", "1"), ev("", "b", "", "1")}, "1"},
	{"empty id resets last event ID", "id: 1\ndata: a\n\nid\ndata: b\n\n",
		[]Event{ev("", "a", "1", "1"), ev("", "b", "", "")}, ""},
	{"id-only block updates last event ID", "id: 1\ndata: a\n\nid: 5\n\n",
		[]Event{ev("", "a", "1", "1")}, "5"},
	{"id of an unfinished event is not the last event ID", "id: 1\ndata: a\n\nid: 2\ndata: b\n",
		[]Event{ev("", "a", "1", "1")}, "1"},
	{"id value is kept verbatim after one space", "id:  a b \ndata: x\n\n", []Event{ev("", "x", " a b ", " a b ")}, " a b "},
	{"LF", "data: a\n\ndata: b\n\n", []Event{ev("", "a", "", ""), ev("", "b", "", "")}, ""},
	{"CR", "data: a\r\rdata: b\r\r", []Event{ev("", "a", "", ""), ev("", "b", "", "")}, ""},
	{"CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", []Event{ev("", "a", "", ""), ev("", "b", "", "")}, ""},
	{"mixed line endings", "data: a\rdata: b\r\ndata: c\n\r\n", []Event{ev("", "a\nb\nc", "", "")}, ""},
	{"LF CR is two line endings", "data: a\n\rdata: b\n\n", []Event{ev("", "a", "", ""), ev("", "b", "", "")}, ""},
	{"CR CR LF is a blank line", "data: a\r\r\ndata: b\n\n", []Event{ev("", "a", "", ""), ev("", "b", "", "")}, ""},
	{"leading BOM stripped", "\xEF\xBB\xBFdata: x\n\n", []Event{ev("", "x", "", "")}, ""},
	{"only one BOM stripped", "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n", []Event{ev("", "y", "", "")}, ""},
	{"partial BOM is content", "\xEF\xBBdata: x\n\ndata: y\n\n", []Event{ev("", "y", "", "")}, ""},
	{"BOM later is content", "data: \xEF\xBB\xBFx\n\n", []Event{ev("", "\uFEFFx", "", "")}, ""},
	{"unfinished event at EOF discarded", "data: a\n\ndata: b\n", []Event{ev("", "a", "", "")}, ""},
	{"unfinished line at EOF discarded", "data: a\n\ndata: b", []Event{ev("", "a", "", "")}, ""},
	{"CR at EOF ends the event", "data: a\n\r", []Event{ev("", "a", "", "")}, ""},
	{"empty stream", "", nil, ""},
	{"invalid UTF-8 replaced as WHATWG decodes",
		"data: a\xffb\xE2\x82c\xED\xA0\x80\xF0\x9F\x98\n\n",
		[]Event{ev("", "a\uFFFDb\uFFFDc\uFFFD\uFFFD\uFFFD\uFFFD", "", "")}, ""},
	{"valid UTF-8 untouched", "data: é€😀\uFFFD\n\n", []Event{ev("", "é€😀\uFFFD", "", "")}, ""},
	{"JSON data", "data: {\"type\":\"progress\",\"n\":1}\n\n", []Event{ev("", `{"type":"progress","n":1}`, "", "")}, ""},
}

func TestParserRules(t *testing.T) {
	for _, tc := range parserCases {
		t.Run(tc.name, func(t *testing.T) {
			readers := map[string]io.Reader{
				"whole":    strings.NewReader(tc.stream),
				"one byte": iotest.OneByteReader(strings.NewReader(tc.stream)),
				"half":     iotest.HalfReader(strings.NewReader(tc.stream)),
			}
			for how, r := range readers {
				got, p, err := parseAll(r, 0)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("Parser (%s): ended with %v, want io.EOF", how, err)
				}
				checkEvents(t, "Parser ("+how+")", got, tc.want)
				if p.LastEventID() != tc.lastID {
					t.Errorf("Parser (%s): LastEventID = %q, want %q", how, p.LastEventID(), tc.lastID)
				}
			}
			for _, size := range []int{0, 1, 2, 3, 5} {
				got, d, err := feedAll(tc.stream, size, 0)
				if err != nil {
					t.Fatalf("Decoder (chunks of %d): %v", size, err)
				}
				checkEvents(t, "Decoder", got, tc.want)
				if d.LastEventID() != tc.lastID {
					t.Errorf("Decoder (chunks of %d): LastEventID = %q, want %q", size, d.LastEventID(), tc.lastID)
				}
			}
		})
	}
}

func checkEvents(t *testing.T, who string, got, want []Event) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %s\nwant %s", who, fmtEvents(got), fmtEvents(want))
	}
}

func fmtEvents(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("{type=" + quote(e.Type) + " data=" + quote(string(e.Data)) + " id=" + quote(e.ID) +
			" last=" + quote(e.LastEventID) + "} ")
	}
	return b.String()
}

func quote(s string) string { return "\"" + strings.ReplaceAll(s, "\n", `\n`) + "\"" }

func TestCRAtEndOfChunkThenLFIsOneLineEnding(t *testing.T) {
	var got []Event
	d := NewDecoder(0, func(ev Event) { got = append(got, ev) })
	for _, chunk := range []string{"data: a\r", "\ndata: b\r", "\n\r", "\n"} {
		if err := d.Feed([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	// Were the LFs separate line endings, the blank line after "a" would end an event "a".
	checkEvents(t, "Decoder", got, []Event{ev("", "a\nb", "", "")})
}

func TestRetry(t *testing.T) {
	cases := []struct {
		stream string
		want   time.Duration
		set    bool
	}{
		{"retry: 1500\n", 1500 * time.Millisecond, true},
		{"retry:0\n", 0, true},
		{"retry: 10\nretry: 20\n", 20 * time.Millisecond, true},
		{"retry: 10\nretry: 2x\n", 10 * time.Millisecond, true},
		{"retry: 1.5\n", 0, false},
		{"retry: -1\n", 0, false},
		{"retry:\n", 0, false},
		{"retry: \n", 0, false},
		{"retry:  5\n", 0, false},
		{"retry: 99999999999999999999999999\n", maxRetry, true},
	}
	for _, tc := range cases {
		_, p, _ := parseAll(strings.NewReader(tc.stream), 0)
		got, set := p.Retry()
		if got != tc.want || set != tc.set {
			t.Errorf("%q: Retry() = %v, %v; want %v, %v", tc.stream, got, set, tc.want, tc.set)
		}
	}
}

func TestResetKeepsLastEventIDAndRetry(t *testing.T) {
	p := NewParser(strings.NewReader("retry: 250\nid: 3\ndata: a\n\nid: 4\ndata: unfinished\n"), 0)
	if _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Next(); err != io.EOF {
		t.Fatalf("second Next: %v, want io.EOF", err)
	}
	p.Reset(strings.NewReader("\xEF\xBB\xBFdata: b\n\n"))
	got, err := p.Next()
	if err != nil {
		t.Fatal(err)
	}
	// The id: 4 of the unfinished event was never dispatched, so the new stream starts from 3.
	checkEvents(t, "after Reset", []Event{got}, []Event{ev("", "b", "", "3")})
	if d, ok := p.Retry(); d != 250*time.Millisecond || !ok {
		t.Errorf("Retry after Reset = %v, %v", d, ok)
	}
}

func TestSizeLimit(t *testing.T) {
	const limit = 16
	cases := []struct {
		name   string
		stream string
		want   []Event // events before the failure
		fails  bool
	}{
		{"line at the limit", "data: " + strings.Repeat("x", limit-6) + "\n\n",
			[]Event{ev("", strings.Repeat("x", limit-6), "", "")}, false},
		{"data at the limit", "data: 1234567\ndata: 12345678\n\n", []Event{ev("", "1234567\n12345678", "", "")}, false},
		{"line over the limit", "data: a\n\ndata: " + strings.Repeat("x", limit) + "\n\n", []Event{ev("", "a", "", "")}, true},
		{"comment over the limit", ": " + strings.Repeat("x", limit) + "\n", nil, true},
		{"data over the limit across lines", "data: 12345\ndata: 12345\ndata: 12345\ndata: 12345\n\n", nil, true},
		{"unterminated line over the limit", strings.Repeat("x", limit+1), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := parseAll(iotest.OneByteReader(strings.NewReader(tc.stream)), limit)
			checkEvents(t, "Parser", got, tc.want)
			if tc.fails != errors.Is(err, ErrTooLarge) {
				t.Errorf("Parser error = %v, want ErrTooLarge: %v", err, tc.fails)
			}
			for _, size := range []int{0, 1, 7} {
				got, d, err := feedAll(tc.stream, size, limit)
				checkEvents(t, "Decoder", got, tc.want)
				if tc.fails != errors.Is(err, ErrTooLarge) {
					t.Errorf("Decoder (chunks of %d) error = %v, want ErrTooLarge: %v", size, err, tc.fails)
				}
				if tc.fails {
					if err := d.Feed([]byte("data: x\n\n")); !errors.Is(err, ErrTooLarge) {
						t.Errorf("Decoder after failure: %v, want it to stay failed", err)
					}
				}
			}
		})
	}
}

// endless yields n bytes of 'a' without holding them.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), e.n)
	for i := range p[:k] {
		p[i] = 'a'
	}
	e.n -= k
	return k, nil
}

func TestHugeLineDoesNotAllocateIt(t *testing.T) {
	const line = 10 << 20
	huge := make([]byte, line) // allocated before measuring: the Decoder must not copy it
	copy(huge, "data: ")
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"Parser", func() error {
			_, err := NewParser(io.MultiReader(strings.NewReader("data: "), &endless{n: line}), 0).Next()
			return err
		}},
		{"Decoder", func() error { return NewDecoder(0, func(Event) {}).Feed(huge) }},
	} {
		var before, after runtimeMem
		before.read()
		err := tc.run()
		after.read()
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%s: %v, want ErrTooLarge", tc.name, err)
		}
		allocated := after.total - before.total
		t.Logf("%s: a %d MiB line allocated %d KiB before failing", tc.name, line>>20, allocated>>10)
		if allocated > 3*DefaultMaxEvent {
			t.Errorf("%s: allocated %d bytes for a %d-byte line; want at most %d", tc.name, allocated, line, 3*DefaultMaxEvent)
		}
	}
}

// runtimeMem snapshots the bytes allocated so far by the whole program.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}
