package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/reply"
	"github.com/progress-relay/progress-relay/internal/transport"
	"github.com/progress-relay/progress-relay/internal/transport/poll"
	"github.com/progress-relay/progress-relay/internal/transport/sse"
	"github.com/progress-relay/progress-relay/internal/transport/websocket"
)

// route sends req to the relay endpoint its path names; anything else goes to next.
func (r *Relay) route(w http.ResponseWriter, req *http.Request, next caddyhttp.Handler) error {
	path := req.URL.Path
	if r.Health != Off && path == r.Health {
		r.serveHealth(w, req)
		return nil
	}
	for _, wh := range r.webhooks {
		if session, ok := wh.pattern.match(path); ok {
			return wh.serve(w, req, session, next)
		}
	}
	if r.isSocketIOPath(req) {
		r.inst.sio.ServeGated(w, req, r.sioGate)
		return nil
	}
	if r.tee != nil {
		// Before subscribe: the proxied stream is the backend's, even on a path subscribe shares.
		if session, ok := r.tee.pattern.match(path); ok {
			return r.tee.serve(w, req, session, next)
		}
	}
	if session, ok := r.sub.match(path); ok && r.servesSubscription(req) {
		r.serveSubscribe(w, req, session)
		return nil
	}
	if r.WebSocket != Off && path == r.WebSocket && websocket.IsUpgrade(req) {
		if !r.origins.allowed(req) {
			refuseOrigin(w, req)
			return nil
		}
		r.inst.ws.ServeSeed(w, req, websocket.Access{Authorize: r.authorize, HandshakeToken: requestToken(req)})
		return nil
	}
	if r.assets.Serve(w, req) {
		return nil
	}
	return next.ServeHTTP(w, req)
}

// servesSubscription reports whether this handler serves req's kind of subscription; a transport
// that is off leaves the request to the next handler (which may be the backend itself).
func (r *Relay) servesSubscription(req *http.Request) bool {
	switch {
	case websocket.IsUpgrade(req):
		return r.WebSocket != Off
	case acceptsEventStream(req):
		return r.SSE != Off
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		return r.Poll != Off
	}
	return true // other methods get a clear 405
}

// serveSubscribe picks the transport for the per-session endpoint: WebSocket on an upgrade, SSE
// when the client accepts text/event-stream, long-poll JSON otherwise.
func (r *Relay) serveSubscribe(w http.ResponseWriter, req *http.Request, session string) {
	if isPreflight(req) {
		r.origins.preflight(w, req)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		reply.Error(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here; subscribe with GET", req.Method))
		return
	}
	if err := event.ValidSession(session); err != nil {
		countRefused("session_id")
		reply.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if !r.origins.allowed(req) {
		refuseOrigin(w, req)
		return
	}
	if err := r.authorize(session, requestToken(req)); err != nil {
		r.origins.cors(w, req)
		r.logger.Info("subscription refused: token", zap.String("session", session), zap.Error(err),
			zap.String("remote", req.RemoteAddr))
		refuseToken(w, err)
		return
	}
	switch {
	case websocket.IsUpgrade(req):
		after, err := transport.ParseSeq(req.URL.Query().Get("after"))
		if err != nil {
			reply.Error(w, http.StatusBadRequest, "after: "+err.Error())
			return
		}
		r.inst.ws.ServeSession(w, req, session, after)
	case acceptsEventStream(req):
		r.origins.cors(w, req)
		r.sse().Serve(w, req, session)
	default:
		r.origins.cors(w, req)
		r.poll().Serve(w, req, session)
	}
}

func (r *Relay) sse() *sse.Handler {
	return &sse.Handler{Hub: r.inst.hub, Log: r.logger, Observe: observeDelivery,
		Config: sse.Config{WriteTimeout: time.Duration(r.WriteTimeout)}}
}

func (r *Relay) poll() *poll.Handler { return &poll.Handler{Hub: r.inst.hub, Observe: observeDelivery} }

func acceptsEventStream(req *http.Request) bool {
	for _, v := range req.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

func refuseOrigin(w http.ResponseWriter, req *http.Request) {
	countRefused("origin")
	reply.Error(w, http.StatusForbidden, fmt.Sprintf("origin %s is not allowed; add it to allowed_origins", req.Header.Get("Origin")))
}
