package hub

import (
	"slices"
	"sync"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
)

// maxPending bounds the events a session holds back while it waits for a gap to be filled; past
// it, later events are dropped here and come back from history when the fill runs.
const maxPending = 4096

// session is the hub's view of one session that has subscribers on this node.
type session struct {
	id  string
	hub *Hub

	mu      sync.Mutex      // guards everything below and the syncing buffers of its subs
	subs    []*Subscription // in join order
	known   bool            // last is established (by the first subscriber's history read)
	last    uint64          // highest seq fanned out; events arrive and leave in order from here
	pending []*event.Event  // events past a gap (or before known), sorted by seq
	filling bool            // a history read is under way to fill the gap
	stale   bool            // a Resync came while the first history read was under way
	dead    bool            // removed from the hub; a new session object replaces it
}

// accept takes one event from the broker. s.mu is held.
func (s *session) accept(ev *event.Event) {
	if s.dead {
		return
	}
	if !s.known {
		// Every subscriber is still reading history, and their reads may end at different
		// seqs: hand the event to each of them too (it lands in their early buffers, and each
		// keeps only what its own history lacks), or one whose read ended sooner would miss it.
		s.hold(ev)
		for _, sub := range s.subs {
			sub.offer(ev)
		}
		return
	}
	switch {
	case ev.Seq <= s.last:
		return // a repeat
	case ev.Seq > s.last+1:
		s.hold(ev)
		s.startFill()
		return
	}
	s.fanout(ev)
	s.release()
}

// hold keeps ev until the events before it have been delivered.
func (s *session) hold(ev *event.Event) {
	i, found := slices.BinarySearchFunc(s.pending, ev.Seq, func(e *event.Event, seq uint64) int {
		return cmpSeq(e.Seq, seq)
	})
	if found || len(s.pending) >= maxPending {
		return
	}
	s.pending = slices.Insert(s.pending, i, ev)
}

// release delivers held events that now follow on.
func (s *session) release() {
	n := 0
	for _, ev := range s.pending {
		if ev.Seq > s.last+1 {
			break
		}
		if ev.Seq == s.last+1 {
			s.fanout(ev)
		}
		n++
	}
	if n > 0 {
		clear(s.pending[:n])
		s.pending = s.pending[n:]
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
}

// fanout hands ev to every subscriber and advances last.
func (s *session) fanout(ev *event.Event) {
	s.last = ev.Seq
	for _, sub := range s.subs {
		sub.offer(ev)
	}
}

// startFill reads the broker's history after last in the background, unless a read is running.
func (s *session) startFill() {
	if s.filling {
		return
	}
	s.filling = true
	s.hub.gapFills.Add(1)
	go s.fill()
}

// fill reads history until the session has caught up with what the broker holds. It retries
// while the broker is down, as long as the session has subscribers.
func (s *session) fill() {
	wait := fillBackoff.min
	for {
		s.mu.Lock()
		after, dead := s.last, s.dead
		s.mu.Unlock()
		if dead {
			return
		}
		evs, st, err := s.hub.broker.History(s.hub.ctx, s.id, after)
		if err != nil {
			select {
			case <-s.hub.ctx.Done():
				s.mu.Lock()
				s.filling = false
				s.mu.Unlock()
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, fillBackoff.max)
			continue
		}
		s.mu.Lock()
		for _, ev := range evs {
			if ev.Seq <= s.last {
				continue
			}
			// History starts later than last+1 when the ring was trimmed: those events are gone
			// everywhere, so move on rather than wait for them.
			s.fanout(ev)
		}
		s.release()
		if len(s.pending) > 0 && st.Last < s.pending[0].Seq {
			// The broker has nothing before the held events: they follow a trimmed stretch.
			s.last = s.pending[0].Seq - 1
			s.release()
		}
		s.filling = false
		if len(s.pending) > 0 && !s.dead {
			s.startFill()
		}
		s.mu.Unlock()
		return
	}
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
