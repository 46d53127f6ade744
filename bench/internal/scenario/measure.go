package scenario

import (
	"context"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/metrics"
	"github.com/progress-relay/progress-relay/bench/internal/publish"
	"github.com/progress-relay/progress-relay/bench/internal/server"
)

// drainIdle is how long a measurement waits for the next delivery before it calls the missing
// ones lost; drainLimit bounds the whole wait after the last publish.
const (
	drainIdle  = 5 * time.Second
	drainLimit = 20 * time.Second
)

// measurement publishes cfg's events to the groups' sessions and records what arrives.
func measurement(ctx context.Context, srv *server.Server, groups []*group, cfg publish.Config, rec *Record) {
	for _, g := range groups {
		g.reset(cfg.Base)
	}
	u0, _ := metrics.ReadProcess(srv.PID)
	c0 := metrics.SelfCPU()
	t0 := time.Now()

	pub := publish.Run(ctx, cfg)

	var expected uint64
	for _, g := range groups {
		for _, si := range g.session {
			expected += pub.PerSession[si]
		}
	}
	rec.Drained = drain(ctx, groups, expected)
	elapsed := time.Since(t0)
	u1, _ := metrics.ReadProcess(srv.PID)
	c1 := metrics.SelfCPU()

	rec.Rate, rec.Batch = cfg.Rate, cfg.Batch
	rec.Sessions = len(cfg.Sessions)
	rec.Seconds = pub.Elapsed.Seconds()
	rec.Published = pub.Accepted
	rec.PublishRate = float64(pub.Accepted) / pub.Elapsed.Seconds()
	rec.PublishErrors, rec.PublishError = pub.Errors, pub.FirstError
	if len(groups) > 1 {
		rec.PerTransport = map[string]*TransportStats{}
	}
	all := new(metrics.Histogram)
	for _, g := range groups {
		st := g.stats(pub.PerSession)
		rec.Subscribers += st.Subscribers
		rec.Expected += st.Expected
		rec.Deliveries += st.Deliveries
		rec.Lost += st.Lost
		rec.Dup += st.Dup
		rec.SeqGaps += st.SeqGaps
		rec.SeqDups += st.SeqDups
		rec.Unreadable += g.unreadable()
		rec.SubscriberErrors += g.failures.Load()
		if p := g.firstErr.Load(); p != nil && rec.SubscriberError == "" {
			rec.SubscriberError = *p
		}
		if rec.PerTransport != nil {
			rec.PerTransport[g.transport] = st
		}
		all.Merge(g.lat)
	}
	rec.P50Ms = ms(all.Quantile(0.50))
	rec.P99Ms = ms(all.Quantile(0.99))
	rec.P999Ms = ms(all.Quantile(0.999))
	rec.MaxMs = ms(all.Max())
	rec.DeliveriesPerSec = float64(rec.Deliveries) / elapsed.Seconds()
	rec.ServerCPUSec = (u1.CPU - u0.CPU).Seconds()
	rec.ClientCPUSec = (c1 - c0).Seconds()
	if rec.ServerCPUSec > 0 {
		rec.PerServerCPUSec = float64(rec.Deliveries) / rec.ServerCPUSec
	}
	rec.ServerRSSMiB = mib(u1.RSS)
	rec.ServerPeakRSSMiB = mib(u1.PeakRSS)
	rec.OK = rec.Clean() && rec.Drained
}

// drain waits until expected deliveries have arrived; it gives up when nothing arrives for
// drainIdle or after drainLimit.
func drain(ctx context.Context, groups []*group, expected uint64) bool {
	start := time.Now()
	last, lastChange := uint64(0), start
	for {
		var got uint64
		for _, g := range groups {
			got += g.received()
		}
		if got >= expected {
			return true
		}
		now := time.Now()
		if got != last {
			last, lastChange = got, now
		}
		if now.Sub(lastChange) > drainIdle || now.Sub(start) > drainLimit || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
