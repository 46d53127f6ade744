package socketio

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/progress-relay/progress-relay/internal/transport/wswire"
)

// errRequestOver answers the engine's writes to a request that ended or was hijacked: net/http
// recycles a finished response's buffers, so a late write could land in another response.
var errRequestOver = errors.New("socket.io: write to a request that has ended")

// engineWriter is the ResponseWriter the engine gets for a request.
//
// Caddy's writers hide Hijack behind Unwrap, while gorilla/websocket type-asserts http.Hijacker;
// this one hijacks through http.ResponseController and hands gorilla the connection wrapped in a
// wire, where the relay writes its frames.
//
// The engine keeps a session's first request, writer included, for the session's whole life.
// Once the request is over (the connection hijacked, or ServeGated returned) this writer lets go
// of Caddy's, which holds the HTTP server's state for the connection: its buffers (8 KiB) while
// the connection is hijacked, the finished response otherwise.
type engineWriter struct {
	mu sync.Mutex          // guards w
	w  http.ResponseWriter // nil once released
}

// Header implements http.ResponseWriter.
func (e *engineWriter) Header() http.Header {
	if w := e.writer(); w != nil {
		return w.Header()
	}
	return http.Header{}
}

// Write implements http.ResponseWriter.
func (e *engineWriter) Write(p []byte) (int, error) {
	if w := e.writer(); w != nil {
		return w.Write(p)
	}
	return 0, errRequestOver
}

// WriteHeader implements http.ResponseWriter.
func (e *engineWriter) WriteHeader(code int) {
	if w := e.writer(); w != nil {
		w.WriteHeader(code)
	}
}

// Hijack implements http.Hijacker.
func (e *engineWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.w == nil {
		return nil, nil, errRequestOver
	}
	conn, brw, err := http.NewResponseController(e.w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	e.w = nil
	return &wswire.Conn{Conn: conn}, brw, nil
}

// release ends the writer's use of the request's ResponseWriter.
func (e *engineWriter) release() {
	e.mu.Lock()
	e.w = nil
	e.mu.Unlock()
}

func (e *engineWriter) writer() http.ResponseWriter {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.w
}

// engineRequest is what the engine gets of r, and the function that ends it once r is handled.
// The engine keeps a session's first request, a GET, for the session's whole life: the copy drops
// Caddy's request context (the request's replacer, variables and original copy) and, on a GET,
// Caddy's body wrapper, which holds the response and with it the HTTP server's buffers for the
// connection (8 KiB per socket). Its context ends when r's does, or when r is handled.
func engineRequest(r *http.Request) (*http.Request, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(r.Context(), cancel)
	er := r.WithContext(ctx)
	if r.Method == http.MethodGet {
		er.Body = http.NoBody
	}
	return er, func() {
		stop()
		cancel()
	}
}
