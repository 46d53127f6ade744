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
	Error       string         `json:"error,omitempty"`
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
