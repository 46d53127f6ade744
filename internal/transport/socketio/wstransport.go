package socketio

import (
	"fmt"
	"sync/atomic"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/progress-relay/progress-relay/internal/transport/wswire"
)

// wsTransport is the library's WebSocket transport (engine v3.0.6) with its writes taken over.
// The library writes each packet from a goroutine it starts per flush, through gorilla's message
// writer, one syscall per packet; the relay's events skip it entirely (delivery.writeDirect) and
// the engine's own packets (handshake, pings, acknowledgements, upgrade probes) are written here,
// synchronously, through the same wire, so that the two never interleave and stay in the order
// they were handed over. Reading, closing and the upgrade protocol stay the library's.
//
// The transport is always writable: the socket hands every packet over as it is queued, so
// nothing waits in the engine's buffer for a "ready" event once a socket is on this transport.
type wsTransport struct {
	transports.Websocket
	wire *wswire.Conn
	cfg  *atomic.Pointer[settings]
}

// wsBuilder makes wsTransports; it is registered in place of engine.WebSocket.
type wsBuilder struct {
	transports.WebSocketBuilder
	cfg *atomic.Pointer[settings]
}

// New implements transports.TransportCtor. A connection that did not come through
// Server.ServeGated (so has no wire) keeps the library's transport.
func (b *wsBuilder) New(ctx *types.HttpContext) transports.Transport {
	lib := b.WebSocketBuilder.New(ctx).(transports.Websocket)
	w, ok := ctx.Websocket.NetConn().(*wswire.Conn)
	if !ok {
		return lib
	}
	return &wsTransport{Websocket: lib, wire: w, cfg: b.cfg}
}

// Send implements transports.Transport: it writes packets as WebSocket frames, one per packet,
// in one flush, and reports them drained. A write error closes the transport.
func (t *wsTransport) Send(packets []*packet.Packet) {
	if err := t.write(packets); err != nil {
		t.OnError("websocket error", err)
	}
	// The socket pushed this flush's send callbacks before calling Send; drain runs them.
	t.Emit("drain")
}

func (t *wsTransport) write(packets []*packet.Packet) error {
	frames := make([]types.BufferInterface, 0, len(packets))
	for _, p := range packets {
		data, err := t.encode(p)
		if err != nil {
			return fmt.Errorf("encoding a %s packet: %w", p.Type, err)
		}
		frames = append(frames, data)
	}
	bw := t.wire.Begin(t.cfg.Load().WriteTimeout)
	var header [10]byte
	for _, data := range frames {
		opcode := byte(wswire.OpBinary)
		if _, text := data.(*types.StringBuffer); text {
			opcode = wswire.OpText
		}
		_, _ = bw.Write(wswire.AppendFrameHeader(header[:0], opcode, data.Len()))
		_, _ = bw.Write(data.Bytes())
	}
	return t.wire.End()
}

// encode is the packet's payload as the library would send it.
func (t *wsTransport) encode(p *packet.Packet) (types.BufferInterface, error) {
	if p.Options != nil && p.Options.WsPreEncodedFrame != nil && t.PerMessageDeflate() == nil {
		return p.Options.WsPreEncodedFrame, nil
	}
	return t.Parser().EncodePacket(p, t.SupportsBinary())
}
