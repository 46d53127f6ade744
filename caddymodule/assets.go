package caddymodule

import (
	"github.com/progress-relay/progress-relay/internal/transport"
	"github.com/progress-relay/progress-relay/internal/web"
)

// webConfig tells the test page and the client library where the relay's endpoints are and which
// transports it serves, so that neither needs paths of its own.
func (r *Relay) webConfig() web.Config {
	on := func(p string) string {
		if p == Off {
			return ""
		}
		return p
	}
	c := web.Config{
		Page:      on(r.TestPage),
		ClientJS:  on(r.ClientJS),
		Subscribe: on(r.Subscribe),
		WebSocket: on(r.WebSocket),
		Import:    on(r.ImportEndpoint),
		Health:    on(r.Health),
	}
	if r.socketIOOn() {
		c.SocketIO = r.SocketIO.Path
	}
	if c.ClientJS != "" {
		c.ClientModule = web.ModulePath(c.ClientJS)
	}
	c.Transports = r.transports()
	return c
}

// transports lists the browser transports this handler serves, in the client's fallback order.
func (r *Relay) transports() []string {
	out := []string{}
	if r.socketIOOn() {
		out = append(out, transport.SocketIO)
	}
	if r.WebSocket != Off {
		out = append(out, transport.WebSocket)
	}
	sub := r.Subscribe != Off
	if sub && r.SSE != Off {
		out = append(out, transport.SSE)
	}
	if sub && r.Poll != Off {
		out = append(out, transport.Poll)
	}
	return out
}
