package sse

import "time"

// Decoder interprets an event stream pushed to it in slices of any size, for a caller that sees
// the bytes pass rather than reading them (the Tee). It is not safe for concurrent use.
type Decoder struct {
	m    machine
	emit func(Event)
}

// NewDecoder returns a decoder that calls emit with each event as it completes. maxEvent bounds a line
// and an event's data in bytes (DefaultMaxEvent when it is <= 0).
func NewDecoder(maxEvent int, emit func(Event)) *Decoder {
	d := &Decoder{emit: emit}
	d.m.init(maxEvent)
	return d
}

// Feed interprets p, calling emit for every event it completes. An event is only complete at its
// blank line, so the end of the stream (no more Feed calls) discards an unfinished one. A line or
// event over the limit returns an error wrapping ErrTooLarge, and so does every later call.
func (d *Decoder) Feed(p []byte) error {
	for len(p) > 0 {
		n, ev, ok, err := d.m.step(p)
		if err != nil {
			return err
		}
		p = p[n:]
		if ok {
			d.emit(ev)
		}
	}
	return nil
}

// LastEventID is the stream's last event ID string (see Parser.LastEventID).
func (d *Decoder) LastEventID() string { return d.m.lastID }

// Retry is the reconnection time the stream set with retry:, if it set one.
func (d *Decoder) Retry() (time.Duration, bool) { return d.m.retry, d.m.retrySet }
