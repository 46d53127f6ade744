package sse

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceParse is a deliberately naive reading of the standard, used as the fuzzer's oracle: it
// holds the whole stream, splits it into lines, and interprets them one by one.
func referenceParse(stream []byte) (evs []Event, lastID string) {
	stream = bytes.TrimPrefix(stream, bom[:])
	var lines [][]byte
	for {
		i := bytes.IndexAny(stream, "\r\n")
		if i < 0 {
			break // an unterminated last line is not a line
		}
		lines = append(lines, stream[:i])
		if stream[i] == '\r' && i+1 < len(stream) && stream[i+1] == '\n' {
			i++
		}
		stream = stream[i+1:]
	}
	var data, typ, idBuf, own string
	var hasData bool
	for _, l := range lines {
		line := string(l)
		switch {
		case line == "":
			lastID = idBuf
			if hasData {
				evs = append(evs, Event{Type: toValid(typ), Data: []byte(toValid(strings.TrimSuffix(data, "\n"))),
					ID: own, LastEventID: lastID})
			}
			data, typ, own, hasData = "", "", "", false
			continue
		case strings.HasPrefix(line, ":"):
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			typ = value
		case "data":
			data += value + "\n"
			hasData = true
		case "id":
			if !strings.Contains(value, "\x00") {
				idBuf, own = toValid(value), toValid(value)
			}
		}
	}
	return evs, lastID
}

func toValid(s string) string { return string(appendUTF8(nil, []byte(s))) }

func FuzzParser(f *testing.F) {
	for _, tc := range parserCases {
		f.Add([]byte(tc.stream), uint8(3))
	}
	f.Add([]byte("data: a\r"), uint8(8))
	f.Add([]byte("\xEF\xBB\xBF\xEF\xBBdata: x\r\n\r\n"), uint8(1))
	f.Add([]byte("id: \x00\ndata: \xF4\x90\x80\x80\n\n"), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		want, wantLast := referenceParse(stream)

		got, p, err := parseAll(chunked(stream, int(chunk)), 0)
		if err != io.EOF {
			t.Fatalf("Parser: %v", err)
		}
		if !sameEvents(got, want) || p.LastEventID() != wantLast {
			t.Fatalf("Parser disagrees with the reference on %q:\n got %s last %q\nwant %s last %q",
				stream, fmtEvents(got), p.LastEventID(), fmtEvents(want), wantLast)
		}
		got, d, err := feedAll(string(stream), int(chunk), 0)
		if err != nil {
			t.Fatalf("Decoder: %v", err)
		}
		if !sameEvents(got, want) || d.LastEventID() != wantLast {
			t.Fatalf("Decoder (chunks of %d) disagrees with the reference on %q:\n got %s\nwant %s",
				chunk, stream, fmtEvents(got), fmtEvents(want))
		}
		for _, e := range got {
			if !utf8.Valid(e.Data) || !utf8.ValidString(e.Type) || !utf8.ValidString(e.ID) {
				t.Fatalf("invalid UTF-8 in %s", fmtEvents([]Event{e}))
			}
		}

		// With a small limit, whatever comes out before the failure is a prefix of the full result.
		const small = 8
		got, _, err = feedAll(string(stream), int(chunk), small)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Decoder with limit %d: %v", small, err)
		}
		if len(got) > len(want) || !sameEvents(got, want[:len(got)]) {
			t.Fatalf("Decoder with limit %d is not a prefix:\n got %s\nwant %s", small, fmtEvents(got), fmtEvents(want))
		}
		for _, e := range got {
			if len(e.Data) > small*3 { // each byte may become a 3-byte U+FFFD
				t.Fatalf("event data of %d bytes passed a limit of %d", len(e.Data), small)
			}
		}
	})
}

func sameEvents(a, b []Event) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// chunked reads b in chunks of n bytes (all at once when n is 0).
func chunked(b []byte, n int) io.Reader {
	if n == 0 {
		return bytes.NewReader(b)
	}
	return &chunkReader{b: b, n: n}
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}
