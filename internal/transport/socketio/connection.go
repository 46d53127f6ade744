package socketio

import (
	"context"
	"fmt"
	"sync"

	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/transport"
)

// connection is one connected socket and the sessions it registered. The library runs a socket's
// event handlers one at a time, so registerSession and unregisterSession never race each other;
// they race only the socket's disconnect and its deliveries ending.
type connection struct {
	srv    *Server
	sock   *socket.Socket
	eio    engine.Socket      // the Engine.IO session under sock, which deliveries write to
	ctx    context.Context    // ends when the socket disconnects; bounds history reads
	cancel context.CancelFunc // ends ctx

	// writeMu makes each delivery's batch, and the drain callback on its last packet, enter the
	// engine's buffer together, so that the callback is reported with the flush that sends it.
	writeMu sync.Mutex

	mu         sync.Mutex // guards deliveries and closed; taken after the hub's locks (track)
	deliveries map[string]*delivery
	closed     bool
}

// accept takes a socket that connected to the default namespace.
func (s *Server) accept(sock *socket.Socket) {
	// The socket's later messages are dispatched after this handler returns, so they find the
	// handlers below in place.
	defer s.release(sock.Conn().Id())
	ctx, cancel := context.WithCancel(context.Background())
	c := &connection{srv: s, sock: sock, eio: sock.Conn(), ctx: ctx, cancel: cancel, deliveries: map[string]*delivery{}}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		sock.Disconnect(true)
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()

	_ = sock.On("registerSession", c.register)
	_ = sock.On("unregisterSession", c.unregister)
	_ = sock.On("disconnect", func(...any) { c.close() })
	if sock.Disconnected() {
		c.close() // it left before the disconnect handler was in place
	}
}

// handshakeToken is the token a client gave when it connected: io(url, {auth: {token}}) in
// socket.io-client 3+, or ?token= in the connection URL (2.x has no auth option).
func (c *connection) handshakeToken() string {
	hs := c.sock.Handshake()
	if hs == nil {
		return ""
	}
	if t, ok := hs.Auth["token"].(string); ok && t != "" {
		return t
	}
	return hs.Query.Query().Get("token")
}

// register handles registerSession(sessionId[, {after, token}][, ack]).
func (c *connection) register(args ...any) {
	args, ack := splitAck(args)
	reg, err := parseRegistration(args)
	if err != nil {
		answer(ack, refusal(err.Error()))
		return
	}
	st := c.srv.cfg.Load()
	if st.Authorize != nil {
		token := reg.token
		if token == "" {
			token = c.handshakeToken()
		}
		if err := st.Authorize(reg.session, token); err != nil {
			answer(ack, refusal(fmt.Sprintf("not authorized for session %s: %v", reg.session, err)))
			return
		}
	}
	d, existing, err := c.reserve(reg.session, st.MaxSessionsPerSocket)
	switch {
	case err != nil:
		answer(ack, refusal(err.Error()))
		return
	case d == nil:
		return // the socket is gone
	case existing:
		// Registering twice on one socket is harmless: the running subscription goes on, so
		// nothing is delivered twice.
		answer(ack, acceptance(d.sub.State().Last, false))
		return
	}

	sub, err := c.srv.hub.Subscribe(c.ctx, reg.session, hub.Options{After: reg.after, Transport: transport.SocketIO, Notify: d.notify})
	if err != nil {
		c.release(d)
		_, msg := transport.SubscribeStatus(err)
		c.srv.log.Debug("socket.io registerSession refused", zap.String("session", reg.session), zap.Error(err))
		answer(ack, refusal(msg))
		return
	}
	state := sub.State()
	// A client that already has the terminal event has nothing left to wait for.
	done := state.Finished && reg.after >= state.TerminalSeq
	if done || !c.attach(d, sub) {
		sub.Close()
		c.release(d)
		if !done {
			return
		}
	}
	// The acknowledgement goes out before the first event: arm starts the writes.
	answer(ack, acceptance(state.Last, done))
	if !done {
		d.arm()
	}
}

// unregisterSession(sessionId[, ack]) stops the delivery of one session to this socket.
func (c *connection) unregister(args ...any) {
	args, ack := splitAck(args)
	session, _ := firstString(args)
	if session == "" {
		answer(ack, refusal("unregisterSession wants the session ID as its first argument"))
		return
	}
	c.mu.Lock()
	d := c.deliveries[session]
	delete(c.deliveries, session)
	c.mu.Unlock()
	if d != nil {
		d.stop()
	}
	answer(ack, map[string]any{"ok": true})
}

// reserve claims the socket's slot for session. It returns the running delivery if the session is
// already registered, and nil if the socket is gone.
func (c *connection) reserve(session string, most int) (d *delivery, existing bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, false, nil
	case c.deliveries[session] != nil:
		return c.deliveries[session], true, nil
	case len(c.deliveries) >= most:
		return nil, false, fmt.Errorf("this socket already watches %d sessions, the most allowed", most)
	}
	d = newDelivery(c, session)
	c.deliveries[session] = d
	return d, false, nil
}

// attach gives d its subscription, unless the socket left or unregistered the session meanwhile.
func (c *connection) attach(d *delivery, sub *hub.Subscription) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.deliveries[d.session] != d {
		return false
	}
	d.sub = sub
	return true
}

// track counts a delivery goroutine about to start, unless the socket is closed: Server.Close
// waits for the running ones once every socket is closed, so none may be counted after that.
// A registration that raced the disconnect arms its delivery after close released it; that
// delivery has nothing left to write.
func (c *connection) track() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.srv.deliveries.Add(1)
	return true
}

// release frees d's slot if it still holds it.
func (c *connection) release(d *delivery) {
	c.mu.Lock()
	if c.deliveries[d.session] == d {
		delete(c.deliveries, d.session)
	}
	c.mu.Unlock()
}

// drop closes the socket's Engine.IO session without waiting for its buffer, so that a client
// that stopped taking events reconnects and resumes with after.
func (c *connection) drop(reason string) {
	c.srv.log.Info("socket.io socket dropped", zap.String("sid", c.eio.Id()), zap.String("reason", reason))
	c.eio.Close(true)
}

// close releases every subscription of the socket at once; it runs when the socket disconnects.
func (c *connection) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	deliveries := c.deliveries
	c.deliveries = nil
	c.mu.Unlock()
	c.cancel()
	for _, d := range deliveries {
		d.stop()
	}
	c.srv.forget(c)
}

// forget removes a closed connection from the count.
func (s *Server) forget(c *connection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.closed && len(s.conns) == 0 {
		close(s.idle)
	}
}
