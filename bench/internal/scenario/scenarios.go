package scenario

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/metrics"
	"github.com/progress-relay/progress-relay/bench/internal/publish"
	"github.com/progress-relay/progress-relay/bench/internal/server"
	"github.com/progress-relay/progress-relay/bench/internal/subscriber"
	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// Broadcast is scenario (a): one session, subs subscribers of one transport, events published at
// rate for duration.
func (e *Env) Broadcast(ctx context.Context, transport string, subs int, rate float64, batch int, duration time.Duration) {
	rec := &Record{Scenario: "broadcast", Transport: transport}
	e.run(ctx, rec, e.serverOptions(), func(srv *server.Server) error {
		one, err := e.oneSession(ctx, srv, rec, transport, "broadcast-", subs)
		if one == nil {
			return err
		}
		defer closeAll(one.groups)
		measurement(ctx, srv, one.groups, publish.Config{Dialer: one.d, Path: e.Hook, Sessions: one.sessions,
			PerSession: uint64(rate * duration.Seconds()), Base: one.base, Rate: rate, Batch: batch,
			Workers: workersFor(rate, batch), Limit: duration + 10*time.Second}, rec)
		e.Sink.Emit(rec)
		return nil
	})
}

// subscribedSession is one session with its subscribers connected and warmed up.
type subscribedSession struct {
	d        *wire.Dialer
	sessions []string // the one session
	groups   []*group
	base     uint64 // the n the first measured event carries
}

// oneSession connects subs subscribers of transport to the session prefix+transport and warms
// them up. It returns nil when the server lacks the transport (rec then says so and is emitted)
// or on an error.
func (e *Env) oneSession(ctx context.Context, srv *server.Server, rec *Record, transport, prefix string, subs int) (*subscribedSession, error) {
	if ts, note := transportsOf(srv, []string{transport}); len(ts) == 0 {
		rec.Note, rec.OK = note, true
		e.Sink.Emit(rec)
		return nil, nil
	}
	d, err := wire.NewDialer(srv.Addr, subs+64)
	if err != nil {
		return nil, err
	}
	sessions := []string{prefix + transport}
	groups, err := e.subscribe(ctx, srv, d, sessions, []string{transport}, subs)
	if err != nil {
		return nil, err
	}
	base, err := e.warmUp(ctx, srv, d, groups, sessions)
	if err != nil {
		closeAll(groups)
		return nil, err
	}
	return &subscribedSession{d: d, sessions: sessions, groups: groups, base: base}, nil
}

// SearchLimit is the latency bound of the rate search: p99 publish→receive.
const SearchLimit = 50 * time.Millisecond

// Search finds the highest publish rate that subs subscribers of one transport on one session
// sustain with p99 ≤ SearchLimit, nothing lost, and the publisher on schedule: it doubles the
// rate from start until a step fails (or halves it while the first steps fail), then bisects
// refine times. Every step is a record.
func (e *Env) Search(ctx context.Context, transport string, subs int, start float64, step time.Duration, refine, maxSteps int) {
	sum := &Record{Scenario: "search-max", Transport: transport}
	e.run(ctx, sum, e.serverOptions(), func(srv *server.Server) error {
		one, err := e.oneSession(ctx, srv, sum, transport, "search-", subs)
		if one == nil {
			return err
		}
		defer closeAll(one.groups)
		d, sessions, groups, base := one.d, one.sessions, one.groups, one.base
		pass, fail := 0.0, math.Inf(1)
		rate := start
		for i := 0; i < maxSteps && ctx.Err() == nil; i++ {
			per := uint64(math.Ceil(rate * step.Seconds()))
			rec := &Record{Scenario: "search", Transport: transport, Target: e.Target}
			measurement(ctx, srv, groups, publish.Config{Dialer: d, Path: e.Hook, Sessions: sessions,
				PerSession: per, Base: base, Rate: rate, Batch: 1, Workers: workersFor(rate, 1),
				Limit: step + 5*time.Second}, rec)
			base += per
			sustained := rec.OK && rec.P99Ms <= ms(SearchLimit) && rec.PublishRate >= 0.95*rate
			if !sustained {
				rec.Note = "not sustained"
			}
			e.Sink.Emit(rec)
			if sustained {
				pass = rate
			} else {
				fail = rate
			}
			if !rec.Drained {
				sum.Note = fmt.Sprintf("stopped at %.0f ev/s: the backlog did not drain", rate)
				break
			}
			next, more := nextRate(rate, pass, fail, &refine)
			if !more {
				break
			}
			rate = next
		}
		sum.SustainedRate, sum.Subscribers, sum.Sessions, sum.OK = pass, subs, 1, true
		e.Sink.Emit(sum)
		return nil
	})
}

