package server

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the Caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp"         // the http app

	_ "github.com/progress-relay/progress-relay/caddymodule" // the relay
)

// StartRelayInProcess runs the relay from this checkout inside the tool's own process, so that a
// correctness check needs no Caddy build. CPU and memory figures then include the tool itself and
// mean nothing; only one in-process relay can run at a time.
func StartRelayInProcess(ctx context.Context, o Options) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Name: "relay", Addr: addr, PID: os.Getpid(), SocketIO: o.SocketIO, Note: "in-process"}
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, _, err := adapter.Adapt(RelayCaddyfile(addr, o), map[string]any{"filename": "Caddyfile"})
	if err != nil && o.SocketIO && noSocketIO(err.Error()) {
		o.SocketIO, s.SocketIO = false, false
		s.Note += "; this relay has no socketio subdirective"
		cfg, _, err = adapter.Adapt(RelayCaddyfile(addr, o), map[string]any{"filename": "Caddyfile"})
	}
	if err != nil {
		return nil, fmt.Errorf("adapt the relay's Caddyfile: %w", err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		return nil, fmt.Errorf("load the relay: %w", err)
	}
	s.stop = caddy.Stop
	if err := waitHealthy(ctx, s, nil, 30*time.Second); err != nil {
		caddy.Stop()
		return nil, err
	}
	return s, nil
}
