package sse

import (
	"bytes"
	"fmt"
	"time"
)

// bom is the UTF-8 byte order mark, which a stream may start with once.
var bom = [3]byte{0xEF, 0xBB, 0xBF}

// keepBuffer is the largest buffer kept between events; a larger one, grown for one big event, is
// released so that a quiet connection does not pin it.
const keepBuffer = 64 << 10

// machine interprets an event stream as the HTML standard says ("9.2.6 Interpreting an event
// stream"), a slice at a time. Parser and Decoder share it. Its memory is bounded by max: a line and
// an event's data may each be at most max bytes; past that it fails with ErrTooLarge and stays failed.
type machine struct {
	max int

	bomMatched int  // leading bytes matched against the BOM; len(bom) once past the start
	afterCR    bool // the last line ended with CR, so an LF that comes next belongs to it
	line       []byte
	data       []byte // the data buffer: every data: value followed by LF
	eventType  []byte // the event type buffer
	ownID      string // the id: of the event being read, for Event.ID
	idBuffer   string // the last event ID buffer: set by id:, kept across events
	lastID     string // the last event ID string: idBuffer as of the latest dispatch
	retry      time.Duration
	retrySet   bool
	err        error
}

func (m *machine) init(maxEvent int) {
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEvent
	}
	m.max = maxEvent
}

// reset starts a new stream, keeping what outlives a connection in EventSource: the last event ID
// (sent as Last-Event-ID and seeding the new stream's buffer, as browsers do) and the reconnection time.
func (m *machine) reset() {
	m.bomMatched, m.afterCR, m.err = 0, false, nil
	m.line, m.data, m.eventType = m.line[:0], m.data[:0], m.eventType[:0]
	m.ownID, m.idBuffer = "", m.lastID
}

// step reads p until it completes an event or p runs out. It returns how much of p it consumed and,
// when ok, the event; the rest of p is for the next call.
func (m *machine) step(p []byte) (n int, ev Event, ok bool, err error) {
	if m.err != nil {
		return 0, Event{}, false, m.err
	}
	for n < len(p) {
		if m.bomMatched < len(bom) {
			if p[n] == bom[m.bomMatched] {
				m.bomMatched++
				n++
				continue
			}
			// Not a BOM after all: the bytes matched so far start the first line.
			m.line = append(m.line, bom[:m.bomMatched]...)
			m.bomMatched = len(bom)
		}
		if m.afterCR {
			m.afterCR = false
			if p[n] == '\n' {
				n++
				continue
			}
		}
		rest := p[n:]
		i := indexEOL(rest)
		if i < 0 {
			if err := m.extend(rest); err != nil {
				return n, Event{}, false, err
			}
			return len(p), Event{}, false, nil
		}
		line := rest[:i]
		if len(m.line) > 0 {
			if err := m.extend(line); err != nil {
				return n, Event{}, false, err
			}
			line = m.line
		} else if len(line) > m.max {
			return n, Event{}, false, m.fail("a line")
		}
		m.afterCR = rest[i] == '\r'
		n += i + 1
		ev, ok, err := m.process(line)
		m.line = trim(m.line)
		if err != nil || ok {
			return n, ev, ok, err
		}
	}
	return n, Event{}, false, nil
}

// extend adds part of a line that continues past the current slice.
func (m *machine) extend(b []byte) error {
	if len(m.line)+len(b) > m.max {
		return m.fail("a line")
	}
	m.line = append(grow(m.line, len(b), m.max), b...)
	return nil
}

func (m *machine) fail(what string) error {
	m.err = fmt.Errorf("%w: %s is longer than %d bytes", ErrTooLarge, what, m.max)
	m.line, m.data = nil, nil
	return m.err
}

// process interprets one complete line.
func (m *machine) process(line []byte) (Event, bool, error) {
	if len(line) == 0 {
		ev, ok := m.dispatch()
		return ev, ok, nil
	}
	if line[0] == ':' {
		return Event{}, false, nil // a comment
	}
	field, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "event":
		m.eventType = append(m.eventType[:0], value...)
	case "data":
		if len(m.data)+len(value) > m.max {
			return Event{}, false, m.fail("an event's data")
		}
		m.data = append(append(grow(m.data, len(value)+1, m.max+1), value...), '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			m.idBuffer = string(validUTF8(value))
			m.ownID = m.idBuffer
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			m.retry, m.retrySet = ms, true
		}
	}
	return Event{}, false, nil
}

// dispatch ends the event being read, at a blank line.
func (m *machine) dispatch() (Event, bool) {
	m.lastID = m.idBuffer
	ownID := m.ownID
	m.ownID = ""
	if len(m.data) == 0 {
		m.eventType = m.eventType[:0]
		return Event{}, false
	}
	data := m.data[:len(m.data)-1] // without the final LF
	ev := Event{
		Type:        string(validUTF8(m.eventType)),
		Data:        appendUTF8(make([]byte, 0, len(data)), data),
		ID:          ownID,
		LastEventID: m.lastID,
	}
	m.data, m.eventType = trim(m.data), m.eventType[:0]
	return ev, true
}

// parseDigits reads a retry: value in milliseconds: ASCII digits only, at least one. A value too
// large for a time.Duration is clamped.
func parseDigits(b []byte) (time.Duration, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const limit = uint64(maxRetry / time.Millisecond)
	var ms uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= limit {
			ms = ms*10 + uint64(c-'0')
		}
	}
	return time.Duration(min(ms, limit)) * time.Millisecond, true
}

// indexEOL finds the first CR or LF.
func indexEOL(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}

// grow makes room for n more bytes in b, doubling its capacity but never past limit. append alone
// grows large slices by a quarter at a time, allocating about five times the final size on the
// way to it; doubling bounds that to twice the limit.
func grow(b []byte, n, limit int) []byte {
	need := len(b) + n
	if need <= cap(b) {
		return b
	}
	nb := make([]byte, len(b), min(max(need, 2*cap(b), 512), max(limit, need)))
	copy(nb, b)
	return nb
}

// trim empties a buffer for reuse, or drops it when it grew large.
func trim(b []byte) []byte {
	if cap(b) > keepBuffer {
		return nil
	}
	return b[:0]
}
