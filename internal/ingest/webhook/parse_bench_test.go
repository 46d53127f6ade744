package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"

	"github.com/progress-relay/progress-relay/internal/broker"
)

// benchBody is a webhook body of n progress events (one object when n is 1, else an array).
func benchBody(n int) []byte {
	var b bytes.Buffer
	if n > 1 {
		b.WriteByte('[')
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sessionId":"import-%d","type":"progress","sentAt":1795673013469583500,"n":%d,"processed":%d,"total":5000,"message":"importing users"}`, i%10, i+1, i+1)
	}
	if n > 1 {
		b.WriteByte(']')
	}
	return b.Bytes()
}

// reportPerEvent adds ns and allocations per event to the benchmark's output.
func reportPerEvent(b *testing.B, events int, before runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(events), "allocs/event")
}

// BenchmarkParse measures body → events: validation, splitting a batch, and the gjson lookups of
// session and type.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run("events="+strconv.Itoa(n), func(b *testing.B) {
			p := parser{sessionField: DefaultSessionField, typeField: DefaultTypeField, maxEvents: DefaultMaxEvents}
			body := benchBody(n)
			b.SetBytes(int64(len(body)))
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			for b.Loop() {
				in, rej := p.parse(body, fallbackSession{})
				if rej != nil || len(in) != n {
					b.Fatalf("parse: %v, %d events", rej, len(in))
				}
			}
			reportPerEvent(b, b.N*n, before)
		})
	}
}

// BenchmarkHandle measures a whole unsigned webhook request through the handler into the
// memory broker (sequencing and history included), without the network.
func BenchmarkHandle(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run("events="+strconv.Itoa(n), func(b *testing.B) {
			o := broker.Defaults()
			mb := broker.NewMemory(o)
			if err := mb.Start(&recordingSink{}); err != nil {
				b.Fatal(err)
			}
			defer mb.Close()
			h, err := New(Config{Insecure: true}, mb)
			if err != nil {
				b.Fatal(err)
			}
			body := benchBody(n)
			b.SetBytes(int64(len(body)))
			ctx := context.Background()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/hooks/progress", bytes.NewReader(body))
				w := httptest.NewRecorder()
				if err := h.Handle(w, req, "", nil); err != nil || w.Code != http.StatusAccepted {
					b.Fatalf("status %d: %s (%v)", w.Code, w.Body, err)
				}
			}
			reportPerEvent(b, b.N*n, before)
		})
	}
}
