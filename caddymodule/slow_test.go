package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialStalled opens a seed-protocol WebSocket with a tiny receive buffer, registers for session and
// never reads again: its TCP window fills and the relay's writes to it block.
func (r *relay) dialStalled(session string) *websocket.Conn {
	r.t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	wd := websocket.Dialer{NetDialContext: d.DialContext, ReadBufferSize: 1024}
	c, _, err := wd.Dial(r.wsURL("/"), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	if err := c.WriteJSON(map[string]any{"sessionId": session}); err != nil {
		r.t.Fatal(err)
	}
	return c
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestStalledReaderIsDroppedWithoutSlowingOthers: one subscriber that never reads and 100 that do,
// 10,000 events. The readers get every event in order; the stalled one is disconnected after
// write_timeout; the heap stays bounded by the queue, not by the events published.
func TestStalledReaderIsDroppedWithoutSlowingOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 10,000 events to 101 subscribers")
	}
	r := startRelay(t, defaultWebhook+`
		write_timeout 5s
		queue_size 256`)
	const session, readers, events, batchSize = "slow-1", 100, 10000, 100
	pad := strings.Repeat("x", 1000) // 10 MB in all: more than the kernel buffers a stalled socket

	stalled := r.dialStalled(session)
	var got [readers]atomic.Int64
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for i := 0; i < readers; i++ {
		c := r.dial("/")
		c.WriteJSON(map[string]any{"sessionId": session})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for n := int64(1); n <= events; n++ {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, msg, err := c.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("reader %d after %d events: %v", i, n-1, err)
					return
				}
				var ev struct{ N int64 }
				if err := json.Unmarshal(msg, &ev); err != nil || ev.N != n {
					errs <- fmt.Errorf("reader %d: got %s, want n=%d", i, msg, n)
					return
				}
				got[i].Store(n)
			}
		}()
	}
	waitFor(t, "all subscribers", func() bool { return r.subscribers("websocket") == readers+1 })

	base := heapInUse()
	var peak uint64
	start := time.Now()
	for b := 0; b < events/batchSize; b++ {
		var evs []string
		for k := 1; k <= batchSize; k++ {
			evs = append(evs, fmt.Sprintf(`{"sessionId":%q,"type":"progress","n":%d,"pad":%q}`, session, b*batchSize+k, pad))
		}
		r.mustPost(batch(evs))
		// Publish as fast as the readers take it: the next batch once they all have this one.
		want := int64((b + 1) * batchSize)
		deadline := time.Now().Add(30 * time.Second)
		for i := range got {
			for got[i].Load() < want {
				select {
				case err := <-errs:
					t.Fatal(err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("reader %d stuck at %d of %d", i, got[i].Load(), want)
				}
				time.Sleep(time.Millisecond)
			}
		}
		if b%10 == 9 {
			peak = max(peak, heapInUse())
		}
	}
	elapsed := time.Since(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// The stalled subscriber was dropped: its connection ends (the relay closed the socket).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor(t, "the stalled subscriber to be dropped", func() bool {
		return ctx.Err() != nil || r.subscribers("websocket") == 0
	})
	if r.subscribers("websocket") != 0 {
		t.Fatal("stalled subscriber still registered")
	}
	_ = stalled
	// Normally the write deadline drops it and counts it as slow; on a machine so loaded that the
	// run outlasts the keepalive, the unanswered pings drop it first. Either way it is gone.
	t.Logf("slow_subscribers_dropped_total = %v", r.metricValueOr("caddy_progress_relay_slow_subscribers_dropped_total"))
	growth := int64(peak) - int64(base)
	t.Logf("10,000 events to 100 readers in %s (%.0f deliveries/s); heap in use %d KiB at start, peak %d KiB (growth %d KiB)",
		elapsed.Round(time.Millisecond), float64(events*readers)/elapsed.Seconds(), base>>10, peak>>10, growth>>10)
	// Every event published is ~1 KiB: 10,000 kept would be ~10 MiB of data alone (plus their
	// encodings). The relay keeps at most history + one queue per subscriber.
	if growth > 4<<20 {
		t.Fatalf("heap grew by %d KiB while a subscriber stalled; it should be bounded by its queue", growth>>10)
	}
}
