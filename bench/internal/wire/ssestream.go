package wire

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// Detach moves an HTTP connection whose response header was read to the event loop, for a
// streamed body. The HTTPConn must not be used afterwards.
func (h *HTTPConn) Detach() (*Stream, error) {
	pending, _ := h.br.Peek(h.br.Buffered())
	return NewStream(h.conn, pending, 4096)
}

// LineParser parses a streamed response body (chunked or not) into lines without their line
// ending; onLine gets each one, including the empty lines that end SSE events.
func LineParser(chunked bool, onLine func(line []byte, now time.Time)) Parser {
	var (
		state int // chunked: 0 size line, 1 chunk data, 2 CRLF after the data
		left  int
		line  []byte // a line split across chunks or reads
	)
	// lines splits body bytes into lines; an unfinished line waits in line for its end, which
	// may come after chunk framing or in a later read.
	lines := func(b []byte, now time.Time) {
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				line = append(line, b...)
				return
			}
			seg := b[:i]
			if len(line) > 0 {
				line = append(line, seg...)
				seg = line
			}
			onLine(bytes.TrimSuffix(seg, []byte{'\r'}), now)
			line = line[:0]
			b = b[i+1:]
		}
	}
	if !chunked {
		return func(p []byte, now time.Time) (int, error) {
			lines(p, now)
			return len(p), nil
		}
	}
	return func(p []byte, now time.Time) (int, error) {
		used := 0
		for used < len(p) {
			rest := p[used:]
			switch state {
			case 0:
				i := bytes.IndexByte(rest, '\n')
				if i < 0 {
					return used, nil
				}
				size := bytes.TrimRight(rest[:i], "\r")
				if j := bytes.IndexByte(size, ';'); j >= 0 {
					size = size[:j]
				}
				n, err := strconv.ParseInt(string(size), 16, 64)
				if err != nil {
					return used, errors.New("chunked body: bad chunk size")
				}
				if n == 0 {
					return used, io.EOF
				}
				left, state = int(n), 1
				used += i + 1
			case 1:
				k := min(left, len(rest))
				lines(rest[:k], now)
				left -= k
				used += k
				if left == 0 {
					state = 2
				}
			case 2:
				if len(rest) < 2 {
					return used, nil
				}
				used += 2
				state = 0
			}
		}
		return used, nil
	}
}
