// Package event defines the unit the relay moves around: one progress event of one import session,
// sequenced once by the broker and delivered byte-for-byte to every transport.
package event

import (
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"
)

// Event is one sequenced event of one session. It is immutable once published: transports share the
// same *Event across all subscribers and cache their encodings on it, so a frame is encoded once per
// event, not once per subscriber.
type Event struct {
	Session string
	Seq     uint64
	Type    string
	ID      string          // source event ID used for duplicate suppression; may be empty
	Data    json.RawMessage // the backend's JSON, exactly as received
	Time    time.Time       // when the broker sequenced it
	// Terminal is set by the broker from its terminal-type list, so that consumers need no config.
	Terminal bool

	memo [memoSlots]atomic.Pointer[any]
}

// Input is an event as it arrives from a source, before it is sequenced.
type Input struct {
	Session string
	Type    string
	ID      string
	Data    json.RawMessage
}

// Slot names a cached encoding of an event. Each transport owns the slots it declares.
type Slot int

// Slots for cached encodings; one per wire format.
const (
	SlotEnvelope Slot = iota
	SlotSSEData
	SlotSSEEnvelope
	SlotWSData
	SlotWSEnvelope
	SlotSocketIO
	memoSlots
)

// Memo returns the value cached in slot, building it on first use. Concurrent first calls may
// both build; one result wins and every caller after that sees it, which is fine for pure encoders.
func (e *Event) Memo(slot Slot, build func(*Event) any) any {
	p := &e.memo[slot]
	if v := p.Load(); v != nil {
		return *v
	}
	v := build(e)
	if p.CompareAndSwap(nil, &v) {
		return v
	}
	return *p.Load()
}

// Envelope is the JSON {"seq","type","session","data"} that envelope-mode clients receive.
// It is built once per event and shared.
func (e *Event) Envelope() []byte {
	return e.Memo(SlotEnvelope, buildEnvelope).([]byte)
}

func buildEnvelope(e *Event) any {
	b := make([]byte, 0, len(e.Data)+len(e.Session)+len(e.Type)+48)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"session":`...)
	b = appendJSONString(b, e.Session)
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Data...)
	}
	return append(b, '}')
}

// appendJSONString quotes s as a JSON string. Session IDs and types are validated to a safe
// alphabet elsewhere, but types come from payloads, so quote properly.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
