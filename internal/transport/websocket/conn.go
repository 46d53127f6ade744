package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/transport"
	"github.com/progress-relay/progress-relay/internal/transport/netpoll"
	"github.com/progress-relay/progress-relay/internal/transport/wswire"
	"go.uber.org/zap"
)

// Close codes beyond RFC 6455's, in the private range.
const (
	// CloseUnauthorized: a missing, invalid or expired subscriber token (like HTTP 401).
	CloseUnauthorized = 4401
)

// conn is one client connection. No goroutine waits on an idle connection: the hub calls wake
// when events arrive, and wake starts a writer if none is running; the poller starts a reader
// when the client sends something.
type conn struct {
	h      *Handler
	cfg    *Config
	ws     *websocket.Conn
	raw    *wswire.Conn
	access Access // how seed-protocol registrations are authorised

	mu        sync.Mutex // guards the fields below
	subs      []*entry
	writing   bool // a writer goroutine is running
	again     bool // work arrived while writing
	closing   bool // a close frame was queued or sent; no more data frames
	closeCode int
	closeText string
	ended     bool // resources released

	batch    []*event.Event // owned by the running writer
	ping     *time.Timer
	register *time.Timer // seed protocol: closes a connection that does not register in time

	in    inbound          // the client's input; owned by the running reader
	watch *netpoll.Watcher // the poller's hold on the socket, if it watches it

	// startWriter is c.writeLoop bound once: "go c.writeLoop()" allocates a closure on every
	// wake, one allocation per delivered event at low rates.
	startWriter func()
}

// entry is one subscription of a connection.
type entry struct {
	sub      *hub.Subscription
	envelope bool // frames are envelopes rather than the backend's data
	finished bool // its terminal event was written; owned by the running writer
}

// subscribe adds a subscription; on failure it closes the connection with a reason and returns false.
func (c *conn) subscribe(session string, after uint64, envelope bool) bool {
	c.mu.Lock()
	full := len(c.subs) >= c.cfg.MaxSessions
	c.mu.Unlock()
	if full {
		c.closeWith(websocket.ClosePolicyViolation, "too many sessions on one connection")
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.WriteTimeout)
	defer cancel()
	sub, err := c.h.hub.Subscribe(ctx, session, hub.Options{
		After: after, Transport: transport.WebSocket, Notify: c.wake,
	})
	if err != nil {
		_, msg := transport.SubscribeStatus(err)
		c.closeWith(websocket.CloseTryAgainLater, msg)
		return false
	}
	if st := sub.State(); st.Finished && after >= st.TerminalSeq {
		sub.Close()
		c.closeWith(websocket.CloseNormalClosure, "session finished")
		return false
	}
	c.mu.Lock()
	if c.ended || c.closing {
		c.mu.Unlock()
		sub.Close()
		return false
	}
	c.subs = append(c.subs, &entry{sub: sub, envelope: envelope})
	c.mu.Unlock()
	c.wake() // history may already be queued
	return true
}

// wake makes sure a writer runs. The hub calls it under its locks: it never blocks.
func (c *conn) wake() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	if c.writing {
		c.again = true
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	go c.startWriter()
}

