package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/publish"
	"github.com/progress-relay/progress-relay/bench/internal/server"
	"github.com/progress-relay/progress-relay/bench/internal/subscriber"
	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// CI is the correctness check: subs subscribers per transport over a few sessions get events
// published one per webhook and then in batches, and each transport must get every event once, in
// seq order. It returns the checks that passed and failed (one per transport and phase).
func (e *Env) CI(ctx context.Context, subs, sessionsN int, events uint64) (passed, failed int) {
	rec := &Record{Scenario: "ci", Transport: "mixed"}
	fail := func(format string, args ...any) {
		failed++
		fmt.Fprintf(e.Log, "FAIL "+format+"\n", args...)
	}
	e.run(ctx, rec, e.serverOptions(), func(srv *server.Server) error {
		transports, note := transportsOf(srv, subscriber.All)
		if note != "" {
			fmt.Fprintf(e.Log, "SKIP %s\n", note)
		}
		sessions := sessionNames("ci", sessionsN)
		d, err := wire.NewDialer(srv.Addr, subs*len(transports)+64)
		if err != nil {
			return err
		}
		groups, err := e.subscribe(ctx, srv, d, sessions, transports, subs)
		if err != nil {
			return err
		}
		defer closeAll(groups)
		var base uint64
		for _, batch := range []int{1, 10} {
			phase := &Record{Target: e.Target, Scenario: "ci", Transport: "mixed"}
			measurement(ctx, srv, groups, publish.Config{Dialer: d, Path: e.Hook, Sessions: sessions,
				PerSession: events, Base: base, Rate: 2000, Batch: batch, Workers: 4, Limit: 20 * time.Second}, phase)
			base += events
			phase.Note = fmt.Sprintf("batch %d", batch)
			e.Sink.Emit(phase)
			if phase.PublishErrors > 0 || phase.Published != events*uint64(sessionsN) {
				fail("batch %d: published %d of %d (%d errors: %s)", batch, phase.Published, events*uint64(sessionsN), phase.PublishErrors, phase.PublishError)
			}
			for _, g := range groups {
				st := phase.PerTransport[g.transport]
				if st == nil { // a single transport: the record's totals are its own
					st = &TransportStats{Expected: phase.Expected, Deliveries: phase.Deliveries, Lost: phase.Lost,
						Dup: phase.Dup, SeqGaps: phase.SeqGaps, SeqDups: phase.SeqDups}
				}
				bad := st.Lost + st.Dup + st.SeqGaps + st.SeqDups
				switch {
				case bad > 0 || st.Deliveries != st.Expected || st.Expected == 0:
					fail("%s batch %d: delivered %d of %d, lost %d, dup %d, seq gaps %d, seq dups %d",
						g.transport, batch, st.Deliveries, st.Expected, st.Lost, st.Dup, st.SeqGaps, st.SeqDups)
				case g.failures.Load() > 0:
					fail("%s batch %d: %d subscribers failed: %s", g.transport, batch, g.failures.Load(), *g.firstErr.Load())
				default:
					passed++
					fmt.Fprintf(e.Log, "ok   %s batch %d: %d subscribers got all %d deliveries once, in order\n",
						g.transport, batch, st.Subscribers, st.Deliveries)
				}
			}
		}
		return nil
	})
	if rec.Note != "" {
		fail("%s", rec.Note)
	}
	return passed, failed
}
