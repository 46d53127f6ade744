package webhook

import (
	"net/http"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
)

func TestRateLimitPerClientAnswers429WithRetryAfter(t *testing.T) {
	clk := newClock()
	cfg := Config{
		RatePerSecond: 2, RateBurst: 3, Now: clk.Now,
		ClientIP: func(r *http.Request) string { return r.Header.Get("X-Test-Client") },
	}
	f := newFixture(t, cfg, broker.Defaults(), nil)
	three := `[{"sessionId":"r"},{"sessionId":"r"},{"sessionId":"r"}]`
	wantAccepted(t, f.post(three, "X-Test-Client", "backend-a"), 3, 0)

	rep := f.post(`{"sessionId":"r"}`, "X-Test-Client", "backend-a")
	wantError(t, rep, http.StatusTooManyRequests, "over 2 per second")
	if got := rep.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1 (half a second, rounded up)", got)
	}
	// Another client has its own bucket.
	wantAccepted(t, f.post(`{"sessionId":"r"}`, "X-Test-Client", "backend-b"), 1, 0)

	clk.advance(500 * time.Millisecond)
	wantAccepted(t, f.post(`{"sessionId":"r"}`, "X-Test-Client", "backend-a"), 1, 0)
	if n := len(f.sink.delivered()); n != 5 {
		t.Errorf("delivered %d events, want 5: the refused one must not be", n)
	}
}

func TestRateLimitChargesBatchesInFull(t *testing.T) {
	clk := newClock()
	l := newLimiter(10, 10, clk.Now)
	// A batch larger than the burst passes on a full bucket and leaves it 40 events in debt...
	if wait := l.take("a", 50); wait != 0 {
		t.Fatalf("first batch of 50 must pass a full bucket, got wait %v", wait)
	}
	// ...so the next event waits until the debt is paid and one token is back: 4.1 s.
	if wait := l.take("a", 1); wait != 4100*time.Millisecond {
		t.Errorf("wait %v, want 4.1s", wait)
	}
	clk.advance(4100 * time.Millisecond)
	if wait := l.take("a", 1); wait != 0 {
		t.Errorf("after paying the debt: wait %v, want 0", wait)
	}
	// Over a long run the rate holds: 10 events/s whatever the batch sizes.
	passed := 0
	for range 100 {
		clk.advance(100 * time.Millisecond)
		if l.take("a", 3) == 0 {
			passed += 3
		}
	}
	if passed < 95 || passed > 110 {
		t.Errorf("%d events passed in 10 s at 10/s", passed)
	}
}

func TestRateLimitForgetsIdleClients(t *testing.T) {
	clk := newClock()
	l := newLimiter(1, 5, clk.Now)
	l.take("idle", 5)       // full again after 5 s
	l.take("indebted", 500) // paid off after 500 s
	clk.advance(sweepEvery)
	l.take("trigger", 1)
	l.mu.Lock()
	_, idle := l.paidOff["idle"]
	_, indebted := l.paidOff["indebted"]
	l.mu.Unlock()
	if idle || !indebted {
		t.Errorf("after a sweep: idle kept %v, indebted kept %v; want false, true", idle, indebted)
	}
	if wait := l.take("indebted", 1); wait != 436*time.Second {
		t.Errorf("indebted client waits %v, want 436s: forgetting others must not forgive it", wait)
	}
}

func TestNoRateLimitByDefault(t *testing.T) {
	var l *limiter = newLimiter(0, 0, time.Now)
	if l != nil || l.take("x", 1_000_000) != 0 {
		t.Error("a zero rate must not limit")
	}
}
