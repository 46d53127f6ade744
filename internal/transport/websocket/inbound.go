package websocket

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/progress-relay/progress-relay/internal/transport/netpoll"
)

// inbound is a connection's input state between reads. Only one reader runs at a time per
// connection (the poller re-arms a connection only after its reader is done), so it needs no lock.
type inbound struct {
	seed       bool         // the seed protocol: registrations arrive as messages
	registered atomic.Bool  // a registration succeeded (the registration timer reads it)
	lastSeen   atomic.Int64 // unix nanoseconds of the client's last bytes (the keepalive reads it)
	failed     bool         // the client broke the protocol: its input is ignored until it goes

	pending []byte // the start of a frame not yet whole
	msgOp   byte   // the opcode of a fragmented message in progress, 0 if none
	msg     []byte // its payload so far
}

// readBufs are the buffers reads land in; a connection keeps only what a read leaves unfinished.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// startReading begins reading the client: through the shared poller where the connection is a
// plain socket (no goroutine waits on an idle connection), else with a goroutine of its own.
func (c *conn) startReading(seed bool) {
	c.in.seed = seed
	c.in.lastSeen.Store(time.Now().UnixNano())
	c.startKeepalive()
	if seed {
		c.mu.Lock()
		c.register = time.AfterFunc(c.cfg.RegisterTimeout, c.registrationDue)
		c.mu.Unlock()
	}
	w := netpoll.Watch(c.raw.Conn, c.onReadable)
	if w == nil {
		go c.readBlocking()
		return
	}
	c.h.polled.Add(1)
	c.mu.Lock()
	c.watch = w
	ended := c.ended // the first read may have ended the connection already
	c.mu.Unlock()
	if ended {
		w.Stop()
	}
}

// onReadable reads what the client has sent, without waiting, handles it and asks the poller for
// the next readiness. A read of nothing is the client's close.
func (c *conn) onReadable(w *netpoll.Watcher) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	n, err := w.Read(*bp)
	switch {
	case errors.Is(err, netpoll.ErrNothing):
		// woken for nothing: wait again
	case err != nil:
		c.end("connection lost: " + err.Error())
		return
	case n == 0:
		c.end("client gone")
		return
	default:
		c.consume((*bp)[:n])
	}
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended {
		return
	}
	if err := w.Rearm(); err != nil {
		c.end("connection lost: " + err.Error())
	}
}

// registrationDue closes a seed-protocol connection that has not registered in time.
func (c *conn) registrationDue() {
	if !c.in.registered.Load() {
		c.closeWith(websocket.ClosePolicyViolation,
			fmt.Sprintf("no registration message within %s", c.cfg.RegisterTimeout))
	}
}

// readBlocking is the reader for connections the poller cannot watch (TLS, other platforms). Its
// buffer is small, as it is held for the life of the connection; consume keeps what a read leaves
// of a longer frame.
func (c *conn) readBlocking() {
	buf := make([]byte, 512)
	for {
		n, err := c.raw.Conn.Read(buf)
		if n > 0 {
			c.consume(buf[:n])
		}
		if err != nil {
			c.end("client gone: " + err.Error())
			return
		}
	}
}

// consume handles bytes read from the client: every whole frame in them, keeping the rest.
func (c *conn) consume(p []byte) {
	c.in.lastSeen.Store(time.Now().UnixNano())
	if c.in.failed {
		return
	}
	buf := p
	if len(c.in.pending) > 0 {
		c.in.pending = append(c.in.pending, p...)
		buf = c.in.pending
	}
	for len(buf) > 0 {
		f, n, perr := parseFrame(buf, c.cfg.MaxMessage)
		if perr != nil {
			c.fail(perr)
			return
		}
		if n == 0 {
			break
		}
		buf = buf[n:]
		if !c.handleFrame(f) {
			return
		}
	}
	if len(buf) == 0 {
		c.in.pending = nil
	} else {
		// p is a pooled buffer: keep a copy of the unfinished frame.
		c.in.pending = append([]byte(nil), buf...)
	}
}

// fail closes the connection for a protocol error and ignores the client's input from then on.
func (c *conn) fail(perr *protocolError) {
	c.in.failed = true
	c.in.pending, c.in.msg = nil, nil
	c.closeWith(perr.code, perr.text)
}

// handleFrame acts on one frame; it reports false when nothing more should be read.
func (c *conn) handleFrame(f inFrame) bool {
	switch f.op {
	case opPong:
		// lastSeen is all a pong is for.
	case opPing:
		if !c.isClosing() {
			if err := c.ws.WriteControl(websocket.PongMessage, f.payload, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
				c.end("pong failed: " + err.Error())
				return false
			}
		}
	case opClose:
		code, text, perr := parseClose(f.payload)
		if perr != nil {
			c.fail(perr)
			return false
		}
		c.answerClose(code)
		c.end(fmt.Sprintf("client closed (%d %s)", code, text))
		return false
	case opText, opBinary:
		if c.in.msgOp != 0 {
			c.fail(failWith(websocket.CloseProtocolError, "a message began before the previous one ended"))
			return false
		}
		if f.fin {
			c.handleMessage(f.op, f.payload)
			return true
		}
		c.in.msgOp = f.op
		c.in.msg = append([]byte(nil), f.payload...)
	case opContinuation:
		if c.in.msgOp == 0 {
			c.fail(failWith(websocket.CloseProtocolError, "continuation frame without a message"))
			return false
		}
		if int64(len(c.in.msg)+len(f.payload)) > c.cfg.MaxMessage {
			c.fail(failWith(websocket.CloseMessageTooBig, "message too big"))
			return false
		}
		c.in.msg = append(c.in.msg, f.payload...)
		if f.fin {
			op, msg := c.in.msgOp, c.in.msg
			c.in.msgOp, c.in.msg = 0, nil
			c.handleMessage(op, msg)
		}
	}
	return true
}

// answerClose echoes the client's close code unless the relay has closed first, in which case the
// client's frame is the answer to ours.
func (c *conn) answerClose(code int) {
	if c.isClosing() {
		return
	}
	var msg []byte
	if code != websocket.CloseNoStatusReceived {
		msg = websocket.FormatCloseMessage(code, "")
	}
	c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.cfg.WriteTimeout))
}

// handleMessage acts on a whole message: in the seed protocol, a registration. The by-URL form
// needs nothing from the client and ignores what it sends.
func (c *conn) handleMessage(op byte, msg []byte) {
	if !c.in.seed || c.isClosing() {
		return
	}
	if op != opText {
		c.closeWith(websocket.CloseUnsupportedData, "registration must be a JSON text message")
		return
	}
	reg, code, why := c.parseRegistration(msg)
	if code != 0 {
		c.closeWith(code, why)
		return
	}
	if c.subscribe(reg.session, reg.after, reg.envelope) {
		c.in.registered.Store(true)
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// startKeepalive pings the client every PingInterval from a timer, not a goroutine, so that an
// idle connection costs no stack, and drops a client that has sent nothing, not even a pong, for
// PingInterval+PongTimeout. gorilla allows WriteControl concurrently with other writes.
func (c *conn) startKeepalive() {
	interval := c.cfg.PingInterval
	alive := c.cfg.PingInterval + c.cfg.PongTimeout
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ping = time.AfterFunc(interval, func() {
		if time.Since(time.Unix(0, c.in.lastSeen.Load())) > alive {
			c.end("no answer to keepalive pings")
			return
		}
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
			c.end("keepalive ping failed: " + err.Error())
			return
		}
		c.mu.Lock()
		if !c.ended {
			c.ping.Reset(interval)
		}
		c.mu.Unlock()
	})
}
