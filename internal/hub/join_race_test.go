package hub

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// Subscribers join a session that has none here while events flow; each must get every event
// after its cursor, in order, without a gap.
func TestConcurrentJoinsWhileEventsFlowMissNothing(t *testing.T) {
	o := broker.Defaults()
	o.History = 100000
	mb := broker.NewMemory(o)
	cfg := DefaultConfig()
	cfg.QueueSize = 1 << 20
	h, err := New(mb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	stop := make(chan struct{})
	var pub sync.WaitGroup
	for range 2 {
		pub.Go(func() {
			in := []event.Input{{Session: "s", Type: "progress", Data: json.RawMessage(`{}`)}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				mb.Publish(context.Background(), in)
			}
		})
	}
	gaps := 0
	deadline := time.Now().Add(3 * time.Second)
	for round := 0; time.Now().Before(deadline); round++ {
		_, st, _ := mb.History(context.Background(), "s", 1<<62)
		after := st.Last
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 3 {
			wg.Go(func() {
				sub, err := h.Subscribe(context.Background(), "s", Options{After: after, Transport: "t"})
				if err != nil {
					t.Error(err)
					return
				}
				defer sub.Close()
				last := after
				var buf []*event.Event
				for got := 0; got < 50; {
					<-sub.Ready()
					buf = sub.Next(buf)
					for _, ev := range buf {
						if ev.Seq != last+1 {
							mu.Lock()
							gaps++
							t.Logf("after %d: got seq %d following %d", after, ev.Seq, last)
							mu.Unlock()
						}
						last = ev.Seq
						got++
					}
				}
			})
		}
		wg.Wait()
	}
	close(stop)
	pub.Wait()
	if gaps > 0 {
		t.Fatalf("%d gaps", gaps)
	}
}
