// Package transport holds what the browser-facing transports share: reading a resume cursor and
// turning a refused subscription into the answer a client understands. Each transport lives in
// its own sub-package and only knows the hub.
package transport

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/reply"
)

// Names of the transports, as counted in health and metrics.
const (
	WebSocket = "websocket"
	SSE       = "sse"
	Poll      = "poll"
	SocketIO  = "socketio"
)

// ParseSeq reads a sequence number given by a client ("" is 0).
func ParseSeq(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a sequence number (a non-negative integer)", s)
	}
	return n, nil
}

// SubscribeStatus maps a Subscribe error to an HTTP status and a message for the client.
func SubscribeStatus(err error) (int, string) {
	switch {
	case errors.Is(err, hub.ErrTooManySubscribers), errors.Is(err, hub.ErrSessionFull):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, hub.ErrShutdown):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, broker.ErrUnavailable):
		return http.StatusServiceUnavailable, "event store unavailable, retry shortly"
	default:
		return http.StatusInternalServerError, "subscription failed"
	}
}

// RefuseSubscription answers a failed Subscribe.
func RefuseSubscription(w http.ResponseWriter, err error) {
	status, msg := SubscribeStatus(err)
	if status == http.StatusServiceUnavailable {
		reply.RetryAfter(w, status, 2, msg)
		return
	}
	reply.Error(w, status, msg)
}
