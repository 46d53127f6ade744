// Package websocket delivers events over raw WebSocket connections, in the two forms front ends
// use: the seed protocol (connect anywhere, then send {"sessionId": id}) and by URL (the session
// is in the path). gorilla/websocket does the handshake and writes the control frames; events are
// written as whole frames built once per event, in batches (wswire), so that a subscriber with
// several queued events gets them as separate frames in one syscall; the relay reads client frames
// itself, woken by a shared poller, so that an idle connection has no goroutine.
package websocket

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/reply"
	"github.com/progress-relay/progress-relay/internal/transport/wswire"
	"go.uber.org/zap"
)

// Config holds the transport's settings. A reload replaces it; open connections keep the
// settings they started with except where a field says otherwise.
type Config struct {
	WriteTimeout    time.Duration // a client that cannot take a write this long is disconnected
	PingInterval    time.Duration // keepalive ping period
	PongTimeout     time.Duration // a connection silent for PingInterval+PongTimeout is dropped
	RegisterTimeout time.Duration // seed protocol: the first message must arrive within this
	MaxMessage      int64         // largest message a client may send, in bytes
	MaxSessions     int           // subscriptions one seed-protocol connection may hold
	// Observe, when set, is told of each event written and its publish-to-write latency.
	Observe func(transport string, ev *event.Event, latency time.Duration)
	Log     *zap.Logger
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		WriteTimeout:    10 * time.Second,
		PingInterval:    30 * time.Second,
		PongTimeout:     30 * time.Second,
		RegisterTimeout: 10 * time.Second,
		MaxMessage:      4096,
		MaxSessions:     16,
	}
}

// Handler upgrades requests and owns the open connections. It outlives config reloads, so that
// connections survive them, and closes them all on Shutdown.
type Handler struct {
	hub *hub.Hub
	cfg atomic.Pointer[Config]

	mu    sync.Mutex // guards conns
	conns map[*conn]struct{}
	wg    sync.WaitGroup // one per open connection

	polled atomic.Int64 // connections read through the poller rather than a goroutine of their own
}

// New returns a handler delivering from h.
func New(h *hub.Hub, cfg Config) *Handler {
	wh := &Handler{hub: h, conns: make(map[*conn]struct{})}
	wh.SetConfig(cfg)
	return wh
}

// SetConfig replaces the settings for new connections.
func (h *Handler) SetConfig(cfg Config) {
	d := DefaultConfig()
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = d.WriteTimeout
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = d.PingInterval
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = d.PongTimeout
	}
	if cfg.RegisterTimeout <= 0 {
		cfg.RegisterTimeout = d.RegisterTimeout
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = d.MaxMessage
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = d.MaxSessions
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	h.cfg.Store(&cfg)
}

// Connections is the number of open WebSocket connections.
func (h *Handler) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Polled is the number of connections so far whose input the shared poller watched.
func (h *Handler) Polled() int64 { return h.polled.Load() }

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool { return websocket.IsWebSocketUpgrade(r) }

// Access is how a seed-protocol connection's registrations are authorised: each site of the
// relay passes its own.
type Access struct {
	// Authorize checks a subscriber token for a session; nil means no tokens are required.
	Authorize func(session, token string) error
	// HandshakeToken is a token the caller found on the upgrade request (cookie, ?token=), for
	// registration messages that carry none.
	HandshakeToken string
}

// ServeSeed upgrades r and waits for {"sessionId": id, "after"?, "envelope"?, "token"?}
// messages; each one subscribes the connection to a session, if access allows.
func (h *Handler) ServeSeed(w http.ResponseWriter, r *http.Request, access Access) {
	c := h.upgrade(w, r)
	if c == nil {
		return
	}
	c.access = access
	c.startReading(true)
}

// ServeSession upgrades r and subscribes it to session from after; frames are envelopes.
// The caller has already validated the session and any token.
func (h *Handler) ServeSession(w http.ResponseWriter, r *http.Request, session string, after uint64) {
	c := h.upgrade(w, r)
	if c == nil {
		return
	}
	// Reading starts even when subscribe failed: it takes the client's answer to the close.
	c.subscribe(session, after, true)
	c.startReading(false)
}

func (h *Handler) upgrade(w http.ResponseWriter, r *http.Request) *conn {
	cfg := h.cfg.Load()
	up := websocket.Upgrader{
		// The relay reads client frames itself (frames.go); gorilla's reader, which it never
		// uses, gets the smallest buffer gorilla allows.
		ReadBufferSize:  1,
		WriteBufferPool: &gorillaWritePool,
		// The caller applies the relay's origin policy before the upgrade, with CORS in mind.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			reply.Error(w, status, "websocket: "+reason.Error())
		},
	}
	uw := &upgradeWriter{ResponseWriter: w}
	ws, err := up.Upgrade(uw, r, nil)
	if err != nil {
		// The upgrader has answered the client.
		cfg.Log.Debug("websocket upgrade refused", zap.Error(err))
		return nil
	}
	c := &conn{h: h, cfg: cfg, ws: ws, raw: uw.conn}
	cfg.Log.Debug("websocket connected", zap.String("remote", r.RemoteAddr), zap.String("path", r.URL.Path))
	c.startWriter = c.writeLoop
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	return c
}

// Shutdown sends every connection a 1001 close frame and waits up to wait for them to go.
func (h *Handler) Shutdown(wait time.Duration) {
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway, "relay shutting down")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		for _, c := range conns {
			c.raw.Close()
		}
	}
}

func (h *Handler) forget(c *conn) {
	h.mu.Lock()
	if _, ok := h.conns[c]; ok {
		delete(h.conns, c)
		h.wg.Done()
	}
	h.mu.Unlock()
}

// upgradeWriter hands gorilla a Hijacker (Caddy's writers have no Hijack method; they expose the
// underlying writer through Unwrap, which http.NewResponseController follows) and wraps the
// hijacked connection so that events can be written to it in batches, as whole frames.
type upgradeWriter struct {
	http.ResponseWriter
	conn *wswire.Conn
}

func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	u.conn = &wswire.Conn{Conn: nc}
	return u.conn, brw, nil
}

func (u *upgradeWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// gorillaWritePool lends gorilla a write buffer only while it writes the handshake; events go out
// as whole frames through wswire and control frames need none, so idle connections hold no buffer.
var gorillaWritePool sync.Pool
