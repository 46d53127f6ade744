package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestHub(t *testing.T, cfg Config) (*Hub, *broker.Memory, *clock) {
	t.Helper()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	o := broker.Defaults()
	o.Now = clk.Now
	b := broker.NewMemory(o)
	h, err := New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, b, clk
}

func publish(t *testing.T, b broker.Broker, session, typ string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		data := json.RawMessage(fmt.Sprintf(`{"type":%q,"i":%d}`, typ, i))
		if _, err := b.Publish(context.Background(), []event.Input{{Session: session, Type: typ, Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
}

// collect drains sub until it has n events or a terminal one, or the deadline passes.
func collect(t *testing.T, sub *Subscription, n int) []*event.Event {
	t.Helper()
	var got, batch []*event.Event
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		batch = sub.Next(batch)
		for _, ev := range batch {
			got = append(got, ev)
		}
		if len(got) > 0 && got[len(got)-1].Terminal {
			return got
		}
		if len(got) >= n {
			break
		}
		select {
		case <-sub.Ready():
		case <-sub.Done():
			if sub.Len() == 0 {
				return got
			}
		case <-deadline:
			t.Fatalf("timed out with %d of %d events", len(got), n)
		}
	}
	return got
}

func seqs(evs []*event.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func wantSeqs(t *testing.T, got []*event.Event, from, to uint64) {
	t.Helper()
	if len(got) != int(to-from+1) {
		t.Fatalf("got seqs %v, want %d..%d", seqs(got), from, to)
	}
	for i, ev := range got {
		if ev.Seq != from+uint64(i) {
			t.Fatalf("got seqs %v, want %d..%d", seqs(got), from, to)
		}
	}
}

func TestSubscriberGetsLiveEventsInOrder(t *testing.T) {
	h, b, _ := newTestHub(t, DefaultConfig())
	sub, err := h.Subscribe(context.Background(), "s1", Options{Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	publish(t, b, "s1", "progress", 10)
	wantSeqs(t, collect(t, sub, 10), 1, 10)
}

func TestLateJoinerGetsHistory(t *testing.T) {
	h, b, _ := newTestHub(t, DefaultConfig())
	publish(t, b, "s1", "progress", 5)
	sub, err := h.Subscribe(context.Background(), "s1", Options{Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	publish(t, b, "s1", "progress", 3)
	wantSeqs(t, collect(t, sub, 8), 1, 8)
}

func TestResumeAfterSeqReplaysOnlyLaterEvents(t *testing.T) {
	h, b, _ := newTestHub(t, DefaultConfig())
	publish(t, b, "s1", "progress", 7)
	sub, err := h.Subscribe(context.Background(), "s1", Options{After: 4, Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	publish(t, b, "s1", "complete", 1)
	got := collect(t, sub, 4)
	wantSeqs(t, got, 5, 8)
	if !got[3].Terminal {
		t.Fatalf("last event %+v is not terminal", got[3])
	}
}

func TestHistoryIsBoundedToTheRing(t *testing.T) {
	h, b, _ := newTestHub(t, DefaultConfig())
	publish(t, b, "s1", "progress", 150)
	sub, err := h.Subscribe(context.Background(), "s1", Options{Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	wantSeqs(t, collect(t, sub, 100), 51, 150)
}

func TestSlowSubscriberCollapsesProgressButKeepsTerminal(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueueSize = 8
	h, b, _ := newTestHub(t, cfg)
	sub, err := h.Subscribe(context.Background(), "s1", Options{Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	publish(t, b, "s1", "progress", 50)
	publish(t, b, "s1", "complete", 1)
	got := collect(t, sub, 51)
	last := got[len(got)-1]
	if !last.Terminal || last.Seq != 51 {
		t.Fatalf("last event = seq %d terminal %v, want the terminal seq 51", last.Seq, last.Terminal)
	}
	if got[len(got)-2].Seq != 50 {
		t.Fatalf("the latest progress (seq 50) must survive collapse; got %v", seqs(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("out of order: %v", seqs(got))
		}
	}
	if len(got) > cfg.QueueSize+1 {
		t.Fatalf("queue held %d events, more than its size %d", len(got), cfg.QueueSize)
	}
	if h.Stats().Collapsed == 0 {
		t.Fatal("collapsed count not recorded")
	}
}

func TestOverflowOfNonCollapsibleEventsDropsTheSubscriber(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueueSize = 4
	h, b, _ := newTestHub(t, cfg)
	sub, err := h.Subscribe(context.Background(), "s1", Options{Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	publish(t, b, "s1", "row", 5)
	select {
	case <-sub.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber not dropped")
	}
	if sub.Err() != ErrSlowConsumer {
		t.Fatalf("err = %v, want ErrSlowConsumer", sub.Err())
	}
	// Nothing was lost: a resume from the start gets all five from history.
	again, err := h.Subscribe(context.Background(), "s1", Options{Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	wantSeqs(t, collect(t, again, 5), 1, 5)
}

func TestThousandSubscribersReceiveEverythingInOrder(t *testing.T) {
	h, b, _ := newTestHub(t, DefaultConfig())
	const subs, events = 1000, 200
	var wg sync.WaitGroup
	ready := make(chan struct{})
	errs := make(chan error, subs)
	for i := 0; i < subs; i++ {
		sub, err := h.Subscribe(context.Background(), "s1", Options{Transport: "test"})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			<-ready
			var batch []*event.Event
			next := uint64(1)
			deadline := time.After(30 * time.Second)
			for next <= events {
				batch = sub.Next(batch)
				for _, ev := range batch {
					if ev.Seq != next {
						errs <- fmt.Errorf("got seq %d, want %d", ev.Seq, next)
						return
					}
					next++
				}
				if next > events {
					return
				}
				select {
				case <-sub.Ready():
				case <-sub.Done():
					errs <- fmt.Errorf("dropped: %v", sub.Err())
					return
				case <-deadline:
					errs <- fmt.Errorf("timed out at seq %d", next)
					return
				}
			}
		}()
	}
	close(ready)
	// Stay under the queue size so that nothing collapses: this checks delivery, not collapse.
	for i := 0; i < events; i += 100 {
		publish(t, b, "s1", "row", 100)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestConcurrentPublishersKeepEachSessionOrdered(t *testing.T) {
	h, b, _ := newTestHub(t, DefaultConfig())
	sub, err := h.Subscribe(context.Background(), "s1", Options{Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			publish(t, b, "s1", "row", 50)
		}()
	}
	got := collect(t, sub, 200)
	wg.Wait()
	wantSeqs(t, got, 1, 200)
}

func TestLastSubscriberLeavingForgetsTheSession(t *testing.T) {
	h, _, _ := newTestHub(t, DefaultConfig())
	a, _ := h.Subscribe(context.Background(), "s1", Options{Transport: "sse"})
	b2, _ := h.Subscribe(context.Background(), "s1", Options{Transport: "poll"})
	if st := h.Stats(); st.Sessions != 1 || st.Subscribers["sse"] != 1 || st.Subscribers["poll"] != 1 {
		t.Fatalf("stats = %+v", st)
	}
	a.Close()
	b2.Close()
	b2.Close()
	if st := h.Stats(); st.Sessions != 0 || st.Subscribers["sse"] != 0 || st.Subscribers["poll"] != 0 {
		t.Fatalf("stats after close = %+v", st)
	}
}

func TestSubscriberLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSubscribers = 2
	cfg.MaxPerSession = 1
	h, _, _ := newTestHub(t, cfg)
	a, err := h.Subscribe(context.Background(), "s1", Options{Transport: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := h.Subscribe(context.Background(), "s1", Options{Transport: "t"}); err != ErrSessionFull {
		t.Fatalf("second on s1: err = %v, want ErrSessionFull", err)
	}
	b2, err := h.Subscribe(context.Background(), "s2", Options{Transport: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := h.Subscribe(context.Background(), "s3", Options{Transport: "t"}); err != ErrTooManySubscribers {
		t.Fatalf("third: err = %v, want ErrTooManySubscribers", err)
	}
}

func TestShutdownEndsSubscriptions(t *testing.T) {
	h, _, _ := newTestHub(t, DefaultConfig())
	sub, _ := h.Subscribe(context.Background(), "s1", Options{Transport: "t"})
	defer sub.Close()
	h.Shutdown()
	select {
	case <-sub.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not ended")
	}
	if sub.Err() != ErrShutdown {
		t.Fatalf("err = %v", sub.Err())
	}
	if _, err := h.Subscribe(context.Background(), "s1", Options{Transport: "t"}); err != ErrShutdown {
		t.Fatalf("subscribe after shutdown: %v", err)
	}
}
