package main

import (
	"encoding/json"
	"strconv"
	"time"
)

// Event types, as the relay and the front end know them.
const (
	typeProgress = "progress"
	typeComplete = "complete"
	typeError    = "error"
)

// progressEvent is one event of an import. progress carries the counts and, after the first one,
// the row just processed; complete carries the summary; error says why the import stopped.
type progressEvent struct {
	Type      string `json:"type"`
	SessionID string `json:"sessionId"`
	// EventID is unique per event and the same on every retry, so that the relay drops repeats.
	EventID string `json:"eventId"`
	// SentAt is when the backend produced the event, in Unix milliseconds, for latency displays.
	SentAt    int64      `json:"sentAt"`
	Processed int        `json:"processed"`
	Total     int        `json:"total"`
	Created   int        `json:"created"`
	Failed    int        `json:"failed"`
	Row       *rowResult `json:"row,omitempty"`
	// DurationMS and Errors summarise a complete import.
	DurationMS *int64      `json:"durationMs,omitempty"`
	Errors     []rowResult `json:"errors,omitempty"`
	// Error is why an import stopped, on an error event.
	Error string `json:"error,omitempty"`
}

// terminal reports whether no event follows e in its session.
func (e *progressEvent) terminal() bool { return e.Type == typeComplete || e.Type == typeError }

// emitted is an event as it goes out: its number in the session (from 1) and its JSON.
type emitted struct {
	Number   int
	JSON     []byte
	Terminal bool
}

func encodeEvent(n int, e progressEvent, now time.Time) emitted {
	e.EventID = e.SessionID + ":" + strconv.Itoa(n)
	e.SentAt = now.UnixMilli()
	b, _ := json.Marshal(e) // plain data: always marshals
	return emitted{Number: n, JSON: b, Terminal: e.terminal()}
}
