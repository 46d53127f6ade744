package sse

import (
	"bytes"
	"strconv"

	"github.com/progress-relay/progress-relay/internal/event"
)

// Frame returns the SSE block for ev, encoded once per event and shared by every stream.
// slot is event.SlotSSEData (the backend's JSON) or event.SlotSSEEnvelope.
func Frame(ev *event.Event, slot event.Slot) []byte {
	if slot == event.SlotSSEEnvelope {
		return ev.Memo(slot, buildEnvelopeFrame).([]byte)
	}
	return ev.Memo(slot, buildDataFrame).([]byte)
}

func buildDataFrame(ev *event.Event) any { return encode(ev.Seq, ev.Data) }

func buildEnvelopeFrame(ev *event.Event) any { return encode(ev.Seq, ev.Envelope()) }

// encode writes "id: <seq>" and one "data:" line per line of payload. JSON may be pretty-printed
// by the backend; splitting at line ends keeps the stream valid, and EventSource joins the lines
// with "\n" again.
func encode(seq uint64, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+32)
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '\n')
	for {
		i := bytes.IndexAny(payload, "\r\n")
		if i < 0 {
			break
		}
		b = append(b, "data: "...)
		b = append(b, payload[:i]...)
		b = append(b, '\n')
		if payload[i] == '\r' && i+1 < len(payload) && payload[i+1] == '\n' {
			i++
		}
		payload = payload[i+1:]
	}
	b = append(b, "data: "...)
	b = append(b, payload...)
	return append(b, '\n', '\n')
}