// Imports is scenario (b): many sessions with two subscribers each (transports taken in turn),
// perSession events/s each, single-event webhooks.
func (e *Env) Imports(ctx context.Context, sessionsN int, perSessionRate float64, duration time.Duration) {
	rec := &Record{Scenario: "imports", Transport: "mixed"}
	e.run(ctx, rec, e.serverOptions(), func(srv *server.Server) error {
		transports, note := transportsOf(srv, subscriber.All)
		rec.Note = note
		sessions := sessionNames("import", sessionsN)
		d, err := wire.NewDialer(srv.Addr, 2*sessionsN+256)
		if err != nil {
			return err
		}
		// Each session gets two subscribers: transport k takes every len(transports)-th slot.
		per := 2 * sessionsN / len(transports)
		var groups []*group
		want := map[string]int{}
		for k, t := range transports {
			g, err := connectStrided(ctx, d, e.Paths, t, sessions, k, len(transports), per)
			if err != nil {
				closeAll(groups)
				return err
			}
			groups = append(groups, g)
			want[t] = per
		}
		defer closeAll(groups)
		if err := srv.WaitSubscribers(ctx, want, time.Minute); err != nil {
			return err
		}
		base, err := e.warmUp(ctx, srv, d, groups, sessions)
		if err != nil {
			return err
		}
		rate := perSessionRate * float64(sessionsN)
		var msBefore runtime.MemStats
		if e.HeapProfile != "" {
			runtime.ReadMemStats(&msBefore)
		}
		measurement(ctx, srv, groups, publish.Config{Dialer: d, Path: e.Hook, Sessions: sessions,
			PerSession: uint64(perSessionRate * duration.Seconds()), Base: base, Rate: rate, Batch: 1,
			Workers: workersFor(rate, 1), Limit: duration + 10*time.Second}, rec)
		if e.HeapProfile != "" {
			if err := writeHeapProfile(e.HeapProfile+".imports", &msBefore, 2*sessionsN); err != nil {
				return err
			}
		}
		rec.Note = note
		e.Sink.Emit(rec)
		return nil
	})
}

// Idle is scenario (c): n connections of one transport that receive nothing; the server's RSS
// growth per connection, after a warm-up of a hundred connections.
func (e *Env) Idle(ctx context.Context, transport string, n int) {
	rec := &Record{Scenario: "idle", Transport: transport}
	e.run(ctx, rec, e.serverOptions(), func(srv *server.Server) error {
		if ts, note := transportsOf(srv, []string{transport}); len(ts) == 0 {
			rec.Note, rec.OK = note, true
			e.Sink.Emit(rec)
			return nil
		}
		const warm = 100
		d, err := wire.NewDialer(srv.Addr, n+warm)
		if err != nil {
			return err
		}
		sessions := sessionNames("idle", max(1, n/10))
		first, err := e.subscribe(ctx, srv, d, sessions, []string{transport}, warm)
		if err != nil {
			return err
		}
		defer closeAll(first)
		before, err := settle(srv.PID)
		if err != nil {
			return err
		}
		var msBefore runtime.MemStats
		if e.HeapProfile != "" {
			runtime.GC()
			runtime.ReadMemStats(&msBefore)
		}
		g, err := connect(ctx, d, e.Paths, transport, sessions, warm, n, 3*time.Minute)
		if err != nil {
			return err
		}
		defer g.close()
		if err := srv.WaitSubscribers(ctx, map[string]int{transport: warm + n}, 2*time.Minute); err != nil {
			return err
		}
		after, err := settle(srv.PID)
		if err != nil {
			return err
		}
		if e.HeapProfile != "" {
			if err := writeHeapProfile(fmt.Sprintf("%s.%s", e.HeapProfile, transport), &msBefore, n); err != nil {
				return err
			}
		}
		rec.Subscribers, rec.Sessions, rec.Conns = n, len(sessions), n
		rec.ServerRSSMiB, rec.ServerPeakRSSMiB = mib(after.RSS), mib(after.PeakRSS)
		rec.RSSPerConnKiB = float64(after.RSS-before.RSS) / float64(n) / 1024
		rec.SubscriberErrors = g.failures.Load()
		rec.OK = rec.SubscriberErrors == 0
		e.Sink.Emit(rec)
		return nil
	})
}

