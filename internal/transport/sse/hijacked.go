package sse

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/transport"
	"github.com/progress-relay/progress-relay/internal/transport/netpoll"
)

// stream is an SSE subscriber on a hijacked HTTP/1.x connection. Once the response head is out,
// an SSE stream needs nothing from net/http: it never reads the client again and its body is
// delimited by the connection's close. Taking the connection over frees the handler goroutine
// (whose stack sits under Caddy's whole middleware chain) and net/http's buffers, so an idle
// stream costs a socket, a subscription and a timer; the shared poller says when the client
// leaves, and the hub wakes a writer when events arrive, as for WebSockets.
type stream struct {
	h    *Handler
	slot event.Slot
	sub  *hub.Subscription

	mu      sync.Mutex // guards the fields below
	conn    net.Conn   // nil until the head is written
	writing bool       // a writer goroutine runs
	again   bool       // work arrived while writing
	beat    bool       // the heartbeat timer fired
	ended   bool
	timer   *time.Timer
	watch   *netpoll.Watcher // the poller's hold on the socket, if it watches it

	startWriter func()         // writeLoop, bound once so that a wake allocates nothing
	batch       []*event.Event // owned by the running writer
	bufs        net.Buffers    // the same
}

// serveHijacked serves an HTTP/1.x request on its own connection. It reports false, having
// written nothing, when the connection cannot be taken over; the caller streams through the
// ResponseWriter then.
func (h *Handler) serveHijacked(w http.ResponseWriter, r *http.Request, session string, after uint64, slot event.Slot) bool {
	s := &stream{h: h, slot: slot}
	s.startWriter = s.writeLoop
	sub, err := h.Hub.Subscribe(r.Context(), session, hub.Options{After: after, Transport: transport.SSE, Notify: s.wake})
	if err != nil {
		transport.RefuseSubscription(w, err)
		return true
	}
	if st := sub.State(); st.Finished && after >= st.TerminalSeq {
		sub.Close()
		w.WriteHeader(http.StatusNoContent) // what makes a browser's EventSource stop reconnecting
		return true
	}
	s.sub = sub
	head := responseHead(w.Header())
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		sub.Close()
		return false
	}
	conn.SetWriteDeadline(time.Now().Add(h.writeTimeout()))
	if _, err := conn.Write(head); err != nil {
		sub.Close()
		conn.Close()
		return true
	}
	s.mu.Lock()
	s.conn = conn
	s.timer = time.AfterFunc(h.heartbeat(), s.heartbeat)
	s.mu.Unlock()
	if h.Log != nil {
		h.Log.Debug("sse connected", zap.String("session", session), zap.String("remote", r.RemoteAddr), zap.Uint64("after", after))
	}
	s.watchClose()
	s.wake() // history may be queued already
	return true
}

// watchClose notices a client that goes away at once rather than at the next heartbeat, so that
// subscriber counts, limits and upstream pulls follow it. A client sends nothing on an SSE
// stream: its socket only becomes readable when the connection ends. The shared poller watches
// it where it can, so that an idle stream has no goroutine; else a shallow goroutine reads.
func (s *stream) watchClose() {
	w := netpoll.Watch(s.conn, s.onReadable)
	if w == nil {
		go s.readUntilClosed()
		return
	}
	s.mu.Lock()
	s.watch = w
	ended := s.ended // the client may be gone already
	s.mu.Unlock()
	if ended {
		w.Stop()
	}
}

// onReadable runs when the poller sees the client's socket readable: the client has gone, or has
// sent something it should not have, which is dropped.
func (s *stream) onReadable(w *netpoll.Watcher) {
	var b [64]byte
	n, err := w.Read(b[:])
	if (err != nil && !errors.Is(err, netpoll.ErrNothing)) || (err == nil && n == 0) {
		s.end("client gone")
		return
	}
	if err := w.Rearm(); err != nil {
		s.end("client gone")
	}
}

func (s *stream) readUntilClosed() {
	var b [64]byte
	for {
		if _, err := s.conn.Read(b[:]); err != nil {
			s.end("client gone")
			return
		}
	}
}

// responseHead is the status line and headers: those other handlers set (CORS, Server, custom
// headers) and the stream's own. Connection: close says how the body ends.
func responseHead(hdr http.Header) []byte {
	hdr = hdr.Clone()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("Connection", "close")
	hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	hdr.Del("Content-Length")
	hdr.Del("Transfer-Encoding")
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	hdr.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// wake makes sure a writer runs. The hub calls it under its locks: it never blocks.
func (s *stream) wake() {
	s.mu.Lock()
	if s.conn == nil || s.ended {
		s.mu.Unlock()
		return
	}
	if s.writing {
		s.again = true
		s.mu.Unlock()
		return
	}
	s.writing = true
	s.mu.Unlock()
	go s.startWriter()
}

func (s *stream) heartbeat() {
	s.mu.Lock()
	s.beat = true
	s.mu.Unlock()
	s.wake()
}

func (s *stream) writeLoop() {
	for {
		s.mu.Lock()
		s.again = false
		beat := s.beat
		s.beat = false
		s.mu.Unlock()

		done, reason := s.write(beat)
		if done {
			s.end(reason)
			return
		}
		s.mu.Lock()
		if !s.again || s.ended {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// write puts every queued event (or a heartbeat when there is none) on the wire in one syscall,
// and reports whether the stream is over.
func (s *stream) write(beat bool) (bool, string) {
	s.batch = s.sub.Next(s.batch)
	terminal := false
	for _, ev := range s.batch {
		s.bufs = append(s.bufs, Frame(ev, s.slot))
		terminal = terminal || ev.Terminal
	}
	if len(s.bufs) == 0 {
		select {
		case <-s.sub.Done():
			if errors.Is(s.sub.Err(), hub.ErrSlowConsumer) {
				return true, "too slow"
			}
			return true, "relay shutting down"
		default:
		}
		if !beat {
			return false, ""
		}
		s.bufs = append(s.bufs, heartbeatComment)
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.h.writeTimeout()))
	bufs := s.bufs // WriteTo consumes the slice header; keep ours to reuse its array
	_, err := bufs.WriteTo(s.conn)
	clear(s.bufs)
	s.bufs = s.bufs[:0]
	if cap(s.bufs) > 64 {
		s.bufs = nil // an idle stream keeps no large array from a burst
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.sub.DropSlow()
			return true, "too slow: no write within write_timeout"
		}
		return true, "client gone"
	}
	if s.h.Observe != nil && len(s.batch) > 0 {
		now := time.Now()
		for _, ev := range s.batch {
			s.h.Observe(transport.SSE, ev, now.Sub(ev.Time))
		}
	}
	if terminal {
		return true, "session finished"
	}
	s.mu.Lock()
	if !s.ended {
		s.timer.Reset(s.h.heartbeat())
	}
	s.mu.Unlock()
	return false, ""
}

// end releases the stream once: the subscription, the timer and the connection (whose close
// ends the body).
func (s *stream) end(reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.writing = false
	s.timer.Stop()
	watch := s.watch
	s.mu.Unlock()
	if watch != nil {
		watch.Stop()
	}
	s.sub.Close()
	s.conn.Close()
	if s.h.Log != nil {
		s.h.Log.Debug("sse stream ended", zap.String("session", s.sub.Session()), zap.String("reason", reason))
	}
}

func (h *Handler) writeTimeout() time.Duration {
	if h.Config.WriteTimeout > 0 {
		return h.Config.WriteTimeout
	}
	return 10 * time.Second
}
