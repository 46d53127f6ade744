package hub

import (
	"context"
	"slices"
	"sync"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// Options describe a new subscription.
type Options struct {
	After     uint64 // deliver events with Seq > After; 0 means all kept history
	Transport string // "websocket", "sse", "poll", "socketio": for counts and metrics
	// Notify, when set, is called instead of signalling Ready when the queue goes from empty to
	// non-empty or the subscription is dropped. It runs under the hub's locks, so it must not block
	// or call back into the subscription; it lets a transport keep no goroutine per idle subscriber.
	Notify func()
}

// Subscription is one subscriber's view of one session: a bounded queue that the hub fills and the
// transport drains. A transport loops: wait on Ready (or Done), take a batch with Next, write it,
// and stop after writing a Terminal event; it calls Close when it is finished, whatever the reason.
type Subscription struct {
	hub       *Hub
	sess      *session
	transport string
	state     broker.State // the session's state when the subscription was made

	syncing bool           // history not yet merged; guarded by sess.mu
	early   []*event.Event // live events that arrived while syncing; guarded by sess.mu

	mu        sync.Mutex // guards queue, cursor, err, closed
	queue     []*event.Event
	cursor    uint64 // highest seq queued (or skipped as before After)
	err       error
	closed    bool
	ready     chan struct{} // has a value when the queue went from empty to non-empty
	notify    func()        // replaces ready when set
	done      chan struct{} // closed when the hub drops the subscription
	closeOnce sync.Once
}

// Subscribe creates a subscription to session. It first registers, so that nothing published from
// now on is missed, then reads the history after opts.After from the broker and queues it ahead of
// anything live. The caller must Close the subscription.
func (h *Hub) Subscribe(ctx context.Context, session string, opts Options) (*Subscription, error) {
	cfg := h.cfg.Load()
	if cfg.MaxSubscribers > 0 && h.subscribers.Add(1) > int64(cfg.MaxSubscribers) {
		h.subscribers.Add(-1)
		h.refused.Add(1)
		return nil, ErrTooManySubscribers
	} else if cfg.MaxSubscribers <= 0 {
		h.subscribers.Add(1)
	}
	sub := &Subscription{
		hub:       h,
		transport: opts.Transport,
		cursor:    opts.After,
		syncing:   true,
		done:      make(chan struct{}),
		notify:    opts.Notify,
	}
	if sub.notify == nil {
		sub.ready = make(chan struct{}, 1)
	}
	if err := h.register(sub, session, cfg); err != nil {
		h.subscribers.Add(-1)
		return nil, err
	}
	h.transportCount(opts.Transport).Add(1)

	evs, st, err := h.broker.History(ctx, session, opts.After)
	if err != nil {
		sub.Close()
		return nil, err
	}
	s := sub.sess
	s.mu.Lock()
	if !s.known {
		s.known = true
		s.last = st.Last
		s.release()
		if len(s.pending) > 0 || s.stale {
			s.stale = false
			s.startFill()
		}
	}
	sub.state = st
	// History is already bounded by the broker's ring, so it may exceed the queue: a late joiner
	// gets all of it rather than being dropped for a backlog it did not cause.
	for _, ev := range evs {
		sub.push(ev, 0)
	}
	sub.syncing = false
	for _, ev := range sub.early {
		sub.offer(ev)
	}
	sub.early = nil
	s.mu.Unlock()
	return sub, nil
}

// register adds sub to its session, creating the session if this is its first subscriber here.
func (h *Hub) register(sub *Subscription, id string, cfg *Config) error {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return ErrShutdown
		}
		s, existed := h.sessions[id]
		if !existed {
			s = &session{id: id, hub: h}
			h.sessions[id] = s
		}
		watchers := h.watchers
		h.mu.Unlock()
		if !existed {
			// Outside h.mu: a broker delivering under its own lock takes h.mu.
			for _, w := range watchers {
				w.Watch(id)
			}
		}

		s.mu.Lock()
		if s.dead {
			s.mu.Unlock()
			continue
		}
		if cfg.MaxPerSession > 0 && len(s.subs) >= cfg.MaxPerSession {
			empty := len(s.subs) == 0
			s.mu.Unlock()
			if empty {
				h.dropSession(s)
			}
			h.refused.Add(1)
			return ErrSessionFull
		}
		sub.sess = s
		s.subs = append(s.subs, sub)
		s.mu.Unlock()
		return nil
	}
}

// dropSession removes s from the hub if it has no subscribers left.
func (h *Hub) dropSession(s *session) {
	s.mu.Lock()
	if s.dead || len(s.subs) > 0 {
		s.mu.Unlock()
		return
	}
	s.dead = true
	s.pending = nil
	s.mu.Unlock()

	h.mu.Lock()
	if h.sessions[s.id] == s {
		delete(h.sessions, s.id)
	}
	watchers := h.watchers
	h.mu.Unlock()
	for _, w := range watchers {
		w.Unwatch(s.id)
	}
}

