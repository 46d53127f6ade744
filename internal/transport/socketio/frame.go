package socketio

import (
	"encoding/json"
	"strconv"

	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/transport/wswire"
)

// frame is an event encoded as a Socket.IO EVENT packet, 2["name",data,meta], cached on the event
// so that it is encoded once however many sockets receive it.
type frame struct {
	st     *settings // the settings it was built with
	name   string
	packet string // for the engine's transports, which add the Engine.IO message type
	ws     []byte // the whole WebSocket text frame: header, Engine.IO message type 4, packet
}

func newFrame(st *settings, name string, ev *event.Event) frame {
	packet := st.prefix(name) + frameArgs(ev)
	n := 1 + len(packet)
	ws := wswire.AppendFrameHeader(make([]byte, 0, 10+n), wswire.OpText, n)
	ws = append(append(ws, '4'), packet...)
	return frame{st: st, name: name, packet: packet, ws: ws}
}

// frame returns ev encoded for st's event names. The cached frame is used when it was built with
// st, or for the same name, which is always the case unless a reload renamed the type while the
// event was in flight.
func (st *settings) frame(ev *event.Event) frame {
	f := ev.Memo(event.SlotSocketIO, func(e *event.Event) any { return newFrame(st, st.eventName(e.Type), e) }).(frame)
	if f.st == st {
		return f
	}
	if name := st.eventName(ev.Type); f.name != name {
		return newFrame(st, name, ev)
	}
	return f
}

// packet returns ev as the Socket.IO packet text, for the engine's transports.
func (st *settings) packet(ev *event.Event) string { return st.frame(ev).packet }

// wsFrame returns ev as a WebSocket text frame carrying its Engine.IO message, for writing
// straight to the connection.
func (st *settings) wsFrame(ev *event.Event) []byte { return st.frame(ev).ws }

// frameArgs encodes the arguments after the event name: data, {seq, type, session}, and the
// closing bracket. Data is the backend's JSON as a value; data that is not JSON (an SSE upstream
// may send plain text) goes as a string, because one malformed packet would make the client drop
// its whole connection.
func frameArgs(ev *event.Event) string {
	b := make([]byte, 0, len(ev.Data)+len(ev.Session)+len(ev.Type)+48)
	switch {
	case len(ev.Data) == 0:
		b = append(b, "null"...)
	case json.Valid(ev.Data):
		b = append(b, ev.Data...)
	default:
		b = appendJSONString(b, string(ev.Data))
	}
	b = append(b, `,{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, ev.Type)
	b = append(b, `,"session":`...)
	b = appendJSONString(b, ev.Session)
	b = append(b, "}]"...)
	return string(b)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
