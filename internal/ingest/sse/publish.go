package sse

import (
	"context"
	"errors"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// retryingPublisher publishes one event at a time and retries while the broker fails, so that a
// broker outage (a Redis failover) delays events instead of losing them.
type retryingPublisher struct {
	pub    Publisher
	log    *zap.Logger
	clock  clock
	failed atomic.Uint64 // failed Publish calls, for metrics
}

// errGiveUp are the errors that retrying cannot cure.
func errGiveUp(err error) bool {
	return errors.Is(err, broker.ErrFinished) || errors.Is(err, broker.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// publish returns the broker's result, or the error that ended the attempts: one that retrying
// cannot cure (the session is finished, the broker is closed) or the end of ctx.
func (p *retryingPublisher) publish(ctx context.Context, in event.Input) (broker.Result, error) {
	batch := []event.Input{in}
	for failures := 1; ; failures++ {
		res, err := p.pub.Publish(ctx, batch)
		if err == nil || errGiveUp(err) {
			return res, err
		}
		p.failed.Add(1)
		wait := p.clock.backoff(publishRetry.first, publishRetry.max, failures)
		p.log.Warn("publishing an SSE event failed; retrying",
			zap.String("session", in.Session), zap.Int("attempt", failures), zap.Duration("wait", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return broker.Result{}, ctx.Err()
		case <-p.clock.after(wait):
		}
	}
}
