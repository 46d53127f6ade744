package socketio

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
)

var idleProfile = flag.String("idleprofile", "", "BenchmarkIdleSockets writes heap and goroutine profiles to `prefix`.heap and .goroutine while its sockets are open")

// benchRelay is the Socket.IO server over a memory broker and hub sized so that nothing
// collapses, without the test relay's logging.
type benchRelay struct {
	addr   string
	hub    *hub.Hub
	broker *broker.Memory
	sio    *Server
}

func newBenchRelay(tb testing.TB) *benchRelay {
	tb.Helper()
	o := broker.Defaults()
	o.History = 16
	mb := broker.NewMemory(o)
	cfg := hub.DefaultConfig()
	cfg.QueueSize = 1 << 16
	cfg.MaxSubscribers = 0
	h, err := hub.New(mb, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	sio, err := New(h, Config{}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(sio.Path(), behindCaddy(sio))
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() {
		sio.Close()
		srv.Close()
		h.Close()
	})
	return &benchRelay{addr: strings.TrimPrefix(srv.URL, "http://"), hub: h, broker: mb, sio: sio}
}

// waitSubscribers waits until the hub counts n Socket.IO subscriptions.
func (r *benchRelay) waitSubscribers(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for r.hub.Stats().Subscribers["socketio"] < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d subscriptions", r.hub.Stats().Subscribers["socketio"], n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkDelivery measures the Socket.IO delivery path over real loopback sockets: each
// operation is one event published through the memory broker and the hub to every socket of
// one session, over Engine.IO 4's WebSocket transport. The clients run in a child process, so
// deliveries/cpu-s and allocs/delivery are the server's own (hub and broker included).
// window is how many events may be published ahead of the slowest socket: 1 is one event per
// write, as at a low rate; 16 lets queued events share writes.
//
//	go test -run '^$' -bench '^BenchmarkDelivery$' -benchtime 200x ./internal/transport/socketio
func BenchmarkDelivery(b *testing.B) {
	for _, c := range []struct{ sockets, window int }{{1000, 1}, {1000, 16}} {
		b.Run(fmt.Sprintf("sockets=%d/window=%d", c.sockets, c.window), func(b *testing.B) {
			benchmarkDelivery(b, c.sockets, c.window)
		})
	}
}

func benchmarkDelivery(b *testing.B, sockets, window int) {
	relay := newBenchRelay(b)
	client := startBenchClient(b, relay.addr, sockets, 1, b.N)
	if l := client.next(b); l != "ready" {
		b.Fatalf("client: %q", l)
	}
	relay.waitSubscribers(b, sockets)

	runtime.GC()
	cpu0 := cpuTime()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	done := map[int]bool{}
	completed := 0
	waitFor := func(seq int) {
		for completed < seq {
			l := client.next(b)
			var session, n int
			if _, err := fmt.Sscanf(l, "done %d %d", &session, &n); err != nil {
				b.Fatalf("client: %q", l)
			}
			done[n] = true
			for done[completed+1] {
				delete(done, completed+1)
				completed++
			}
		}
	}
	for i := 1; i <= b.N; i++ {
		waitFor(i - window)
		data := strconv.AppendInt([]byte(`{"t":`), time.Now().UnixNano(), 10)
		in := []event.Input{{Session: "bench-0", Type: "progress", Data: json.RawMessage(append(data, '}'))}}
		if _, err := relay.broker.Publish(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b.N)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)

	deliveries := float64(b.N * sockets)
	b.ReportMetric(deliveries/cpu.Seconds(), "deliveries/cpu-s")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/deliveries, "B/delivery")
	client.stdin.Close()
	for l := range client.lines {
		var p50, p99 float64
		if _, err := fmt.Sscanf(l, "stats %g %g", &p50, &p99); err == nil {
			b.ReportMetric(p50/1000, "p50-ms")
			b.ReportMetric(p99/1000, "p99-ms")
		}
	}
}

// BenchmarkIdleSockets measures what an idle registered socket costs the server: 2,000 sockets
// over 200 sessions, as in the load tool's idle scenario. It reports heap and goroutine stack
// bytes, RSS and goroutines per socket; run it once:
//
//	go test -run '^$' -bench '^BenchmarkIdleSockets$' -benchtime 1x ./internal/transport/socketio
func BenchmarkIdleSockets(b *testing.B) {
	const sockets, sessions = 2000, 200
	relay := newBenchRelay(b)
	before := memoryNow()
	client := startBenchClient(b, relay.addr, sockets, sessions, 0)
	if l := client.next(b); l != "ready" {
		b.Fatalf("client: %q", l)
	}
	relay.waitSubscribers(b, sockets)
	// Let the sockets' setup goroutines finish and their stacks shrink, as they do on an idle server.
	time.Sleep(time.Second)
	after := memoryNow()
	if *idleProfile != "" {
		writeProfiles(b, *idleProfile)
	}
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / sockets }
	b.ReportMetric(per(after.heap, before.heap), "heap-B/socket")
	b.ReportMetric(per(after.stack, before.stack), "stack-B/socket")
	b.ReportMetric(per(after.rss, before.rss), "rss-B/socket")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/sockets, "goroutines/socket")
}

type memory struct {
	heap, stack, rss uint64
	goroutines       int
}

func memoryNow() memory {
	for range 6 {
		runtime.GC() // each cycle halves the stacks that use less than a quarter of theirs
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapInuse, stack: ms.StackInuse, rss: rss(), goroutines: runtime.NumGoroutine()}
}

// rss is the process's resident set in bytes, from /proc/self/statm.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func writeProfiles(tb testing.TB, prefix string) {
	for _, name := range []string{"heap", "goroutine"} {
		f, err := os.Create(prefix + "." + name)
		if err != nil {
			tb.Fatal(err)
		}
		debug := 0
		if name == "goroutine" {
			debug = 1
		}
		if err := pprof.Lookup(name).WriteTo(f, debug); err != nil {
			tb.Fatal(err)
		}
		f.Close()
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
