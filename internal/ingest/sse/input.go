package sse

import (
	"context"
	"encoding/json"

	"github.com/tidwall/gjson"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// Publisher is where ingested events go. Every broker.Broker is one.
type Publisher interface {
	Publish(ctx context.Context, in []event.Input) (broker.Result, error)
}

// Defaults shared by the Puller and the Tap.
const (
	// DefaultTypePath is the gjson path of an event's type in its JSON data.
	DefaultTypePath = "type"
	// DefaultType is the type of an event that names none.
	DefaultType = "progress"
	// ErrorType is the type of the event that tells subscribers an upstream refused the session.
	ErrorType = "error"
	// sseDefaultType is what EventSource calls an event without an event: field, so an upstream
	// that writes it says nothing about the type.
	sseDefaultType = "message"
)

// DefaultTerminal are the types after which a session has ended, as the broker's defaults.
func DefaultTerminal() []string { return []string{"complete", "error"} }

// input turns a parsed event of session into the relay's input. Its type is the SSE event: field
// if there is one, else the string at typePath in the JSON data, else DefaultType; its ID is the
// event's own id:, so the broker drops an event an upstream sends again after a reconnection.
func input(session string, ev Event, typePath string) event.Input {
	data := json.RawMessage(ev.Data)
	if !json.Valid(data) {
		// Data is JSON everywhere in the relay (transports embed it unquoted in envelopes and
		// Socket.IO frames), so an upstream's plain-text event is carried as a JSON string of its text.
		data, _ = json.Marshal(string(ev.Data)) // a string always marshals
	}
	return event.Input{Session: session, Type: eventType(ev.Type, data, typePath), ID: ev.ID, Data: data}
}

func eventType(sseType string, data []byte, typePath string) string {
	if sseType != "" && sseType != sseDefaultType {
		return sseType
	}
	if r := gjson.GetBytes(data, typePath); r.Type == gjson.String && r.Str != "" {
		return r.Str
	}
	return DefaultType
}

func isTerminal(terminal []string, typ string) bool {
	for _, t := range terminal {
		if t == typ {
			return true
		}
	}
	return false
}
