// Package publish sends the benchmark's events to a server's webhook at a target rate, one event
// or a batch per request, each event stamped with its send time.
package publish

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/subscriber"
	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// Config describes one publishing run. Events go round-robin over Sessions; session s's k-th event
// (from 1) carries n = Base + k, so that each session's events are numbered without gaps.
type Config struct {
	Dialer     *wire.Dialer
	Path       string   // webhook path, e.g. "/hooks/progress"
	Sessions   []string // the sessions to publish to
	PerSession uint64   // events per session: the run stops after Sessions × PerSession events
	Base       uint64   // n of each session's first event, less one
	Rate       float64  // events per second over all sessions; 0 sends as fast as the server answers
	Batch      int      // events per webhook request (a JSON array when more than one)
	Workers    int      // concurrent requests, each on its own keep-alive connection
	Limit      time.Duration
}

// Result is what a run did.
type Result struct {
	Accepted   uint64        // events the server answered 202 for
	Requests   uint64        // requests answered 202
	Errors     uint64        // requests that failed or were refused
	FirstError string        // the first failure, for the report
	Elapsed    time.Duration // from the first request to the last answer
	PerSession []uint64      // accepted events by session index: what each subscriber must get
	Late       time.Duration // how far behind schedule the last request was sent
}

// Run publishes until every event is sent, Limit passes or ctx ends.
func Run(ctx context.Context, cfg Config) Result {
	cfg.Batch = max(cfg.Batch, 1)
	cfg.Workers = max(cfg.Workers, 1)
	total := uint64(len(cfg.Sessions)) * cfg.PerSession
	jobs := (total + uint64(cfg.Batch) - 1) / uint64(cfg.Batch)
	perSession := make([]atomic.Uint64, len(cfg.Sessions))
	var next, accepted, requests, errs atomic.Uint64
	var late atomic.Int64
	var errOnce sync.Once
	var firstErr string

	start := time.Now()
	stop := start.Add(cfg.Limit)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			w := worker{cfg: &cfg, total: total}
			defer w.close()
			for ctx.Err() == nil {
				j := next.Add(1) - 1
				if j >= jobs {
					return
				}
				first := j * uint64(cfg.Batch)
				if cfg.Rate > 0 {
					due := start.Add(time.Duration(float64(first) / cfg.Rate * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					} else {
						late.Store(int64(-wait))
					}
				}
				if time.Now().After(stop) {
					return
				}
				last := min(first+uint64(cfg.Batch), total)
				n, err := w.send(ctx, first, last)
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err.Error() })
					continue
				}
				requests.Add(1)
				accepted.Add(uint64(n))
				for i := first; i < last; i++ {
					perSession[i%uint64(len(cfg.Sessions))].Add(1)
				}
			}
		})
	}
	wg.Wait()
	res := Result{Accepted: accepted.Load(), Requests: requests.Load(), Errors: errs.Load(),
		FirstError: firstErr, Elapsed: time.Since(start), Late: time.Duration(late.Load())}
	res.PerSession = make([]uint64, len(perSession))
	for i := range perSession {
		res.PerSession[i] = perSession[i].Load()
	}
	return res
}

// worker owns one connection and its buffers.
type worker struct {
	cfg   *Config
	total uint64
	hc    *wire.HTTPConn
	body  []byte
}

var contentJSON = []wire.Header{{Name: "Content-Type", Value: "application/json"}}

// send posts events [first, last) and returns how many the server accepted.
func (w *worker) send(ctx context.Context, first, last uint64) (int, error) {
	if w.hc == nil {
		hc, err := wire.DialHTTP(ctx, w.cfg.Dialer)
		if err != nil {
			return 0, err
		}
		w.hc = hc
	}
	s := uint64(len(w.cfg.Sessions))
	now := time.Now().UnixNano()
	b := w.body[:0]
	if last-first > 1 {
		b = append(b, '[')
	}
	for i := first; i < last; i++ {
		if i > first {
			b = append(b, ',')
		}
		b = subscriber.AppendPayload(b, w.cfg.Sessions[i%s], now, w.cfg.Base+i/s+1, w.cfg.Base+w.cfg.PerSession)
	}
	if last-first > 1 {
		b = append(b, ']')
	}
	w.body = b
	w.hc.Conn().SetDeadline(time.Now().Add(30 * time.Second))
	status, resp, err := w.hc.Do("POST", w.cfg.Path, contentJSON, b)
	if err != nil {
		w.close()
		return 0, fmt.Errorf("webhook: %w", err)
	}
	if status != 202 {
		return 0, fmt.Errorf("webhook: status %d: %.200s", status, resp)
	}
	n, ok := acceptedCount(resp)
	if !ok || uint64(n) != last-first {
		return 0, fmt.Errorf("webhook: accepted %d of %d: %.200s", n, last-first, resp)
	}
	return n, nil
}

func (w *worker) close() {
	if w.hc != nil {
		w.hc.Close()
		w.hc = nil
	}
}

var keyAccepted = []byte(`"accepted":`)

func acceptedCount(resp []byte) (int, bool) {
	i := bytes.Index(resp, keyAccepted)
	if i < 0 {
		return 0, false
	}
	n, j := 0, i+len(keyAccepted)
	for j < len(resp) && resp[j] == ' ' {
		j++
	}
	start := j
	for ; j < len(resp) && resp[j] >= '0' && resp[j] <= '9'; j++ {
		n = n*10 + int(resp[j]-'0')
	}
	return n, j > start
}
