package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

type discardSink struct{}

func (discardSink) Deliver(*event.Event) {}
func (discardSink) Resync()              {}

// BenchmarkRedisPublish measures publish throughput through Redis: one script call per batch, each
// event with a source ID (so duplicate suppression is paid for) and a ~100-byte payload.
func BenchmarkRedisPublish(b *testing.B) {
	url := sharedRedisURL(b)
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			prefix := testPrefix(b, url)
			r, err := broker.NewRedis(context.Background(), broker.RedisOptions{URL: url, Prefix: prefix}, broker.Defaults())
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			if err := r.Start(discardSink{}); err != nil {
				b.Fatal(err)
			}
			batch := make([]event.Input, size)
			ctx := context.Background()
			n := 0
			b.ResetTimer()
			for range b.N {
				for i := range batch {
					n++
					id := fmt.Sprintf("ev-%d", n)
					batch[i] = event.Input{Session: "bench", Type: "progress", ID: id, Data: json.RawMessage(
						fmt.Sprintf(`{"sessionId":"bench","type":"progress","eventId":%q,"processed":%d,"total":1000000,"failed":0}`, id, n))}
				}
				if _, err := r.Publish(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