// offer queues ev unless the subscriber already has it. sess.mu is held.
func (sub *Subscription) offer(ev *event.Event) {
	if sub.syncing {
		sub.early = append(sub.early, ev)
		return
	}
	sub.push(ev, sub.hub.cfg.Load().QueueSize)
}

// push queues ev, collapsing progress events when the queue holds limit events (0: no limit).
func (sub *Subscription) push(ev *event.Event, limit int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed || ev.Seq <= sub.cursor {
		return
	}
	sub.cursor = ev.Seq
	if limit > 0 && len(sub.queue) >= limit && !sub.makeRoom(ev, limit) {
		sub.kickLocked(ErrSlowConsumer)
		return
	}
	wasEmpty := len(sub.queue) == 0
	sub.queue = append(sub.queue, ev)
	if wasEmpty {
		sub.signal()
	}
}

func (sub *Subscription) signal() {
	if sub.notify != nil {
		sub.notify()
		return
	}
	select {
	case sub.ready <- struct{}{}:
	default:
	}
}

// makeRoom collapses queued progress events so that ev fits: a progress event is a state, so a
// newer one replaces the queued ones. Terminal events always fit. sub.mu is held.
func (sub *Subscription) makeRoom(ev *event.Event, limit int) bool {
	h := sub.hub
	evCollapsible := !ev.Terminal && h.collapsible(ev.Type)
	// Keep the newest queued collapsible event unless ev itself supersedes it.
	keepLast := !evCollapsible
	lastIdx := -1
	if keepLast {
		for i := len(sub.queue) - 1; i >= 0; i-- {
			if q := sub.queue[i]; !q.Terminal && h.collapsible(q.Type) {
				lastIdx = i
				break
			}
		}
	}
	before := len(sub.queue)
	kept := sub.queue[:0]
	for i, q := range sub.queue {
		if !q.Terminal && h.collapsible(q.Type) && i != lastIdx {
			continue
		}
		kept = append(kept, q)
	}
	clear(sub.queue[len(kept):])
	sub.queue = kept
	if n := before - len(kept); n > 0 {
		h.collapsed.Add(uint64(n))
	}
	return len(sub.queue) < limit || ev.Terminal
}

// Ready has a value when events are waiting for Next. It is nil when Options.Notify was set.
func (sub *Subscription) Ready() <-chan struct{} { return sub.ready }

// Done is closed when the hub dropped the subscription; Err says why.
func (sub *Subscription) Done() <-chan struct{} { return sub.done }

// Err is why the subscription was dropped: ErrSlowConsumer or ErrShutdown; nil while it runs.
func (sub *Subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// State is the session's state when the subscription was made: a transport answers 204 or
// done=true from it when the client is already past the terminal event.
func (sub *Subscription) State() broker.State { return sub.state }

// Session is the subscribed session's ID.
func (sub *Subscription) Session() string { return sub.sess.id }

// Next moves the queued events into a batch and returns it. buf is the caller's previous batch:
// it becomes the new queue, so a steady stream of events allocates nothing. The returned slice is
// the caller's until it passes it back.
func (sub *Subscription) Next(buf []*event.Event) []*event.Event {
	clear(buf)
	sub.mu.Lock()
	out := sub.queue
	sub.queue = buf[:0]
	sub.mu.Unlock()
	return out
}

// Len is the number of queued events.
func (sub *Subscription) Len() int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return len(sub.queue)
}

// DropSlow records that the transport dropped this subscriber for not taking a write within its
// deadline, so that it counts with the hub's other slow-consumer drops.
func (sub *Subscription) DropSlow() { sub.kick(ErrSlowConsumer) }

// kick drops the subscription with err; the transport sees Done and closes its connection.
func (sub *Subscription) kick(err error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.kickLocked(err)
}

func (sub *Subscription) kickLocked(err error) {
	if sub.closed {
		return
	}
	sub.closed = true
	sub.err = err
	sub.queue = nil
	if err == ErrSlowConsumer {
		sub.hub.kicked.Add(1)
	}
	close(sub.done)
	if sub.notify != nil {
		sub.notify()
	}
}

// Close releases the subscription. It is safe to call more than once.
func (sub *Subscription) Close() {
	sub.closeOnce.Do(func() {
		sub.mu.Lock()
		if !sub.closed {
			sub.closed = true
			close(sub.done)
		}
		sub.queue = nil
		sub.mu.Unlock()

		h, s := sub.hub, sub.sess
		h.subscribers.Add(-1)
		h.transportCount(sub.transport).Add(-1)
		s.mu.Lock()
		if i := slices.Index(s.subs, sub); i >= 0 {
			s.subs = slices.Delete(s.subs, i, i+1)
		}
		empty := len(s.subs) == 0
		s.mu.Unlock()
		if empty {
			h.dropSession(s)
		}
	})
}