// writeLoop writes until there is nothing left to write.
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		c.again = false
		subs := c.subs
		closing, code, text := c.closing, c.closeCode, c.closeText
		c.mu.Unlock()

		var err error
		if closing {
			err = c.sendClose(code, text)
		} else {
			err = c.writeEvents(subs)
		}
		if err != nil {
			if isTimeout(err) {
				c.dropSlow()
				c.end("too slow: no write within write_timeout")
			} else {
				c.end("write failed: " + err.Error())
			}
			return
		}

		c.mu.Lock()
		if !c.again || c.ended {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// writeEvents writes every queued event of every subscription in one flush, then decides whether
// the connection is finished.
func (c *conn) writeEvents(subs []*entry) error {
	bw := c.raw.Begin(c.cfg.WriteTimeout)
	var written []*event.Event
	live, dropped := 0, error(nil)
	for _, e := range subs {
		if e.finished {
			continue
		}
		c.batch = e.sub.Next(c.batch)
		for _, ev := range c.batch {
			_, _ = bw.Write(frame(ev, e.envelope)) // an error sticks until End reports it
			e.finished = e.finished || ev.Terminal
		}
		if c.cfg.Observe != nil {
			written = append(written, c.batch...)
		}
		select {
		case <-e.sub.Done():
			if e.sub.Len() == 0 && !e.finished {
				dropped = e.sub.Err()
			}
		default:
		}
		if !e.finished {
			live++
		}
	}
	if err := c.raw.End(); err != nil {
		return err
	}
	if c.cfg.Observe != nil {
		now := time.Now()
		for _, ev := range written {
			c.cfg.Observe(transport.WebSocket, ev, now.Sub(ev.Time))
		}
	}
	switch {
	case errors.Is(dropped, hub.ErrShutdown):
		c.closeWith(websocket.CloseGoingAway, "relay shutting down")
	case errors.Is(dropped, hub.ErrSlowConsumer):
		c.closeWith(websocket.CloseTryAgainLater, "too slow: reconnect and resume from your last seq")
	case live == 0 && len(subs) > 0:
		c.closeWith(websocket.CloseNormalClosure, "session finished")
	}
	return nil
}

// frame returns ev as a whole WebSocket text frame, built once per event and shared by all
// connections.
func frame(ev *event.Event, envelope bool) []byte {
	if envelope {
		return ev.Memo(event.SlotWSEnvelope, envelopeFrame).([]byte)
	}
	return ev.Memo(event.SlotWSData, dataFrame).([]byte)
}

func dataFrame(ev *event.Event) any { return textFrame(ev.Data) }

func envelopeFrame(ev *event.Event) any { return textFrame(ev.Envelope()) }

func textFrame(payload []byte) []byte {
	b := wswire.AppendFrameHeader(make([]byte, 0, 10+len(payload)), wswire.OpText, len(payload))
	return append(b, payload...)
}

// closeWith queues a close frame; the connection ends when the client answers or after a second.
func (c *conn) closeWith(code int, text string) {
	text = clip(text, maxCloseReason)
	c.mu.Lock()
	if c.closing || c.ended {
		c.mu.Unlock()
		return
	}
	c.closing, c.closeCode, c.closeText = true, code, text
	c.mu.Unlock()
	c.wake()
}

func (c *conn) sendClose(code int, text string) error {
	msg := websocket.FormatCloseMessage(code, text)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
		return err
	}
	// The reader ends the connection when the client's close frame arrives; do not wait on a
	// client that never sends one.
	time.AfterFunc(time.Second, func() { c.end("closed: " + text + " (no answer to the close frame)") })
	return nil
}

// isTimeout reports a write deadline that passed. gorilla re-wraps network errors, keeping only
// their Timeout method.
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// dropSlow marks every subscription as dropped for slowness before the connection ends.
func (c *conn) dropSlow() {
	c.mu.Lock()
	subs := c.subs
	c.mu.Unlock()
	for _, e := range subs {
		e.sub.DropSlow()
	}
}

// end releases everything once: subscriptions, the keepalive timer and the socket, and logs why.
func (c *conn) end(reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	if c.closing {
		reason = "closed: " + c.closeText
	}
	subs := c.subs
	c.subs = nil
	if c.ping != nil {
		c.ping.Stop()
	}
	if c.register != nil {
		c.register.Stop()
	}
	watch := c.watch
	c.mu.Unlock()
	if watch != nil {
		watch.Stop()
	}
	for _, e := range subs {
		e.sub.Close()
	}
	c.raw.Close()
	c.h.forget(c)
	c.cfg.Log.Debug("websocket disconnected", zap.String("remote", c.raw.RemoteAddr().String()),
		zap.Int("sessions", len(subs)), zap.String("reason", reason))
}

// registration is the seed protocol's subscribe message.
type registration struct {
	SessionID json.RawMessage `json:"sessionId"`
	Token     string          `json:"token"`
	After     json.RawMessage `json:"after"`
	Envelope  bool            `json:"envelope"`
}

// maxCloseReason is what fits in a close frame: 125 bytes of payload less the 2-byte code.
const maxCloseReason = 123

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