// settle waits for a process's RSS to stop moving (two readings a second apart within 1%, at
// most ten seconds) and returns the last reading.
func settle(pid int) (metrics.Usage, error) {
	prev, err := metrics.ReadProcess(pid)
	if err != nil {
		return prev, err
	}
	for range 10 {
		time.Sleep(time.Second)
		cur, err := metrics.ReadProcess(pid)
		if err != nil {
			return cur, err
		}
		if math.Abs(float64(cur.RSS-prev.RSS)) <= 0.01*float64(prev.RSS) {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// Ingest is scenario (d): webhooks as fast as the server accepts them for duration, batch
// events per request, over 100 sessions, no subscribers.
func (e *Env) Ingest(ctx context.Context, batch int, duration time.Duration) {
	rec := &Record{Scenario: "ingest", Batch: batch}
	o := e.serverOptions()
	o.History = 100 // the relay's default: ingest should not measure a history of thousands
	e.run(ctx, rec, o, func(srv *server.Server) error {
		workers := 16
		if batch > 1 {
			workers = 4
		}
		d, err := wire.NewDialer(srv.Addr, workers)
		if err != nil {
			return err
		}
		sessions := sessionNames("ingest", 100)
		u0, _ := metrics.ReadProcess(srv.PID)
		c0 := metrics.SelfCPU()
		pub := publish.Run(ctx, publish.Config{Dialer: d, Path: e.Hook, Sessions: sessions,
			PerSession: 1 << 40, Batch: batch, Workers: workers, Limit: duration})
		u1, _ := metrics.ReadProcess(srv.PID)
		rec.ClientCPUSec = (metrics.SelfCPU() - c0).Seconds()
		rec.Sessions = len(sessions)
		rec.Seconds = pub.Elapsed.Seconds()
		rec.Published = pub.Accepted
		rec.PublishRate = float64(pub.Accepted) / pub.Elapsed.Seconds()
		rec.PublishErrors, rec.PublishError = pub.Errors, pub.FirstError
		rec.ServerCPUSec = (u1.CPU - u0.CPU).Seconds()
		if rec.ServerCPUSec > 0 {
			rec.PerServerCPUSec = float64(pub.Accepted) / rec.ServerCPUSec
		}
		rec.ServerRSSMiB, rec.ServerPeakRSSMiB = mib(u1.RSS), mib(u1.PeakRSS)
		rec.OK = pub.Errors == 0 && pub.Accepted > 0
		e.Sink.Emit(rec)
		return nil
	})
}

// workersFor sizes the publisher's concurrency for a rate: enough requests in flight for a few
// milliseconds of server time each, bounded so that connections stay few.
func workersFor(rate float64, batch int) int {
	reqs := rate / float64(max(batch, 1))
	return int(min(64, max(4, reqs/500)))
}

// writeHeapProfile writes this process's heap profile to path, and to path.txt the growth of
// heap, goroutine stacks and goroutines per connection since before (stacks are not in the heap
// profile; the tool's own streams need no goroutine, so the stacks are the server's).
func writeHeapProfile(path string, before *runtime.MemStats, conns int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(conns) / 1024 }
	text := fmt.Sprintf("per connection, %d connections: heap in use %.2f KiB, goroutine stacks %.2f KiB; goroutines now %d\n",
		conns, per(after.HeapInuse, before.HeapInuse), per(after.StackInuse, before.StackInuse), runtime.NumGoroutine())
	if err := os.WriteFile(path+".txt", []byte(text), 0o644); err != nil {
		return err
	}
	return pprof.WriteHeapProfile(f)
}

// minSearchRate is where a search that keeps failing gives up.
const minSearchRate = 1

// nextRate picks the search's next step from the highest rate that passed and the lowest that
// failed (0 and +Inf while there are none); more is false when the search is done.
func nextRate(rate, pass, fail float64, refine *int) (next float64, more bool) {
	switch {
	case math.IsInf(fail, 1):
		return rate * 2, true
	case pass == 0:
		return rate / 2, rate/2 >= minSearchRate
	case *refine > 0:
		*refine--
		next = math.Round(math.Sqrt(pass * fail))
		return next, next > pass && next < fail
	}
	return 0, false
}
