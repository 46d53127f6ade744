package socketio

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/engine/v3/transports"

	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/transport"
)

// window is how many chunks written to the engine may await their transport's drain before a
// delivery stops taking events from the hub. Events held back stay in the hub's queue, where
// progress events collapse, instead of piling up in the engine's unbounded buffer. It is more
// than one because the engine may report a drain one flush late (a write racing its heartbeat,
// or a flush in flight during the polling→websocket upgrade), which must not stall a healthy
// socket.
const window = 4

// chunk is how many events go to the engine per drain callback. With window, it bounds what a
// subscription has in the engine's buffer (window×chunk events), and so how long one flush takes:
// a healthy but busy socket reports progress well within write_timeout.
const chunk = 32

// delivery moves one session's events from a hub subscription to one socket.
//
// It keeps no goroutine while idle: the hub's Notify starts one when the queue gets events, and
// it exits when the queue is empty again. At most one runs at a time (running), so events leave
// in seq order; sockets and sessions never wait for each other.
//
// On HTTP long-polling, events go through the engine's buffer, paced by its drain callbacks
// (window, chunk). On WebSocket, each event's cached frame is written straight to the connection,
// all queued events in one syscall, and the write itself paces the delivery: while it blocks,
// events wait in the hub's queue.
type delivery struct {
	conn    *connection
	session string
	sub     *hub.Subscription // set before armed is, then read-only

	armed   atomic.Bool   // the acknowledgement is out: events may be written
	running atomic.Bool   // a goroutine is draining the subscription
	drained chan struct{} // a value per written chunk that its transport has sent

	// run bound once: "go d.run()" would allocate a closure on every start, that is per event
	// at low rates.
	runFn func()

	// Owned by the running goroutine.
	batch    []*event.Event
	inflight int          // written chunks not yet drained
	ws       *wsTransport // set once events may go straight to the socket's WebSocket connection
}

func newDelivery(c *connection, session string) *delivery {
	d := &delivery{conn: c, session: session, drained: make(chan struct{}, window)}
	d.runFn = d.run
	return d
}

// notify is the hub's signal that events are queued or that the subscription was dropped. It runs
// under the hub's locks, so it only starts a goroutine.
func (d *delivery) notify() {
	if d.armed.Load() {
		d.start()
	}
}

// arm lets the delivery write, starting with whatever the hub queued since Subscribe (the history).
func (d *delivery) arm() {
	d.armed.Store(true)
	d.start()
}

func (d *delivery) start() {
	if d.running.CompareAndSwap(false, true) && d.conn.track() {
		go d.runFn()
	}
}

// stop releases the subscription; a running goroutine sees Done and exits.
func (d *delivery) stop() {
	if d.sub != nil {
		d.sub.Close()
	}
}

func (d *delivery) run() {
	defer d.conn.srv.deliveries.Done()
	for {
		if isClosed(d.sub.Done()) {
			d.ended()
			return
		}
		d.batch = d.sub.Next(d.batch)
		if len(d.batch) == 0 {
			d.running.Store(false)
			// Events queued between Next and the store found running set and started nothing:
			// look again, unless another goroutine already took over.
			if (d.sub.Len() == 0 && !isClosed(d.sub.Done())) || !d.running.CompareAndSwap(false, true) {
				return
			}
			continue
		}
		terminal, ok := d.write(d.batch)
		if !ok {
			return
		}
		if terminal {
			d.finish()
			return
		}
	}
}

// write writes a batch, up to and including a terminal event. It reports whether the batch ended
// the session, and false for ok when the socket is gone.
//
// On the WebSocket transport events go straight to the connection (writeDirect). The first event
// after the socket got there still goes through the engine: the engine returns from it only once
// it handed the transport everything written before, events of a polling transport that was being
// upgraded included, which must reach the client first.
func (d *delivery) write(batch []*event.Event) (terminal, ok bool) {
	st := d.conn.srv.cfg.Load()
	if d.ws == nil {
		ws, _ := d.conn.eio.Transport().(*wsTransport)
		if ws == nil {
			return d.writeToEngine(st, batch)
		}
		if terminal, ok = d.writeToEngine(st, batch[:1]); terminal || !ok {
			return terminal, ok
		}
		d.ws, batch = ws, batch[1:]
		if len(batch) == 0 || isClosed(d.sub.Done()) {
			return false, true // run sees why, when the subscription ended
		}
	}
	return d.writeDirect(st, batch)
}

