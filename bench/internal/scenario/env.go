package scenario

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/publish"
	"github.com/progress-relay/progress-relay/bench/internal/server"
	"github.com/progress-relay/progress-relay/bench/internal/subscriber"
	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// Env is one system under test and where results go.
type Env struct {
	Target string // relay or peer, for the records
	// Start starts a fresh server, so that each scenario's CPU and peak memory are its own.
	Start   func(ctx context.Context, o server.Options) (*server.Server, error)
	Paths   subscriber.Paths
	Hook    string
	Sink    *Sink
	Log     io.Writer
	History int // events kept per session in streaming scenarios
	// HeapProfile, when set, is where the idle scenario writes this process's heap profile with
	// every connection open: useful with the in-process relay, whose heap it then includes.
	HeapProfile string
}

// serverOptions are the defaults for streaming scenarios: queues that never collapse.
func (e *Env) serverOptions() server.Options {
	return server.Options{History: e.History, Queue: 1 << 20, SocketIO: true}
}

// run starts a server, hands it to f and stops it, turning a setup failure into a failed record.
func (e *Env) run(ctx context.Context, rec *Record, o server.Options, f func(*server.Server) error) {
	rec.Target = e.Target
	srv, err := e.Start(ctx, o)
	if err != nil {
		rec.Note = "server: " + err.Error()
		e.Sink.Emit(rec)
		return
	}
	defer srv.Stop()
	if err := f(srv); err != nil {
		rec.OK = false
		rec.Note = err.Error()
		e.Sink.Emit(rec)
	}
}

// transportsOf drops Socket.IO when the server does not serve it.
func transportsOf(srv *server.Server, ts []string) (kept []string, note string) {
	for _, t := range ts {
		if t == subscriber.SocketIO && !srv.SocketIO {
			note = "socketio skipped: " + srv.Note
			continue
		}
		kept = append(kept, t)
	}
	return kept, note
}

func sessionNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return out
}

// subscribe connects per[t] subscribers of each transport over sessions and waits until the
// server counts them all.
func (e *Env) subscribe(ctx context.Context, srv *server.Server, d *wire.Dialer, sessions []string, transports []string, per int) ([]*group, error) {
	var groups []*group
	want := map[string]int{}
	for i, t := range transports {
		g, err := connect(ctx, d, e.Paths, t, sessions, i, per, 2*time.Minute)
		if err != nil {
			closeAll(groups)
			return nil, err
		}
		groups = append(groups, g)
		want[t] = per
	}
	if err := srv.WaitSubscribers(ctx, want, time.Minute); err != nil {
		closeAll(groups)
		return nil, err
	}
	return groups, nil
}

func closeAll(groups []*group) {
	for _, g := range groups {
		g.close()
	}
}

// warmUp sends a few events through every subscriber before measuring, so that lazy
// initialisation and the peer's JIT are not measured; it returns the next base.
func (e *Env) warmUp(ctx context.Context, srv *server.Server, d *wire.Dialer, groups []*group, sessions []string) (uint64, error) {
	events, rate := uint64(20), 200.0
	if len(sessions) > 10 {
		events, rate = 3, math.Max(200, float64(len(sessions))*10)
	}
	var rec Record
	measurement(ctx, srv, groups, publish.Config{Dialer: d, Path: e.Hook, Sessions: sessions,
		PerSession: events, Rate: rate, Batch: 1, Workers: workersFor(rate, 1), Limit: time.Minute}, &rec)
	if !rec.OK {
		return 0, fmt.Errorf("warm-up failed: lost %d dup %d gaps %d, publish errors %d (%s), subscriber errors %d (%s)",
			rec.Lost, rec.Dup, rec.SeqGaps, rec.PublishErrors, rec.PublishError, rec.SubscriberErrors, rec.SubscriberError)
	}
	return events, nil
}
