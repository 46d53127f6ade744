package wire

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// feed offers data to parse in pieces of the given size, keeping what the parser leaves
// unconsumed, as the event loop does.
func feed(t *testing.T, parse Parser, data []byte, piece int) error {
	t.Helper()
	var buf []byte
	for len(data) > 0 {
		k := min(piece, len(data))
		buf = append(buf, data[:k]...)
		data = data[k:]
		used, err := parse(buf, time.Now())
		buf = buf[used:]
		if err != nil {
			return err
		}
	}
	if len(buf) > 0 {
		return fmt.Errorf("%d bytes left unparsed", len(buf))
	}
	return nil
}

func TestLineParserReassemblesChunkedLinesFromAnySplit(t *testing.T) {
	body := "id: 1\ndata: {\"n\":1}\n\n"
	// The body in two chunks that cut a line in half, then the final chunk.
	wire := fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 9, body[:9], len(body)-9, body[9:])
	for piece := 1; piece <= len(wire); piece++ {
		var lines []string
		parse := LineParser(true, func(line []byte, _ time.Time) { lines = append(lines, string(line)) })
		err := feed(t, parse, []byte(wire), piece)
		if err != io.EOF {
			t.Fatalf("piece %d: err %v, want io.EOF at the last chunk", piece, err)
		}
		if got := strings.Join(lines, "|"); got != `id: 1|data: {"n":1}|` {
			t.Fatalf("piece %d: lines %q", piece, got)
		}
	}
}

func TestWSParserReadsFramesSplitAnywhere(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300) // needs the 16-bit length form
	var frames []byte
	frames = append(frames, 0x81, 5)
	frames = append(frames, "hello"...)
	frames = append(frames, 0x81, 126, 1, 44)
	frames = append(frames, long...)
	frames = append(frames, 0x8a, 0) // an unsolicited pong is ignored
	for piece := 1; piece <= len(frames); piece += 7 {
		var got []string
		parse := WSParser(nil, func(p []byte, _ time.Time) error {
			got = append(got, string(p))
			return nil
		})
		if err := feed(t, parse, frames, piece); err != nil {
			t.Fatalf("piece %d: %v", piece, err)
		}
		if len(got) != 2 || got[0] != "hello" || got[1] != string(long) {
			t.Fatalf("piece %d: got %d messages", piece, len(got))
		}
	}
}

func TestWSParserEndsOnCloseFrame(t *testing.T) {
	s := &Stream{fd: -1} // the close reply goes nowhere: writing to -1 fails, which the parser ignores
	frame := []byte{0x88, 4, 0x03, 0xe8, 'o', 'k'}
	parse := WSParser(s, func([]byte, time.Time) error { return nil })
	_, err := parse(frame, time.Now())
	ce, ok := err.(*ErrClosed)
	if !ok || ce.Code != 1000 || ce.Reason != "ok" {
		t.Fatalf("err %v, want a 1000 close with reason ok", err)
	}
}
