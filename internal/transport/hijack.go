package transport

import (
	"bufio"
	"net"
	"net/http"
)

// Hijackable wraps w so that it implements http.Hijacker. Caddy's ResponseWriter wrappers do not
// implement Hijack themselves; they expose the underlying writer through Unwrap, which
// http.NewResponseController follows. WebSocket libraries type-assert http.Hijacker, so without
// this wrapper every upgrade behind Caddy fails with "response does not implement http.Hijacker".
func Hijackable(w http.ResponseWriter) http.ResponseWriter {
	if _, ok := w.(http.Hijacker); ok {
		return w
	}
	return hijacker{w}
}

type hijacker struct{ http.ResponseWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

func (h hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }
