// Package hub fans sequenced events out to the subscribers of each session on this node.
//
// The broker sequences and stores; the hub only delivers. For every session that has local
// subscribers it tracks the last seq it fanned out, so that whatever the broker does (a lost
// pub/sub message, a reconnect, a repeat) subscribers see each session's events in seq order,
// without gaps or duplicates: repeats are dropped and gaps are filled from the broker's history.
package hub

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// Errors returned by Subscribe or reported by Subscription.Err.
var (
	ErrTooManySubscribers = errors.New("too many subscribers on this node")
	ErrSessionFull        = errors.New("too many subscribers for this session")
	ErrShutdown           = errors.New("relay shutting down")
	ErrSlowConsumer       = errors.New("subscriber too slow: queue overflow")
)

// Config holds the hub's settings; a reload may replace them with SetConfig.
type Config struct {
	QueueSize      int      // events queued per subscriber before progress events collapse
	Collapse       []string // event types that are states, so only the latest matters
	MaxSubscribers int      // per node; 0 means no limit
	MaxPerSession  int      // per session; 0 means no limit
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{QueueSize: 256, Collapse: []string{"progress"}, MaxSubscribers: 100000}
}

// Watcher is told when a session gets its first subscriber on this node and when its last one
// leaves. Calls are paired but may arrive out of order across sessions' lifetimes, so a watcher
// counts rather than toggles.
type Watcher interface {
	Watch(session string)
	Unwatch(session string)
}

// Hub delivers a broker's events to subscriptions.
type Hub struct {
	broker broker.Broker
	cfg    atomic.Pointer[Config]

	mu       sync.RWMutex // guards sessions, closed and watchers
	sessions map[string]*session
	closed   bool
	watchers []Watcher

	subscribers atomic.Int64
	transports  sync.Map // transport name -> *atomic.Int64 of open subscriptions
	collapsed   atomic.Uint64
	kicked      atomic.Uint64
	gapFills    atomic.Uint64
	refused     atomic.Uint64 // subscriptions refused for a node or session limit

	ctx    context.Context // ends at Shutdown; bounds background fills
	cancel context.CancelFunc
}

// New returns a hub over b and starts b delivering to it.
func New(b broker.Broker, cfg Config) (*Hub, error) {
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{broker: b, sessions: make(map[string]*session), ctx: ctx, cancel: cancel}
	h.SetConfig(cfg)
	h.watchers = []Watcher{b}
	if err := b.Start(h); err != nil {
		cancel()
		return nil, err
	}
	return h, nil
}

// SetConfig replaces the settings; existing subscriptions pick them up on their next event.
func (h *Hub) SetConfig(cfg Config) {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultConfig().QueueSize
	}
	h.cfg.Store(&cfg)
}

// Broker returns the broker the hub delivers from.
func (h *Hub) Broker() broker.Broker { return h.broker }

// AddWatcher registers w for first-subscriber / last-subscriber notices.
func (h *Hub) AddWatcher(w Watcher) {
	h.mu.Lock()
	h.watchers = append(h.watchers, w)
	h.mu.Unlock()
}

func (h *Hub) collapsible(typ string) bool {
	for _, t := range h.cfg.Load().Collapse {
		if t == typ {
			return true
		}
	}
	return false
}

// Deliver implements broker.Sink.
func (h *Hub) Deliver(ev *event.Event) {
	h.mu.RLock()
	s := h.sessions[ev.Session]
	h.mu.RUnlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	s.accept(ev)
	s.mu.Unlock()
}

// Resync implements broker.Sink: after a broker reconnect, every watched session re-reads what it
// may have missed.
func (h *Hub) Resync() {
	for _, s := range h.snapshot() {
		s.mu.Lock()
		switch {
		case s.dead:
		case s.known:
			s.startFill()
		default:
			s.stale = true // its first history read may predate the reconnect
		}
		s.mu.Unlock()
	}
}

func (h *Hub) snapshot() []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s)
	}
	return out
}

// Stats is a point-in-time view for the health endpoint and metrics.
type Stats struct {
	Sessions    int            // sessions with subscribers on this node
	Subscribers map[string]int // open subscriptions by transport
	Collapsed   uint64         // events collapsed into a later progress event, in total
	Kicked      uint64         // subscriptions dropped as too slow, in total
	GapFills    uint64         // history reads made to fill a gap, in total
	Refused     uint64         // subscriptions refused for a node or session limit, in total
}

// Stats returns current counts.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	n := len(h.sessions)
	h.mu.RUnlock()
	st := Stats{Sessions: n, Subscribers: map[string]int{}, Collapsed: h.collapsed.Load(),
		Kicked: h.kicked.Load(), GapFills: h.gapFills.Load(), Refused: h.refused.Load()}
	h.transports.Range(func(k, v any) bool {
		st.Subscribers[k.(string)] = int(v.(*atomic.Int64).Load())
		return true
	})
	return st
}

func (h *Hub) transportCount(name string) *atomic.Int64 {
	if v, ok := h.transports.Load(name); ok {
		return v.(*atomic.Int64)
	}
	v, _ := h.transports.LoadOrStore(name, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// Shutdown ends every subscription with ErrShutdown and refuses new ones. Transports react by
// closing their connections (WebSocket 1001, end of SSE stream, long-poll answer).
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	for _, s := range h.snapshot() {
		s.mu.Lock()
		for _, sub := range s.subs {
			sub.kick(ErrShutdown)
		}
		s.mu.Unlock()
	}
}

// Close shuts the hub down and closes its broker.
func (h *Hub) Close() error {
	h.Shutdown()
	return h.broker.Close()
}

// fillBackoff bounds retries of a history read that failed (the broker is down).
var fillBackoff = struct{ min, max time.Duration }{50 * time.Millisecond, 5 * time.Second}
