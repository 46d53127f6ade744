package broker

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
)

const memoryShards = 64

// Memory is the embedded, single-node broker. Sessions are spread over shards so that imports
// do not contend with each other; a batch that spans sessions locks its shards in index order, so
// it is still applied whole or not at all.
type Memory struct {
	opts     atomic.Pointer[Options]
	seed     maphash.Seed
	shards   [memoryShards]memShard
	sessions atomic.Int64
	sink     Sink // set once by Start, before any Publish
	stop     chan struct{}
	stopOnce sync.Once
}

type memShard struct {
	mu       sync.Mutex // guards both maps and every memSession in them
	sessions map[string]*memSession
	watchers map[string]int // sessions with subscribers on this node; they never expire idle
}

type memSession struct {
	last        uint64
	history     ring[*event.Event]
	ids         map[string]struct{} // recent source IDs, for duplicate suppression
	idOrder     ring[string]        // the same IDs, oldest first, to forget them in order
	finished    bool
	terminalSeq uint64
	touched     time.Time // last publish, or when it finished
}

// NewMemory returns a memory broker with o (see Defaults).
func NewMemory(o Options) *Memory {
	m := &Memory{seed: maphash.MakeSeed(), stop: make(chan struct{})}
	for i := range m.shards {
		m.shards[i].sessions = make(map[string]*memSession)
		m.shards[i].watchers = make(map[string]int)
	}
	m.SetOptions(o)
	return m
}

// SetOptions replaces the options; a config reload calls it. Histories shrink lazily on the next
// publish to their session.
func (m *Memory) SetOptions(o Options) {
	if o.Now == nil {
		o.Now = time.Now
	}
	m.opts.Store(&o)
}

// Name implements Broker.
func (m *Memory) Name() string { return "memory" }

// Start implements Broker. It also starts the janitor that expires sessions.
func (m *Memory) Start(sink Sink) error {
	m.sink = sink
	go m.janitor()
	return nil
}

func (m *Memory) shardOf(session string) int {
	return int(maphash.String(m.seed, session) % memoryShards)
}

// Publish implements Broker.
func (m *Memory) Publish(_ context.Context, in []event.Input) (Result, error) {
	select {
	case <-m.stop:
		return Result{}, ErrClosed
	default:
	}
	o := m.opts.Load()

	// Lock every shard the batch touches, in index order so that concurrent batches cannot deadlock.
	idx := make([]int, 0, 1)
	for i := range in {
		idx = append(idx, m.shardOf(in[i].Session))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		m.shards[i].mu.Lock()
	}
	defer func() {
		for _, i := range idx {
			m.shards[i].mu.Unlock()
		}
	}()

	dup, err := m.check(o, in)
	if err != nil {
		return Result{}, err
	}
	res := Result{Events: make([]*event.Event, 0, len(in)-countTrue(dup))}
	now := o.Now()
	for i := range in {
		if dup[i] {
			res.Duplicates++
			continue
		}
		res.Events = append(res.Events, m.apply(o, &in[i], now))
	}
	// Deliver while the shards are still locked, so the sink sees each session in seq order.
	for _, ev := range res.Events {
		m.sink.Deliver(ev)
	}
	return res, nil
}

// check decides, without changing anything, which inputs are duplicates and whether the batch
// may be applied: a batch with an event for a finished session or one session too many is refused.
func (m *Memory) check(o *Options, in []event.Input) ([]bool, error) {
	dup := make([]bool, len(in))
	type staged struct {
		finished bool
		ids      map[string]struct{}
	}
	var batch map[string]*staged // only built for batches of more than one event
	if len(in) > 1 {
		batch = make(map[string]*staged)
	}
	newSessions := 0
	for i := range in {
		ev := &in[i]
		s := m.shards[m.shardOf(ev.Session)].sessions[ev.Session]
		var st *staged
		if batch != nil {
			st = batch[ev.Session]
			if st == nil {
				st = &staged{}
				batch[ev.Session] = st
				if s == nil {
					newSessions++
				}
			}
		} else if s == nil {
			newSessions++
		}
		if ev.ID != "" {
			_, seen := s.idSeen(ev.ID)
			if !seen && st != nil {
				_, seen = st.ids[ev.ID]
			}
			if seen {
				dup[i] = true
				continue
			}
			if st != nil {
				if st.ids == nil {
					st.ids = make(map[string]struct{})
				}
				st.ids[ev.ID] = struct{}{}
			}
		}
		if (s != nil && s.finished) || (st != nil && st.finished) {
			return nil, &FinishedError{Session: ev.Session}
		}
		if st != nil && o.IsTerminal(ev.Type) {
			st.finished = true
		}
	}
	if o.MaxSessions > 0 && newSessions > 0 && int(m.sessions.Load())+newSessions > o.MaxSessions {
		return nil, ErrTooManySessions
	}
	return dup, nil
}

