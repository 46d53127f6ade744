// Package subscriber holds the load tool's subscribers, one per browser-facing transport, and
// the receiver that checks what each one gets.
package subscriber

import (
	"context"
	"fmt"

	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// Transport names, as the relay's health endpoint counts them.
const (
	SocketIO  = "socketio"
	WebSocket = "websocket"
	SSE       = "sse"
	Poll      = "poll"
)

// All is every transport, in the order the fallback of the browser client tries them.
var All = []string{SocketIO, WebSocket, SSE, Poll}

// Paths are where a server takes subscribers.
type Paths struct {
	WebSocket string // seed-protocol WebSocket, e.g. "/"
	Subscribe string // per-session prefix for SSE and long-poll, e.g. "/api/import/progress/"
	SocketIO  string // Engine.IO prefix, e.g. "/socket.io/"
}

// DefaultPaths are the relay's defaults, which the Node peer shares.
var DefaultPaths = Paths{WebSocket: "/", Subscribe: "/api/import/progress/", SocketIO: "/socket.io/"}

// Client is one connected subscriber.
type Client interface {
	// Run reads events into r until the connection ends; after Close it returns nil.
	Run(r *Receiver) error
	// Close ends the connection and makes Run return.
	Close()
}

// Open connects one subscriber of transport to session and registers it. For long-poll the
// first poll is sent by Run.
func Open(ctx context.Context, transport string, d *wire.Dialer, p Paths, session string) (Client, error) {
	switch transport {
	case WebSocket:
		return openWebSocket(ctx, d, p, session)
	case SSE:
		return openSSE(ctx, d, p, session)
	case Poll:
		return openPoll(ctx, d, p, session)
	case SocketIO:
		return openSocketIO(ctx, d, p, session)
	}
	return nil, fmt.Errorf("unknown transport %q", transport)
}
