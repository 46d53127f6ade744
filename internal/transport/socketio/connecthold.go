package socketio

import (
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/engine/v3"
)

// connectHoldMax bounds how long a new session's messages wait for its socket to be registered.
// Registration takes microseconds; the bound only keeps a reader from waiting on a socket whose
// namespace connect failed.
const connectHoldMax = 5 * time.Second

// connectHold works around a race in the socket.io library (servers/socket v3.0.6,
// namespace._doConnect): the answer to a client's CONNECT is written before the socket is
// recorded in its client, and a message decoded in between is taken for a protocol violation
// that closes the connection ("invalid state"). Clients emit registerSession the moment they see
// the answer, so under load some connections died at once.
//
// Each Engine.IO session gets a listener, registered ahead of the library's, that holds every
// message after the CONNECT request (Engine.IO 4) or every message (Engine.IO 3, where the server
// connects the socket by itself) until accept has run for the socket, which is after the library
// recorded it.
type connectHold struct {
	released  chan struct{}
	passFirst atomic.Bool // the next message is the CONNECT request and goes through
}

// holdUntilAccepted installs the hold on a new Engine.IO session.
func (s *Server) holdUntilAccepted(conn engine.Socket) {
	h := &connectHold{released: make(chan struct{})}
	h.passFirst.Store(conn.Protocol() == 4)
	s.holds.Store(conn.Id(), h)
	_ = conn.On("data", func(...any) { h.wait() })
	_ = conn.Once("close", func(...any) { s.release(conn.Id()) })
}

// wait runs on the reader of the session's messages, before the library sees each one.
func (h *connectHold) wait() {
	if h.passFirst.CompareAndSwap(true, false) || isClosed(h.released) {
		return
	}
	t := time.NewTimer(connectHoldMax)
	defer t.Stop()
	select {
	case <-h.released:
	case <-t.C:
	}
}

// release lets the messages of Engine.IO session sid through.
func (s *Server) release(sid string) {
	if v, ok := s.holds.LoadAndDelete(sid); ok {
		close(v.(*connectHold).released)
	}
}
