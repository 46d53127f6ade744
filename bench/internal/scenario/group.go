package scenario

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/metrics"
	"github.com/progress-relay/progress-relay/bench/internal/subscriber"
	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// group is the subscribers of one transport in a measurement.
type group struct {
	transport string
	clients   []subscriber.Client
	recvs     []*subscriber.Receiver
	session   []int // index into the load's sessions, per receiver
	lat       *metrics.Histogram

	wg       sync.WaitGroup
	failures atomic.Uint64
	firstErr atomic.Pointer[string]
}

// connectConcurrency bounds connection attempts in flight.
const connectConcurrency = 64

// connect opens n subscribers of transport, spread round-robin over sessions from offset, and
// starts reading. It gives up after limit.
func connect(ctx context.Context, d *wire.Dialer, paths subscriber.Paths, transport string, sessions []string, offset, n int, limit time.Duration) (*group, error) {
	g := &group{transport: transport, lat: new(metrics.Histogram),
		clients: make([]subscriber.Client, n), recvs: make([]*subscriber.Receiver, n), session: make([]int, n)}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var next atomic.Int64
	var errOnce sync.Once
	var connErr error
	var wg sync.WaitGroup
	for range min(connectConcurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				si := (offset + i) % len(sessions)
				c, err := subscriber.Open(ctx, transport, d, paths, sessions[si])
				if err != nil {
					errOnce.Do(func() { connErr = fmt.Errorf("%s subscriber %d: %w", transport, i, err) })
					cancel()
					return
				}
				g.clients[i], g.session[i] = c, si
				g.recvs[i] = subscriber.NewReceiver(sessions[si], g.lat)
			}
		})
	}
	wg.Wait()
	if connErr == nil && ctx.Err() != nil {
		connErr = fmt.Errorf("%s: connecting %d subscribers took longer than %s", transport, n, limit)
	}
	if connErr != nil {
		g.close()
		return nil, connErr
	}
	for i, c := range g.clients {
		r := g.recvs[i]
		g.wg.Go(func() {
			if err := c.Run(r); err != nil {
				g.failures.Add(1)
				msg := err.Error()
				g.firstErr.CompareAndSwap(nil, &msg)
			}
		})
	}
	return g, nil
}

// close ends every connection and waits for the readers.
func (g *group) close() {
	for _, c := range g.clients {
		if c != nil {
			c.Close()
		}
	}
	g.wg.Wait()
}

// reset starts a measurement in which each session's events are numbered from base+1.
func (g *group) reset(base uint64) {
	g.lat = new(metrics.Histogram)
	for _, r := range g.recvs {
		r.Reset(base, g.lat)
	}
}

func (g *group) received() uint64 {
	var n uint64
	for _, r := range g.recvs {
		n += r.Received()
	}
	return n
}

// stats tallies the group against what was published per session.
func (g *group) stats(perSession []uint64) *TransportStats {
	st := &TransportStats{Subscribers: len(g.recvs)}
	for i, r := range g.recvs {
		t := r.Tally()
		due := perSession[g.session[i]]
		st.Expected += due
		st.Deliveries += t.Distinct
		if due > t.Distinct {
			st.Lost += due - t.Distinct
		}
		st.Dup += t.Dups
		st.SeqGaps += t.SeqGaps
		st.SeqDups += t.SeqDups
	}
	st.P50Ms = ms(g.lat.Quantile(0.50))
	st.P99Ms = ms(g.lat.Quantile(0.99))
	st.P999Ms = ms(g.lat.Quantile(0.999))
	return st
}

func (g *group) unreadable() uint64 {
	var n uint64
	for _, r := range g.recvs {
		n += r.Tally().Bad
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// connectStrided opens n subscribers of transport where subscriber i watches
// sessions[(offset+i*stride)/2 % len]: with stride = number of transports and two slots per
// session, every session gets two subscribers and every transport its share.
func connectStrided(ctx context.Context, d *wire.Dialer, paths subscriber.Paths, transport string, sessions []string, offset, stride, n int) (*group, error) {
	picked := make([]string, n)
	for i := range picked {
		picked[i] = sessions[((offset+i*stride)/2)%len(sessions)]
	}
	g, err := connect(ctx, d, paths, transport, picked, 0, n, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	// Receivers are indexed by the session's position in the publisher's list.
	index := make(map[string]int, len(sessions))
	for i, s := range sessions {
		index[s] = i
	}
	for i := range g.session {
		g.session[i] = index[picked[i]]
	}
	return g, nil
}
