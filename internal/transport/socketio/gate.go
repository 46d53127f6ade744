package socketio

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/progress-relay/progress-relay/internal/reply"
)

// originAllowed reports whether a request may reach the Engine.IO server: no Origin (not a
// browser, or a same-origin GET), the relay's own origin, or one of CORSOrigins.
//
// The check is made here, on every request, rather than by the library: its CORS options only
// add or omit response headers (a cross-origin POST still gets through) and are fixed when the
// engine is built, while a reload may change the list.
func (st *settings) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || st.anyOrigin {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return st.origins[strings.ToLower(u.Scheme+"://"+u.Host)]
}

// refuseEIO3 answers a handshake from socket.io-client 2.x when AllowEIO3 is off, the way
// Engine.IO refuses a protocol (400, {"code":5,...}), but with a message that says what to change.
// The gate is here rather than in the engine's option so that a reload can toggle it.
func refuseEIO3(w http.ResponseWriter) {
	reply.JSON(w, http.StatusBadRequest, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{5, "Unsupported protocol version: Engine.IO 3 (socket.io-client 2.x) is not enabled on this relay " +
		"(socketio allow_eio3 off); use socket.io-client 4.x or turn allow_eio3 on"})
}

// isEIO3Handshake reports whether r opens a new Engine.IO 3 session. Engine.IO treats any EIO
// value other than 4 as protocol 3; requests that carry a sid belong to a session already open.
func isEIO3Handshake(q url.Values) bool {
	return q.Get("sid") == "" && q.Get("EIO") != "4"
}

// OriginGate returns the origin rule of c (its CORSOrigins, plus the same origin), for a site's
// Gate.
func (c Config) OriginGate() (func(*http.Request) bool, error) {
	st, err := c.compile()
	if err != nil {
		return nil, err
	}
	return st.originAllowed, nil
}
