package sse

import (
	"io"
	"time"
)

// readSize is how much a Parser reads at a time.
const readSize = 32 << 10

// Parser reads events from a stream. It is not safe for concurrent use.
type Parser struct {
	m       machine
	r       io.Reader
	buf     []byte
	start   int // buf[start:end] is read but not yet interpreted
	end     int
	readErr error
}

// NewParser returns a parser of the event stream r. maxEvent bounds a line and an event's data in bytes
// (DefaultMaxEvent when it is <= 0); past it, Next fails with ErrTooLarge.
func NewParser(r io.Reader, maxEvent int) *Parser {
	p := &Parser{r: r, buf: make([]byte, readSize)}
	p.m.init(maxEvent)
	return p
}

// Next returns the next event. At the end of the stream it returns io.EOF (or the reader's error),
// discarding an event that was not ended by a blank line, as the standard requires. A line or
// event over the limit returns an error wrapping ErrTooLarge, and so does every later call.
func (p *Parser) Next() (Event, error) {
	for {
		if p.start < p.end {
			n, ev, ok, err := p.m.step(p.buf[p.start:p.end])
			p.start += n
			if err != nil {
				return Event{}, err
			}
			if ok {
				return ev, nil
			}
		}
		if p.readErr != nil {
			return Event{}, p.readErr
		}
		p.start = 0
		p.end, p.readErr = p.r.Read(p.buf)
	}
}

// Reset makes p read a new stream from r, as after a reconnection. Like EventSource it keeps the
// last event ID and the reconnection time; everything else starts afresh.
func (p *Parser) Reset(r io.Reader) {
	p.m.reset()
	p.r, p.start, p.end, p.readErr = r, 0, 0, nil
}

// LastEventID is the stream's last event ID string: the id: in force at the latest blank line,
// including one that ended no event. A reconnection sends it as Last-Event-ID.
func (p *Parser) LastEventID() string { return p.m.lastID }

// Retry is the reconnection time the stream set with retry:, if it set one.
func (p *Parser) Retry() (time.Duration, bool) { return p.m.retry, p.m.retrySet }
