package socketio

import (
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/engine/v3/config"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// maxMessageBytes bounds what a client may send in one Engine.IO message or polling POST; clients
// only send registerSession and unregisterSession, which are tiny.
const maxMessageBytes = 64 << 10

// generation is one Engine.IO server. The heartbeat settings are fixed per engine and sent to each
// client in its handshake, so a reload that changes them starts a new generation for new sockets
// while the sockets of older ones keep theirs until they leave.
type generation struct {
	eng          engine.Server
	pingInterval time.Duration
	pingTimeout  time.Duration
}

// newGeneration starts an engine for st's heartbeat; its WebSocket transport writes with the
// settings current in cfg.
func newGeneration(st *settings, cfg *atomic.Pointer[settings]) *generation {
	o := config.DefaultServerOptions()
	o.SetPingInterval(st.PingInterval)
	o.SetPingTimeout(st.PingTimeout)
	// A websocket that reads nothing for this long is dead; the heartbeat normally notices first.
	o.SetIdleTimeout(2 * (st.PingInterval + st.PingTimeout))
	o.SetMaxHttpBufferSize(maxMessageBytes)
	o.SetTransports(types.NewSet[engine.TransportCtor](&pollingBuilder{}, &wsBuilder{cfg: cfg}))
	// The relay's gates (origin, EIO3) run before the engine on every request, so the engine
	// accepts what reaches it: EIO3 on, and CORS headers for any origin that got this far
	// (the same origin or an allowed one); its WebSocket origin check defers to the same rule.
	o.SetAllowEIO3(true)
	o.SetCors(&types.Cors{Origin: func(string) bool { return true }, Credentials: true})
	return &generation{eng: engine.NewServer(o), pingInterval: st.PingInterval, pingTimeout: st.PingTimeout}
}

// fits reports whether g serves st's heartbeat.
func (g *generation) fits(st *settings) bool {
	return g.pingInterval == st.PingInterval && g.pingTimeout == st.PingTimeout
}

// engineFor picks the engine for a request: the one that holds its session, or the current one
// for a handshake (or an unknown sid, which the engine answers with its own error).
func (s *Server) engineFor(sid string) engine.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.generations[len(s.generations)-1]
	if sid == "" {
		return current.eng
	}
	// Drop older generations that have emptied; no handshake can reach them any more.
	kept := s.generations[:0]
	var found engine.Server
	for i, g := range s.generations {
		if i < len(s.generations)-1 && g.eng.ClientsCount() == 0 {
			continue
		}
		kept = append(kept, g)
		if _, ok := g.eng.Clients().Load(sid); ok {
			found = g.eng
		}
	}
	clear(s.generations[len(kept):])
	s.generations = kept
	if found != nil {
		return found
	}
	return current.eng
}
