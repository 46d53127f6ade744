package webhook

import (
	"sync"
	"time"
)

// sweepEvery is how often idle clients are forgotten. A client whose allowance has refilled
// completely behaves exactly like an unknown one, so forgetting it changes nothing but memory.
const sweepEvery = time.Minute

// limiter is a token bucket of events per client key, kept as the time at which each client's
// charged events are paid off (GCRA), so that the arithmetic is exact integer durations.
//
// A request may cost more than the burst (a batch): it passes when the bucket holds
// min(cost, burst) and leaves the client in debt, so the long-run rate holds for batches too and
// a batch larger than the burst is not refused forever.
type limiter struct {
	interval time.Duration // one event's worth of time: 1s / rate
	burst    int
	now      func() time.Time

	mu        sync.Mutex           // guards paidOff and lastSweep
	paidOff   map[string]time.Time // per client: when its bucket is full again
	lastSweep time.Time
}

// newLimiter returns nil when rate is 0: a nil limiter allows everything.
func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{
		interval:  max(1, time.Duration(float64(time.Second)/rate)),
		burst:     burst,
		now:       now,
		paidOff:   make(map[string]time.Time),
		lastSweep: now(),
	}
}

// take charges cost events to key. It returns 0 when they may pass, or how long to wait first.
func (l *limiter) take(key string, cost int) time.Duration {
	if l == nil {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	paid := l.paidOff[key]
	if paid.Before(now) {
		paid = now
	}
	// The bucket holds burst - debt/interval tokens; it must hold min(cost, burst).
	need := min(cost, l.burst)
	if wait := paid.Sub(now) - time.Duration(l.burst-need)*l.interval; wait > 0 {
		return wait
	}
	l.paidOff[key] = paid.Add(time.Duration(cost) * l.interval)
	return 0
}

// sweep forgets the clients whose buckets are full. l.mu is held.
func (l *limiter) sweep(now time.Time) {
	for key, paid := range l.paidOff {
		if !paid.After(now) {
			delete(l.paidOff, key)
		}
	}
	l.lastSweep = now
}
