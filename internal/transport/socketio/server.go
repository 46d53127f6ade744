// Package socketio delivers hub events to Socket.IO clients (socket.io-client 4.x, and 2.x when
// Engine.IO 3 is allowed), so that front ends written for a Node.js Socket.IO server work
// unchanged: they connect to <prefix>, emit registerSession(sessionId[, {after, token}][, ack])
// and receive emit(<name for the event type>, data, {seq, type, session}).
//
// It knows the hub and nothing of Caddy: the Caddy module mounts Server as an http.Handler and
// keeps it across reloads, calling SetConfig with each new configuration.
package socketio

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/reply"
)

// closeGrace is how long Close lets sockets close in order (a polling client needs its next poll
// to receive the close packet) before it drops the rest.
const closeGrace = 500 * time.Millisecond

// Server is the Socket.IO endpoint: an http.Handler for <prefix> and the bundled client script.
type Server struct {
	hub     *hub.Hub
	log     *zap.Logger
	io      *socket.Server
	scripts map[string]script
	cfg     atomic.Pointer[settings]

	mu          sync.Mutex    // guards generations, conns, closed and idle
	generations []*generation // oldest first; the last one takes new handshakes
	conns       map[*connection]struct{}
	closed      bool
	idle        chan struct{} // closed when the last connection leaves after Close began

	holds      sync.Map       // Engine.IO sid -> *connectHold, until the socket is accepted
	deliveries sync.WaitGroup // running delivery goroutines
}

// New returns a Server that delivers h's events with cfg.
func New(h *hub.Hub, cfg Config, logger *zap.Logger) (*Server, error) {
	st, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	opts := socket.DefaultServerOptions()
	opts.SetServeClient(false) // the bundled client is served from memory by serveScript
	s := &Server{
		hub:     h,
		log:     logger,
		io:      socket.NewServer(nil, opts),
		scripts: loadScripts(),
		conns:   map[*connection]struct{}{},
	}
	s.cfg.Store(st)
	s.addGeneration(st)
	_ = s.io.On("connection", func(args ...any) {
		if sock, ok := args[0].(*socket.Socket); ok {
			s.accept(sock)
		}
	})
	return s, nil
}

// addGeneration starts an engine for st's heartbeat and makes it take new handshakes.
func (s *Server) addGeneration(st *settings) {
	g := newGeneration(st, &s.cfg)
	// Before Bind, so that these listeners run ahead of the library's.
	_ = g.eng.On("connection", func(args ...any) {
		if conn, ok := args[0].(engine.Socket); ok {
			s.holdUntilAccepted(conn)
			handOverOnUpgrade(conn)
		}
	})
	s.io.Bind(g.eng)
	s.mu.Lock()
	s.generations = append(s.generations, g)
	s.mu.Unlock()
}

// SetConfig applies a new configuration to the running server. Connected sockets stay connected
// and keep their registrations; event names, origins, EIO3, limits and Authorize apply at once,
// heartbeat changes to sockets that connect afterwards. An invalid cfg changes nothing.
func (s *Server) SetConfig(cfg Config) error {
	st, err := cfg.compile()
	if err != nil {
		return err
	}
	s.mu.Lock()
	current := s.generations[len(s.generations)-1]
	s.mu.Unlock()
	if !current.fits(st) {
		s.addGeneration(st)
	}
	s.cfg.Store(st)
	return nil
}

// Path is the URL prefix the server answers under, e.g. "/socket.io/".
func (s *Server) Path() string { return s.cfg.Load().Path }

// Connections is the number of connected Socket.IO sockets.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ServeHTTP serves the Engine.IO endpoint at the prefix and the client script at
// <prefix>socket.io.js, <prefix>socket.io.min.js and their source maps. Other paths under the
// prefix are 404; the caller routes only requests under the prefix here.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Load()
	s.ServeGated(w, r, Gate{AllowEIO3: st.AllowEIO3, Origin: st.originAllowed})
}

// Gate is what one site admits to the shared server: Engine.IO 3 handshakes and browser origins.
// Several Caddy sites may share one relay instance, and with it one Server and its sockets; each
// keeps its own gate.
type Gate struct {
	AllowEIO3 bool
	Origin    func(*http.Request) bool
}

// ServeGated serves r like ServeHTTP, with g's admission rules instead of the Config's.
func (s *Server) ServeGated(w http.ResponseWriter, r *http.Request, g Gate) {
	st := s.cfg.Load()
	rest, under := strings.CutPrefix(r.URL.Path, st.Path)
	switch {
	case !under && r.URL.Path+"/" != st.Path:
		reply.Error(w, http.StatusNotFound, "not a Socket.IO path")
		return
	case rest != "":
		s.serveScript(w, r, rest)
		return
	case !g.Origin(r):
		reply.Error(w, http.StatusForbidden, "origin not allowed: add it to socketio cors_origins")
		return
	}
	q := r.URL.Query()
	if !g.AllowEIO3 && isEIO3Handshake(q) {
		refuseEIO3(w)
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		reply.RetryAfter(w, http.StatusServiceUnavailable, 2, "relay shutting down")
		return
	}
	ew := &engineWriter{w: w}
	defer ew.release()
	er, end := engineRequest(r)
	defer end()
	s.engineFor(q.Get("sid")).ServeHTTP(ew, er)
}

// Close ends every socket: first in order (pending events flushed, a close packet to polling
// clients), then, after closeGrace, by dropping what is left. Clients reconnect on their own,
// to this relay when it is back or to another node, and resume with registerSession's after.
// Requests that arrive afterwards are answered 503. Calling Close again does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.idle = make(chan struct{})
	if len(s.conns) == 0 {
		close(s.idle)
	}
	generations := append([]*generation(nil), s.generations...)
	s.mu.Unlock()

	for _, g := range generations {
		g.eng.Clients().Range(func(_ string, c engine.Socket) bool {
			c.Close(false)
			return true
		})
	}
	select {
	case <-s.idle:
	case <-time.After(closeGrace):
	}
	for _, g := range generations {
		g.eng.Close()
	}
	// Once every socket is gone no subscription is left to start a delivery, so waiting for the
	// running ones cannot race a new one.
	select {
	case <-s.idle:
		s.deliveries.Wait()
	case <-time.After(closeGrace):
		s.log.Warn("socket.io sockets still closing after Close", zap.Int("sockets", s.Connections()))
	}
	return nil
}
