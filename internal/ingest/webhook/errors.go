package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
)

// rejection is a refused webhook: the status and message the client gets, and for server-side
// failures the detail that only the log gets.
type rejection struct {
	status     int
	msg        string        // shown to the client
	detail     string        // logged instead of msg when set; never shown to the client
	retryAfter time.Duration // sent as Retry-After when positive
}

func reject(status int, format string, args ...any) *rejection {
	return &rejection{status: status, msg: fmt.Sprintf(format, args...)}
}

// reason is what the observer logs.
func (rej *rejection) reason() string {
	if rej.detail != "" {
		return rej.detail
	}
	return rej.msg
}

// publishRejection maps a broker error to the answer the contract gives for it.
func publishRejection(err error) *rejection {
	var finished *broker.FinishedError
	switch {
	case errors.As(err, &finished):
		return reject(http.StatusConflict, "session %s already finished: no events are accepted after its terminal event", finished.Session)
	case errors.Is(err, broker.ErrFinished):
		return reject(http.StatusConflict, "session already finished: no events are accepted after its terminal event")
	case errors.Is(err, broker.ErrTooManySessions):
		return reject(http.StatusServiceUnavailable, "too many sessions on this relay; retry later")
	case errors.Is(err, broker.ErrUnavailable), errors.Is(err, broker.ErrClosed):
		// Closed happens while the relay shuts down: another node (or this one, restarted) can take it.
		return reject(http.StatusServiceUnavailable, "event broker unavailable; retry later")
	default:
		return &rejection{status: http.StatusInternalServerError, msg: "internal error while publishing events", detail: "publish: " + err.Error()}
	}
}

// writeRejection answers rej as {"error": msg}.
func writeRejection(w http.ResponseWriter, rej *rejection) {
	if rej.retryAfter > 0 {
		secs := int64((rej.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	writeJSON(w, rej.status, struct {
		Error string `json:"error"`
	}{rej.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // only called with structs of strings and ints, which always marshal
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a client that left cannot be told anything else
}
