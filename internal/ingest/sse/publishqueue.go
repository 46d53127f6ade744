package sse

import (
	"errors"
	"sync"

	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// publishQueue carries one teed response's events to the broker, in order, on its own goroutine,
// so that a slow broker delays publishing, never the response.
type publishQueue struct {
	tap  *Tap
	log  *zap.Logger
	wake chan struct{} // has a value when items or closed changed

	mu     sync.Mutex // guards items, closed and warned
	items  []event.Input
	closed bool
	warned bool // a drop was logged already
}

func newPublishQueue(tp *Tap, session string) *publishQueue {
	return &publishQueue{tap: tp, log: tp.log.With(zap.String("session", session)), wake: make(chan struct{}, 1)}
}

// push queues in. When the broker has fallen Queue events behind, an event of a non-terminal type
// is dropped instead: blocking would hold the client's stream back.
func (q *publishQueue) push(in event.Input) {
	q.mu.Lock()
	drop := len(q.items) >= q.tap.cfg.Queue && !isTerminal(q.tap.cfg.Terminal, in.Type)
	if !drop {
		q.items = append(q.items, in)
		q.tap.queued.Add(1)
	}
	warn := drop && !q.warned
	q.warned = q.warned || drop
	q.mu.Unlock()
	if drop {
		q.tap.dropped.Add(1)
		if warn {
			q.log.Warn("broker too slow for a teed SSE response: dropping events (further drops are counted, not logged)",
				zap.Int("queue", q.tap.cfg.Queue))
		}
		return
	}
	q.signal()
}

// close lets run end once the queue is empty.
func (q *publishQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *publishQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run publishes queued events until the queue is closed and empty, or the Tap's context ends.
func (q *publishQueue) run() {
	var batch []event.Input
	for {
		q.mu.Lock()
		batch, q.items = q.items, batch[:0]
		closed := q.closed
		q.mu.Unlock()
		for i := range batch {
			q.publish(batch[i])
			q.tap.queued.Add(-1)
		}
		if len(batch) > 0 {
			clear(batch)
			continue
		}
		if closed {
			return
		}
		select {
		case <-q.wake:
		case <-q.tap.ctx.Done():
			return
		}
	}
}

func (q *publishQueue) publish(in event.Input) {
	res, err := q.tap.pub.publish(q.tap.ctx, in)
	switch {
	case errors.Is(err, broker.ErrFinished):
		q.log.Debug("teed event after the session finished: dropped", zap.String("type", in.Type))
	case err != nil:
		if q.tap.ctx.Err() == nil {
			q.log.Error("publishing a teed event failed", zap.Error(err))
		}
	default:
		q.tap.eventsIn.Add(uint64(len(res.Events)))
		q.tap.duplicates.Add(uint64(res.Duplicates))
		if q.tap.cfg.Published != nil {
			q.tap.cfg.Published(len(res.Events))
		}
	}
}
