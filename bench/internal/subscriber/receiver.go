package subscriber

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/metrics"
)

// Receiver checks one subscriber's stream: every n the publisher sent for its session arrives
// once (loss and duplicates by n), seqs, where the transport carries them, follow one another
// without gaps or repeats, and each event's publish→receive latency goes to the shared histogram.
// Only the subscriber's reader goroutine calls Event; the counters are read from others.
type Receiver struct {
	Session string
	lat     *metrics.Histogram

	mu      sync.Mutex // guards seen, base, lastSeq against Reset and Tally
	seen    []uint64   // bitmap of n - base - 1
	base    uint64
	lastSeq uint64

	distinct atomic.Uint64
	dups     atomic.Uint64
	seqGaps  atomic.Uint64
	seqDups  atomic.Uint64
	bad      atomic.Uint64 // events the tool could not read
}

// NewReceiver returns a receiver for session recording latencies into lat.
func NewReceiver(session string, lat *metrics.Histogram) *Receiver {
	return &Receiver{Session: session, lat: lat}
}

// Event records one received event; seq is 0 when the transport does not carry it.
func (r *Receiver) Event(data []byte, seq uint64, now time.Time) {
	sentAt, n, ok := scanEvent(data)
	if !ok {
		r.bad.Add(1)
		return
	}
	r.mu.Lock()
	if seq != 0 {
		switch {
		case r.lastSeq != 0 && seq <= r.lastSeq:
			r.seqDups.Add(1)
		case r.lastSeq != 0 && seq > r.lastSeq+1:
			r.seqGaps.Add(seq - r.lastSeq - 1)
		}
		if seq > r.lastSeq {
			r.lastSeq = seq
		}
	}
	dup := false
	if n > r.base {
		i := n - r.base - 1
		w := int(i / 64)
		if w >= len(r.seen) {
			grown := make([]uint64, max(w+1, 2*len(r.seen)))
			copy(grown, r.seen)
			r.seen = grown
		}
		bit := uint64(1) << (i % 64)
		dup = r.seen[w]&bit != 0
		r.seen[w] |= bit
	} else {
		dup = true // from before the current measurement: delivered again
	}
	lat := r.lat
	r.mu.Unlock()
	if dup {
		r.dups.Add(1)
		return
	}
	r.distinct.Add(1)
	lat.Record(now.Sub(time.Unix(0, sentAt)))
}

// Reset starts a new measurement in which the publisher numbers this session's events from
// base+1, recording latencies into lat. It must not run while events of the previous
// measurement may still arrive.
func (r *Receiver) Reset(base uint64, lat *metrics.Histogram) {
	r.mu.Lock()
	clear(r.seen)
	r.base = base
	r.lat = lat
	r.mu.Unlock()
	r.distinct.Store(0)
	r.dups.Store(0)
	r.seqGaps.Store(0)
	r.seqDups.Store(0)
	r.bad.Store(0)
}

// Received is the number of distinct events received in the current measurement.
func (r *Receiver) Received() uint64 { return r.distinct.Load() }

// Tally is a receiver's counts.
type Tally struct {
	Distinct, Dups, SeqGaps, SeqDups, Bad uint64
}

// Tally returns the counts of the current measurement.
func (r *Receiver) Tally() Tally {
	return Tally{Distinct: r.distinct.Load(), Dups: r.dups.Load(), SeqGaps: r.seqGaps.Load(),
		SeqDups: r.seqDups.Load(), Bad: r.bad.Load()}
}