func (s *memSession) idSeen(id string) (struct{}, bool) {
	if s == nil || s.ids == nil {
		return struct{}{}, false
	}
	v, ok := s.ids[id]
	return v, ok
}

// apply sequences one checked input. The shard of in.Session is locked.
func (m *Memory) apply(o *Options, in *event.Input, now time.Time) *event.Event {
	sh := &m.shards[m.shardOf(in.Session)]
	s := sh.sessions[in.Session]
	if s == nil {
		s = &memSession{}
		sh.sessions[in.Session] = s
		m.sessions.Add(1)
	}
	s.last++
	ev := &event.Event{
		Session:  in.Session,
		Seq:      s.last,
		Type:     in.Type,
		ID:       in.ID,
		Data:     in.Data,
		Time:     now,
		Terminal: o.IsTerminal(in.Type),
	}
	s.history.push(ev, o.History)
	if in.ID != "" && o.DedupWindow > 0 {
		if s.ids == nil {
			s.ids = make(map[string]struct{})
		}
		if old, evicted := s.idOrder.push(in.ID, o.DedupWindow); evicted {
			delete(s.ids, old)
		}
		s.ids[in.ID] = struct{}{}
	}
	if ev.Terminal {
		s.finished = true
		s.terminalSeq = ev.Seq
	}
	s.touched = now
	return ev
}

// History implements Broker.
func (m *Memory) History(_ context.Context, session string, after uint64) ([]*event.Event, State, error) {
	sh := &m.shards[m.shardOf(session)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.sessions[session]
	if s == nil {
		return nil, State{}, nil
	}
	st := State{Last: s.last, Finished: s.finished, TerminalSeq: s.terminalSeq}
	if after >= s.last {
		return nil, st, nil
	}
	var out []*event.Event
	s.history.each(func(ev *event.Event) {
		if ev.Seq > after {
			out = append(out, ev)
		}
	})
	return out, st, nil
}

// Watch implements Broker: a watched session does not expire while idle.
func (m *Memory) Watch(session string) {
	sh := &m.shards[m.shardOf(session)]
	sh.mu.Lock()
	sh.watchers[session]++
	sh.mu.Unlock()
}

// Unwatch implements Broker.
func (m *Memory) Unwatch(session string) {
	sh := &m.shards[m.shardOf(session)]
	sh.mu.Lock()
	if sh.watchers[session] <= 1 {
		delete(sh.watchers, session)
	} else {
		sh.watchers[session]--
	}
	sh.mu.Unlock()
}

// Health implements Broker: the memory broker is healthy until closed.
func (m *Memory) Health(context.Context) error {
	select {
	case <-m.stop:
		return ErrClosed
	default:
		return nil
	}
}

// Sessions implements Broker.
func (m *Memory) Sessions() int { return int(m.sessions.Load()) }

// Close implements Broker.
func (m *Memory) Close() error {
	m.stopOnce.Do(func() { close(m.stop) })
	return nil
}

// janitor expires sessions on a period short enough to honour the TTLs within a few percent.
func (m *Memory) janitor() {
	for {
		o := m.opts.Load()
		period := min(o.SessionTTL, o.IdleTTL) / 10
		period = max(period, time.Second)
		period = min(period, time.Minute)
		t := time.NewTimer(period)
		select {
		case <-m.stop:
			t.Stop()
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Sweep removes finished sessions older than SessionTTL and idle, unwatched sessions older than
// IdleTTL. The janitor calls it; tests call it with an injected clock.
func (m *Memory) Sweep() {
	o := m.opts.Load()
	now := o.Now()
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for id, s := range sh.sessions {
			age := now.Sub(s.touched)
			expired := (s.finished && age >= o.SessionTTL) ||
				(!s.finished && age >= o.IdleTTL && sh.watchers[id] == 0)
			if expired {
				delete(sh.sessions, id)
				m.sessions.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}
