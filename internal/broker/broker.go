// Package broker is where events are sequenced and shared. A Broker gives every event of a session
// a gap-free sequence number, keeps the session's recent history, remembers recent source IDs to
// drop duplicates, and tells the local hub about every event it sequenced (on any node).
//
// The memory broker serves one node; the redis broker lets a fleet share sessions.
package broker

import (
	"context"
	"errors"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
)

// Errors a Publish or History can return. Callers map them to HTTP statuses.
var (
	// ErrFinished: an event arrived for a session that already ended (409).
	ErrFinished = errors.New("session already finished")
	// ErrTooManySessions: the node is at max_sessions (503).
	ErrTooManySessions = errors.New("too many sessions")
	// ErrUnavailable: the broker cannot be reached; nothing was written (503).
	ErrUnavailable = errors.New("broker unavailable")
	// ErrClosed: the broker was closed.
	ErrClosed = errors.New("broker closed")
)

// FinishedError names the session that had already ended, so a webhook answer can say which.
type FinishedError struct{ Session string }

func (e *FinishedError) Error() string { return "session " + e.Session + " already finished" }

// Unwrap makes errors.Is(err, ErrFinished) work.
func (e *FinishedError) Unwrap() error { return ErrFinished }

// State is what a broker knows of one session.
type State struct {
	Last        uint64 // highest seq sequenced; 0 when the session has no events
	Finished    bool   // a terminal event was sequenced
	TerminalSeq uint64 // its seq, when Finished
}

// Result reports what a Publish did.
type Result struct {
	Events     []*event.Event // newly sequenced events, in input order
	Duplicates int            // inputs dropped because their source ID was seen recently
}

// Sink receives what a broker sequenced. Deliver is called in seq order per session, but a broker
// may skip events (a lost pub/sub message) or repeat them; the hub fills gaps from History and
// drops repeats. Resync says that events may have been missed for any session (a reconnect).
type Sink interface {
	Deliver(ev *event.Event)
	Resync()
}

// Broker sequences, stores and shares events.
type Broker interface {
	// Name is "memory" or "redis", as reported by the health endpoint.
	Name() string
	// Start begins delivering to sink. It is called once, before any Publish.
	Start(sink Sink) error
	// Publish sequences a batch atomically: either every input is sequenced (or recognised as a
	// duplicate), or none is and an error says why.
	Publish(ctx context.Context, in []event.Input) (Result, error)
	// History returns the stored events of session with Seq > after, oldest first, and its state.
	History(ctx context.Context, session string, after uint64) ([]*event.Event, State, error)
	// Watch and Unwatch tell the broker which sessions have subscribers on this node, so that
	// a broker can limit what it fetches and keep watched sessions from expiring.
	Watch(session string)
	Unwatch(session string)
	// Health returns nil when the broker can publish.
	Health(ctx context.Context) error
	// Sessions is the number of sessions the broker holds for this node.
	Sessions() int
	// Close stops delivery and releases connections.
	Close() error
}

// Options are the settings shared by all brokers. The zero value is not usable; use Defaults.
type Options struct {
	History     int           // events kept per session
	DedupWindow int           // recent source IDs remembered per session
	SessionTTL  time.Duration // how long a finished session is kept
	IdleTTL     time.Duration // how long a session with no events and no watchers is kept
	Terminal    []string      // event types that finish a session
	MaxSessions int           // sessions per node; 0 means no limit
	Now         func() time.Time
}

// Defaults returns the contract's defaults.
func Defaults() Options {
	return Options{
		History:     100,
		DedupWindow: 1024,
		SessionTTL:  10 * time.Minute,
		IdleTTL:     time.Hour,
		Terminal:    []string{"complete", "error"},
		MaxSessions: 100000,
		Now:         time.Now,
	}
}

// IsTerminal reports whether typ finishes a session under o.
func (o *Options) IsTerminal(typ string) bool {
	for _, t := range o.Terminal {
		if t == typ {
			return true
		}
	}
	return false
}
