package websocket

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
)

// frameCounter reads a server's frames off a raw connection into a fixed buffer, without
// allocating, and marks each complete one done on wg.
type frameCounter struct {
	conn net.Conn
	wg   *sync.WaitGroup
}

func (fc frameCounter) run() {
	buf := make([]byte, 64<<10)
	have := 0
	for {
		n, err := fc.conn.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		used := 0
		for have-used >= 2 {
			size, hl := int(buf[used+1]&0x7f), 2
			switch size {
			case 126:
				hl = 4
			case 127:
				hl = 10
			}
			if have-used < hl {
				break
			}
			switch size {
			case 126:
				size = int(binary.BigEndian.Uint16(buf[used+2:]))
			case 127:
				size = int(binary.BigEndian.Uint64(buf[used+2:]))
			}
			if have-used < hl+size {
				break
			}
			if buf[used]&0x0f == websocket.TextMessage {
				fc.wg.Done()
			}
			used += hl + size
		}
		have = copy(buf, buf[used:have])
	}
}

// BenchmarkWritePath measures the WebSocket write path over real loopback sockets: one event
// published through the memory broker and the hub reaches n seed-protocol connections, each
// written as a prepared frame. allocs/delivery is the process's allocations per delivered
// frame (the clients' reads allocate nothing); the target is 0.
func BenchmarkWritePath(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) { benchmarkWritePath(b, n) })
	}
}

func benchmarkWritePath(b *testing.B, n int) {
	o := broker.Defaults()
	o.History = 16
	mb := broker.NewMemory(o)
	cfg := hub.DefaultConfig()
	cfg.QueueSize = 1 << 20
	cfg.MaxSubscribers = 0
	h, err := hub.New(mb, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	handler := New(h, DefaultConfig())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeSeed(w, r, Access{})
	}))
	defer srv.Close()
	defer handler.Shutdown(0)

	var wg sync.WaitGroup
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for range n {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"sessionId":"bench"}`)); err != nil {
			b.Fatal(err)
		}
		// Nothing is sent before the first event, so gorilla's reader holds no bytes yet.
		go frameCounter{conn: ws.UnderlyingConn(), wg: &wg}.run()
	}
	for deadline := 0; h.Stats().Subscribers["websocket"] < n; deadline++ {
		if deadline > 1e6 {
			b.Fatal("subscribers did not register")
		}
		runtime.Gosched()
	}

	in := []event.Input{{Session: "bench", Type: "progress",
		Data: json.RawMessage(`{"sessionId":"bench","type":"progress","processed":1,"total":100}`)}}
	ctx := context.Background()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		wg.Add(n)
		if _, err := mb.Publish(ctx, in); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	deliveries := float64(b.N * n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
}
