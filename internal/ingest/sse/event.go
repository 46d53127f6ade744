package sse

import (
	"errors"
	"time"
)

// DefaultMaxEvent bounds a line and the data of one event unless a caller sets another limit.
const DefaultMaxEvent = 1 << 20

// ErrTooLarge reports a line or an event's data longer than the limit. The rest of the line is
// unknown, so the stream cannot be resynchronised: the connection must be treated as broken.
var ErrTooLarge = errors.New("sse: line or event data larger than the limit")

// Event is one dispatched server-sent event.
type Event struct {
	// Type is the event: field, or "" when the event had none (EventSource would report "message").
	Type string
	// Data is the event's data: lines joined with "\n", as valid UTF-8. It belongs to the caller.
	Data []byte
	// ID is this event's own id: field, "" when it had none. Unlike LastEventID it does not carry
	// over from earlier events, so it can identify the event for duplicate suppression.
	ID string
	// LastEventID is the stream's last event ID when the event was dispatched, as EventSource
	// reports it in MessageEvent.lastEventId: the latest id: field, carried over from earlier events.
	LastEventID string
}

// maxRetry is the longest reconnection time a retry: field can set; it keeps a huge value from
// overflowing time.Duration.
const maxRetry = time.Duration(1<<63-1) / time.Millisecond * time.Millisecond
