package sse

import (
	"math/rand/v2"
	"time"
)

// minFailureWait keeps an upstream that asked for retry: 0 from being hammered while it fails.
const minFailureWait = 100 * time.Millisecond

// publishRetry bounds the waits between attempts to publish while the broker is unavailable.
var publishRetry = struct{ first, max time.Duration }{100 * time.Millisecond, 5 * time.Second}

// clock is the time source of waits, replaced in tests so that they neither sleep nor guess.
type clock struct {
	after  func(time.Duration) <-chan time.Time
	jitter func(n int64) int64 // uniform in [0, n)
}

func realClock() clock { return clock{after: time.After, jitter: rand.Int64N} }

// backoff is how long to wait before the next attempt after failures consecutive failures: base
// doubled per failure after the first, capped at ceiling, plus up to a quarter more at random so
// that sessions dropped together (an upstream restart) do not all come back at once. The jitter
// only adds, so the relay never reconnects sooner than an upstream's retry: asked.
func (c clock) backoff(base, ceiling time.Duration, failures int) time.Duration {
	d := base
	if failures > 0 {
		d = max(d, minFailureWait)
	}
	for i := 1; i < failures && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	if q := int64(d / 4); q > 0 {
		d += time.Duration(c.jitter(q))
	}
	return d
}
