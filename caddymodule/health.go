package caddymodule

import (
	"context"
	"net/http"
	"time"

	"github.com/progress-relay/progress-relay/internal/reply"
	"github.com/progress-relay/progress-relay/internal/transport"
)

// healthTimeout bounds the broker check, so that a hung broker answers 503 rather than hanging.
const healthTimeout = 2 * time.Second

type health struct {
	Status      string         `json:"status"`
	Sessions    int            `json:"sessions"`
	Subscribers map[string]int `json:"subscribers"`
	Broker      string         `json:"broker"`
	Upstream    *upstreamState `json:"upstream,omitempty"` // with upstream_sse
	Error       string         `json:"error,omitempty"`
}

// upstreamState is the health of upstream_sse pulls on this node.
type upstreamState struct {
	Sessions   int    `json:"sessions"`   // sessions being pulled
	Open       int    `json:"open"`       // connections open now
	Reconnects uint64 `json:"reconnects"` // since the pull settings were last loaded
	EventsIn   uint64 `json:"events_in"`  // the same
}

// serveHealth answers 200 with counts, or 503 when the broker cannot publish.
func (r *Relay) serveHealth(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		reply.Error(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	inst := r.inst
	stats := inst.hub.Stats()
	h := health{
		Status:      "ok",
		Sessions:    inst.broker.Sessions(),
		Subscribers: map[string]int{},
		Broker:      inst.broker.Name(),
	}
	for _, name := range []string{transport.WebSocket, transport.SSE, transport.Poll, transport.SocketIO} {
		h.Subscribers[name] = stats.Subscribers[name]
	}
	if r.UpstreamSSE != nil {
		ps := inst.pull.stats()
		h.Upstream = &upstreamState{Sessions: ps.Pulling, Open: ps.Open, Reconnects: ps.Reconnects, EventsIn: ps.EventsIn}
	}
	ctx, cancel := context.WithTimeout(req.Context(), healthTimeout)
	defer cancel()
	status := http.StatusOK
	if err := inst.broker.Health(ctx); err != nil {
		status = http.StatusServiceUnavailable
		h.Status = "unavailable"
		h.Error = err.Error()
	}
	reply.JSON(w, status, h)
}
