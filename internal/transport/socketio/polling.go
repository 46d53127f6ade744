package socketio

import (
	"sync"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// pollingTransport is the library's long-polling transport with a race fixed (engine v3.0.6).
// The socket's flush and the upgrade's "fast upgrade" check each test Writable() and then call
// Send(), without a common lock; during a polling→websocket upgrade both can answer the same
// pending poll. The second then finds no request, fails with "polling write error" and closes
// the session, losing what it carried (a registerSession acknowledgement, events).
//
// Here Send claims the pending poll under a lock. A sender that lost the race drops its packets
// if they are only noops (the poll is being answered anyway) and otherwise keeps them for the
// next poll or, if the session upgrades first, for the new transport (handOverOnUpgrade).
// Writable is false while packets wait, so that nothing newer overtakes them.
type pollingTransport struct {
	transports.Polling

	mu      sync.Mutex       // guards waiting, and makes test-and-send on Polling atomic
	waiting []*packet.Packet // lost the race for a poll; go out before anything else
}

// pollingBuilder makes pollingTransports; it is registered in place of engine.Polling.
type pollingBuilder struct{ transports.PollingBuilder }

// New implements transports.TransportCtor.
func (b *pollingBuilder) New(ctx *types.HttpContext) transports.Transport {
	t := &pollingTransport{Polling: b.PollingBuilder.New(ctx).(transports.Polling)}
	// Registered before the socket's own listener, so waiting packets take a new poll first.
	_ = t.On("ready", func(...any) { t.sendWaiting() })
	return t
}

// Writable implements transports.Transport.
func (t *pollingTransport) Writable() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.waiting) == 0 && t.Polling.Writable()
}

// Send implements transports.Transport.
func (t *pollingTransport) Send(packets []*packet.Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.waiting) == 0 && t.Polling.Writable() {
		t.Polling.Send(packets) // marks the transport unwritable before it returns
		return
	}
	for _, p := range packets {
		if p.Type != packet.NOOP {
			t.waiting = append(t.waiting, packets...)
			return
		}
	}
}

// sendWaiting answers a new poll with the packets that lost an earlier race.
func (t *pollingTransport) sendWaiting() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.waiting) > 0 && t.Polling.Writable() {
		t.Polling.Send(t.waiting)
		t.waiting = nil
	}
}

// takeWaiting removes and returns the packets still waiting for a poll.
func (t *pollingTransport) takeWaiting() []*packet.Packet {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.waiting
	t.waiting = nil
	return w
}

// handOverOnUpgrade makes sure packets that waited on a session's polling transport are not lost
// when the session upgrades: the socket emits "upgrade" after switching and before flushing its
// buffer, so they go out on the new transport ahead of everything newer.
func handOverOnUpgrade(conn engine.Socket) {
	polling, ok := conn.Transport().(*pollingTransport)
	if !ok {
		return // opened on websocket: nothing to upgrade from
	}
	_ = conn.Once("upgrade", func(args ...any) {
		next, ok := args[0].(transports.Transport)
		if !ok {
			return
		}
		if waiting := polling.takeWaiting(); len(waiting) > 0 {
			next.Send(waiting)
		}
	})
}
