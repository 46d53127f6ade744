package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// fanoutBench is one session with n subscriptions that a transport drains as it would: wake on
// Notify, take the batch with Next and hand the buffer back.
type fanoutBench struct {
	hub  *Hub
	b    *broker.Memory
	subs []*Subscription
	bufs [][]*event.Event
}

func newFanoutBench(b *testing.B, n int) *fanoutBench {
	o := broker.Defaults()
	o.History = 16
	mb := broker.NewMemory(o)
	cfg := DefaultConfig()
	cfg.QueueSize = 1 << 20 // nothing collapses: every event is delivered
	cfg.MaxSubscribers = 0
	h, err := New(mb, cfg)
	if err != nil {
		b.Fatal(err)
	}
	f := &fanoutBench{hub: h, b: mb, bufs: make([][]*event.Event, n)}
	for range n {
		sub, err := h.Subscribe(context.Background(), "bench", Options{Transport: "bench", Notify: func() {}})
		if err != nil {
			b.Fatal(err)
		}
		f.subs = append(f.subs, sub)
	}
	b.Cleanup(func() {
		for _, s := range f.subs {
			s.Close()
		}
		h.Close()
	})
	return f
}

// drain takes every queued event, as a transport's writer does, and returns how many.
func (f *fanoutBench) drain() int {
	n := 0
	for i, s := range f.subs {
		f.bufs[i] = s.Next(f.bufs[i])
		n += len(f.bufs[i])
	}
	return n
}

// reportPerDelivery adds ns and allocations per delivered event to the benchmark's output.
func reportPerDelivery(b *testing.B, deliveries int, before runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(deliveries), "ns/delivery")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(deliveries), "allocs/delivery")
}

// BenchmarkHubFanout measures the hub alone: one sequenced event handed to Deliver reaches every
// subscription's queue, and the queues are drained. The event itself is built per op, as the
// broker would, so allocs/op includes that one allocation.
func BenchmarkHubFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			f := newFanoutBench(b, n)
			data := json.RawMessage(`{"sessionId":"bench","type":"progress","processed":1,"total":100}`)
			// Deliver continues the session's sequence, which Subscribe established at 0.
			seq := f.hub.sessions["bench"].last
			deliveries := 0
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				seq++
				f.hub.Deliver(&event.Event{Session: "bench", Seq: seq, Type: "progress", Data: data})
				deliveries += f.drain()
			}
			b.StopTimer()
			if deliveries != b.N*n {
				b.Fatalf("delivered %d, want %d", deliveries, b.N*n)
			}
			reportPerDelivery(b, deliveries, before)
		})
	}
}

// BenchmarkPublishFanout adds the memory broker: one webhook event published, sequenced,
// kept in history and fanned out to every subscription.
func BenchmarkPublishFanout(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			f := newFanoutBench(b, n)
			in := []event.Input{{Session: "bench", Type: "progress",
				Data: json.RawMessage(`{"sessionId":"bench","type":"progress","processed":1,"total":100}`)}}
			ctx := context.Background()
			deliveries := 0
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := f.b.Publish(ctx, in); err != nil {
					b.Fatal(err)
				}
				deliveries += f.drain()
			}
			b.StopTimer()
			if deliveries != b.N*n {
				b.Fatalf("delivered %d, want %d", deliveries, b.N*n)
			}
			reportPerDelivery(b, deliveries, before)
		})
	}
}
