package caddymodule

import (
	"net/http"
	"strings"
	"time"

	"github.com/progress-relay/progress-relay/internal/transport/socketio"
)

// socketIOOn reports whether Socket.IO is served.
func (r *Relay) socketIOOn() bool { return r.SocketIO != nil && r.SocketIO.Path != Off }

// socketIOConfig is the transport's configuration for r; the server lives in the instance and
// takes it on every reload, with the token rule of every site that shares it.
func (r *Relay) socketIOConfig() socketio.Config {
	s := r.SocketIO
	c := socketio.Config{
		Path:                 s.Path,
		EventNames:           s.EventNames,
		PingInterval:         time.Duration(s.PingInterval),
		PingTimeout:          time.Duration(s.PingTimeout),
		CORSOrigins:          s.CORSOrigins,
		WriteTimeout:         time.Duration(r.WriteTimeout),
		MaxSessionsPerSocket: s.MaxSessionsPerSocket,
		Observe:              observeDelivery,
	}
	if s.AllowEIO3 != nil {
		c.AllowEIO3 = *s.AllowEIO3
	}
	if len(c.CORSOrigins) == 0 {
		c.CORSOrigins = r.AllowedOrigins
	}
	if c.Path == Off {
		c.Path = "" // the server keeps its default; nothing is routed to it
	}
	return c
}

// isSocketIOPath reports whether req is for the Socket.IO endpoint or its client script.
func (r *Relay) isSocketIOPath(req *http.Request) bool {
	if !r.socketIOOn() {
		return false
	}
	p := r.SocketIO.Path
	return strings.HasPrefix(req.URL.Path, p) || req.URL.Path+"/" == p
}