// writeDirect writes events as WebSocket frames, cached on each event, straight to the socket's
// connection, in one flush. A socket that does not take them within write_timeout is dropped.
func (d *delivery) writeDirect(st *settings, batch []*event.Event) (terminal, ok bool) {
	bw := d.ws.wire.Begin(st.WriteTimeout)
	n := 0
	for _, ev := range batch {
		_, _ = bw.Write(st.wsFrame(ev)) // an error sticks until end reports it
		n++
		if ev.Terminal {
			terminal = true
			break
		}
	}
	if err := d.ws.wire.End(); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			d.dropSlow()
		} else {
			// The connection is closed or broken: the engine's reader sees it too; closing the
			// session here only makes sure that it ends now.
			d.conn.eio.Close(true)
		}
		return terminal, false
	}
	if st.Observe != nil {
		d.observe(st, batch[:n])
	}
	return terminal, true
}

// writeToEngine hands a batch to the engine in chunks, waiting after each chunk while window
// chunks are unsent.
func (d *delivery) writeToEngine(st *settings, batch []*event.Event) (terminal, ok bool) {
	for len(batch) > 0 && !terminal && !isClosed(d.sub.Done()) {
		n := min(len(batch), chunk)
		terminal = d.writeChunk(st, batch[:n])
		if st.Observe != nil {
			d.observe(st, batch[:n])
		}
		batch = batch[n:]
		d.inflight++
		if !d.await(st.WriteTimeout) {
			return terminal, false
		}
	}
	return terminal, true
}

// writeChunk queues events on the engine with a drain callback on the last one written, and
// reports whether it wrote a terminal event (the last it writes).
func (d *delivery) writeChunk(st *settings, events []*event.Event) (terminal bool) {
	d.conn.writeMu.Lock()
	defer d.conn.writeMu.Unlock()
	for i, ev := range events {
		terminal = ev.Terminal
		var sent func(transports.Transport)
		if terminal || i == len(events)-1 {
			sent = d.sent
		}
		d.conn.eio.Write(strings.NewReader(st.packet(ev)), nil, sent)
		if terminal {
			break
		}
	}
	return terminal
}

// observe reports the events of a chunk just written, up to a terminal one.
func (d *delivery) observe(st *settings, events []*event.Event) {
	now := time.Now()
	for _, ev := range events {
		st.Observe(transport.SocketIO, ev, now.Sub(ev.Time))
		if ev.Terminal {
			return
		}
	}
}

// sent is the engine's callback once a chunk's flush was written to the client.
func (d *delivery) sent(transports.Transport) {
	select {
	case d.drained <- struct{}{}:
	default: // cannot happen: at most window chunks are unsent
	}
}

// await returns once fewer than window chunks are unsent. A socket whose transport sends nothing
// for timeout while the window is full is dropped, and await reports false, as it does when the
// socket disconnects.
func (d *delivery) await(timeout time.Duration) bool {
collect:
	for d.inflight > 0 {
		select {
		case <-d.drained:
			d.inflight--
		default:
			break collect
		}
	}
	if d.inflight < window {
		return true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for d.inflight >= window {
		select {
		case <-d.drained:
			d.inflight--
		case <-d.sub.Done():
			return true // run sees why
		case <-d.conn.ctx.Done():
			return false
		case <-timer.C:
			d.dropSlow()
			return false
		}
	}
	return true
}

// dropSlow drops a socket that did not take events within write_timeout; the hub counts it as a
// slow consumer.
func (d *delivery) dropSlow() {
	d.sub.DropSlow()
	d.conn.drop("events not sent within write_timeout")
}

// finish ends the delivery after the terminal event; the socket stays connected.
func (d *delivery) finish() {
	d.conn.release(d)
	d.sub.Close()
}

// ended handles a subscription that is over. The hub drops one only when it cannot deliver (the
// subscriber fell too far behind, or the relay is stopping): the socket is dropped too, so that
// the client reconnects and resumes rather than wait for events that will not come.
func (d *delivery) ended() {
	if err := d.sub.Err(); err != nil {
		d.conn.drop("session " + d.session + ": " + err.Error())
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
