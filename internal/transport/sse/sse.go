// Package sse delivers a session's events as a Server-Sent-Events stream: one "id: <seq>" and
// "data:" block per event, never an "event:" line, so that EventSource's onmessage fires for
// every event as it did with the Node.js server this replaces.
package sse

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/reply"
	"github.com/progress-relay/progress-relay/internal/transport"
	"go.uber.org/zap"
)

// Config holds the stream's timings.
type Config struct {
	Heartbeat    time.Duration // comment line sent when idle, so proxies keep the stream open
	WriteTimeout time.Duration // a client that cannot take a write this long is dropped
}

// Handler serves SSE subscriptions.
type Handler struct {
	Hub    *hub.Hub
	Config Config
	Log    *zap.Logger
	// Observe, when set, is told of each event written and its publish-to-write latency.
	Observe func(transport string, ev *event.Event, latency time.Duration)
}

// Serve streams session to the client. The resume point is Last-Event-ID, else ?after=;
// ?envelope=1 sends envelopes ({"seq","type","session","data"}) instead of the raw data.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, session string) {
	afterText := r.Header.Get("Last-Event-ID")
	if afterText == "" {
		afterText = r.URL.Query().Get("after")
	}
	after, err := transport.ParseSeq(afterText)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "resume point: "+err.Error())
		return
	}
	slot := event.SlotSSEData
	if envelope(r) {
		slot = event.SlotSSEEnvelope
	}

	if r.ProtoMajor == 1 && h.serveHijacked(w, r, session, after, slot) {
		return
	}
	// HTTP/2 and 3 cannot hand the connection over: stream through the ResponseWriter.
	sub, err := h.Hub.Subscribe(r.Context(), session, hub.Options{After: after, Transport: transport.SSE})
	if err != nil {
		transport.RefuseSubscription(w, err)
		return
	}
	defer sub.Close()
	if st := sub.State(); st.Finished && after >= st.TerminalSeq {
		// 204 is what makes a browser's EventSource stop reconnecting.
		w.WriteHeader(http.StatusNoContent)
		return
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx in front would otherwise buffer the stream
	hdr.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	reason := h.stream(r.Context(), w, rc, sub, slot)
	if h.Log != nil {
		h.Log.Debug("sse stream ended", zap.String("session", session), zap.String("reason", reason))
	}
}

// stream writes batches until the terminal event, the client leaving or the hub dropping it, and
// returns why it stopped.
func (h *Handler) stream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, sub *hub.Subscription, slot event.Slot) string {
	heartbeat := time.NewTicker(h.heartbeat())
	defer heartbeat.Stop()
	var batch []*event.Event
	for {
		batch = sub.Next(batch)
		if len(batch) > 0 {
			h.deadline(rc)
			terminal := false
			for _, ev := range batch {
				if _, err := w.Write(Frame(ev, slot)); err != nil {
					return writeFailed(sub, err)
				}
				terminal = terminal || ev.Terminal
			}
			if err := rc.Flush(); err != nil {
				return writeFailed(sub, err)
			}
			now := time.Now()
			if h.Observe != nil {
				for _, ev := range batch {
					h.Observe(transport.SSE, ev, now.Sub(ev.Time))
				}
			}
			if terminal {
				return "session finished"
			}
			heartbeat.Reset(h.heartbeat())
		}
		select {
		case <-sub.Ready():
		case <-sub.Done():
			if sub.Len() > 0 {
				continue // write what is queued (a shutdown still delivers the last batch)
			}
			if err := sub.Err(); errors.Is(err, hub.ErrSlowConsumer) {
				return "too slow"
			}
			return "relay shutting down"
		case <-ctx.Done():
			return "client gone"
		case <-heartbeat.C:
			h.deadline(rc)
			if _, err := w.Write(heartbeatComment); err != nil {
				return "heartbeat: " + err.Error()
			}
			if err := rc.Flush(); err != nil {
				return "heartbeat: " + err.Error()
			}
		}
	}
}

var heartbeatComment = []byte(": heartbeat\n\n")

// writeFailed names why a write failed, and records a client that stopped reading as slow.
func writeFailed(sub *hub.Subscription, err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		sub.DropSlow()
		return "too slow: no write within write_timeout"
	}
	return "write: " + err.Error()
}

func (h *Handler) heartbeat() time.Duration {
	if h.Config.Heartbeat > 0 {
		return h.Config.Heartbeat
	}
	return 15 * time.Second
}

// deadline bounds the next write so that a client that stopped reading is dropped.
func (h *Handler) deadline(rc *http.ResponseController) {
	// Not every writer supports deadlines (some test recorders); the stream still works then.
	_ = rc.SetWriteDeadline(time.Now().Add(h.writeTimeout()))
}

func envelope(r *http.Request) bool {
	switch r.URL.Query().Get("envelope") {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
