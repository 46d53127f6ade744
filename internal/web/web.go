// Package web holds what the relay serves to browsers besides events: the client library
// progress-relay.js (as a classic script and as an ES module) and the test page. Both are embedded
// and rendered once per configuration with the relay's endpoint paths, so that a page or a front
// end that uses them needs no path of its own.
package web

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Config says where the relay serves the page and the library, and which endpoints they talk to.
// An empty path means that endpoint is off: the library skips a transport whose path is empty, and
// Serve answers nothing for an asset whose path is empty.
type Config struct {
	// Page is where the test page is served. Default "/test-socket-io.html".
	Page string
	// ClientJS is where the library is served as a classic script. Default "/progress-relay.js".
	ClientJS string
	// ClientModule is where the same library is served as an ES module. Default: ClientJS with
	// ".mjs" for ".js" (see ModulePath).
	ClientModule string

	// Subscribe is the per-session endpoint template, with {session} (SSE, long-poll, WebSocket
	// by URL). Default "/api/import/progress/{session}".
	Subscribe string
	// WebSocket is the path of the seed-protocol WebSocket. Default "/".
	WebSocket string
	// SocketIO is the Socket.IO prefix, with a trailing slash. Default "/socket.io/".
	SocketIO string
	// Import is the backend's endpoint that the test page posts CSVs to. Default "/api/import".
	Import string
	// Health is the relay's health endpoint, shown on the test page. Default "/relay/health".
	Health string
	// Transports are those the relay serves, of "socketio", "websocket", "sse" and "poll"; the
	// library skips the others at once instead of trying them. Default: every transport whose
	// path is set (websocket: WebSocket or Subscribe; sse and poll: Subscribe).
	Transports []string
}

// Transport names, as the library knows them.
var transportNames = []string{"socketio", "websocket", "sse", "poll"}

// DefaultConfig returns the paths of DESIGN.md.
func DefaultConfig() Config {
	return Config{
		Page:         "/test-socket-io.html",
		ClientJS:     "/progress-relay.js",
		ClientModule: "/progress-relay.mjs",
		Subscribe:    "/api/import/progress/{session}",
		WebSocket:    "/",
		SocketIO:     "/socket.io/",
		Import:       "/api/import",
		Health:       "/relay/health",
	}
}

// ModulePath is where the ES-module form of the library at clientJS is served:
// "/progress-relay.js" → "/progress-relay.mjs".
func ModulePath(clientJS string) string {
	if clientJS == "" {
		return ""
	}
	return strings.TrimSuffix(clientJS, ".js") + ".mjs"
}

// validate checks every path and fills ClientModule when only ClientJS is given.
func (c Config) validate() (Config, error) {
	if c.ClientModule == "" {
		c.ClientModule = ModulePath(c.ClientJS)
	}
	if c.SocketIO != "" && !strings.HasSuffix(c.SocketIO, "/") {
		c.SocketIO += "/"
	}
	var errs []error
	for _, p := range []struct{ name, value string }{
		{"page", c.Page}, {"client_js", c.ClientJS}, {"client module", c.ClientModule},
		{"subscribe", c.Subscribe}, {"websocket", c.WebSocket}, {"socketio", c.SocketIO},
		{"import", c.Import}, {"health", c.Health},
	} {
		// Paths only: the page's Content-Security-Policy allows its own origin and nothing else.
		if p.value != "" && !strings.HasPrefix(p.value, "/") {
			errs = append(errs, fmt.Errorf("%s path %q: must start with /", p.name, p.value))
		}
	}
	if c.Subscribe != "" && !strings.Contains(c.Subscribe, "{session}") {
		errs = append(errs, fmt.Errorf("subscribe path %q: must contain {session}", c.Subscribe))
	}
	if c.Transports == nil {
		c.Transports = c.offered()
	}
	for _, t := range c.Transports {
		if !slices.Contains(transportNames, t) {
			errs = append(errs, fmt.Errorf("transport %q: want one of %s", t, strings.Join(transportNames, ", ")))
		}
	}
	if c.ClientJS != "" && c.ClientJS == c.ClientModule {
		errs = append(errs, fmt.Errorf("client_js %q: the ES module needs a path of its own; end it in .js", c.ClientJS))
	}
	return c, errors.Join(errs...)
}

// offered lists the transports whose paths are set.
func (c Config) offered() []string {
	out := []string{}
	if c.SocketIO != "" {
		out = append(out, "socketio")
	}
	if c.WebSocket != "" || c.Subscribe != "" {
		out = append(out, "websocket")
	}
	if c.Subscribe != "" {
		out = append(out, "sse", "poll")
	}
	return out
}
