package caddymodule

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/gorilla/websocket"
)

// goroutinesSettle waits for the goroutine count to come down to at most want.
func goroutinesSettle(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// TestReloadAndStopLeakNoGoroutines: connections, reloads and a stop leave no goroutine behind.
func TestReloadAndStopLeakNoGoroutines(t *testing.T) {
	// Warm up what Caddy starts once per process (certificate maintenance, the metrics registry)
	// and so does the relay (the socket poller's goroutine, started by the first connection).
	warm := startRelay(t, defaultWebhook)
	warm.mustPost(`{"sessionId":"warm","type":"progress"}`)
	warm.dial("/").Close()
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	base := goroutinesSettle(0)

	r := startRelay(t, defaultWebhook)
	for round := 0; round < 3; round++ {
		session := fmt.Sprintf("leak-%d", round)
		ws := r.dial("/")
		ws.WriteJSON(map[string]any{"sessionId": session})
		req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/"+session, nil)
		req.Header.Set("Accept", "text/event-stream")
		sse, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "subscribers", func() bool { return r.subscribers("websocket") == 1 && r.subscribers("sse") == 1 })
		r.load(defaultWebhook + fmt.Sprintf("\n\t\thistory %d", 50+round))
		r.mustPost(batch(progressEvents(session, 1, 3)))
		readFrames(t, ws, 3)
		readSSE(t, sse.Body, 3)
		ws.Close()
		sse.Body.Close()
		waitFor(t, "subscribers to go", func() bool { return r.subscribers("websocket") == 0 && r.subscribers("sse") == 0 })
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	// A little slack for runtime goroutines that come and go (GC workers, timers).
	if n := goroutinesSettle(base + 2); n > base+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after stop, %d before: leaked\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
	t.Cleanup(func() {}) // startRelay's cleanup stops an already stopped Caddy: harmless
}

// TestExitClosesEveryStreamPromptly runs the built Caddy (CADDY_BIN, which `make test` builds with
// xcaddy) and sends it SIGTERM with a WebSocket, an SSE stream and a long-poll open: the WebSocket
// gets 1001, the SSE stream ends, the long-poll is answered, all within a second.
func TestExitClosesEveryStreamPromptly(t *testing.T) {
	bin := os.Getenv("CADDY_BIN")
	if bin == "" {
		t.Skip("set CADDY_BIN to Caddy built with the module (make test does)")
	}
	port := freePort(t)
	cf := filepath.Join(t.TempDir(), "Caddyfile")
	os.WriteFile(cf, []byte(fmt.Sprintf(`{
	admin off
	auto_https off
}
http://127.0.0.1:%d {
	progress_relay {
%s
	}
}
`, port, defaultWebhook)), 0o600)
	cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	r := &relay{t: t, port: port, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitFor(t, "caddy to serve", func() bool {
		res, err := http.Get(r.base + "/relay/health")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})

	ws := r.dial("/")
	ws.WriteJSON(map[string]any{"sessionId": "exit-1"})
	req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/exit-1", nil)
	req.Header.Set("Accept", "text/event-stream")
	sse, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan int, 1)
	go func() {
		res, err := http.Get(r.base + "/api/import/progress/exit-2?wait=60")
		if err != nil {
			polled <- 0
			return
		}
		res.Body.Close()
		polled <- res.StatusCode
	}()
	waitFor(t, "subscribers", func() bool {
		return r.subscribers("websocket") == 1 && r.subscribers("sse") == 1 && r.subscribers("poll") == 1
	})

	sseDone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, bufio.NewReader(sse.Body))
		close(sseDone)
	}()
	wsClosed := make(chan *websocket.CloseError, 1)
	go func() {
		_, closed := readFrames(t, ws, -1)
		wsClosed <- closed
	}()

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	limit := time.After(time.Second)
	select {
	case ce := <-wsClosed:
		if ce == nil || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("WebSocket ended with %v, want 1001", ce)
		}
	case <-limit:
		t.Fatal("WebSocket not closed within 1 s of SIGTERM")
	}
	select {
	case <-sseDone:
	case <-limit:
		t.Fatal("SSE stream still open 1 s after SIGTERM")
	}
	select {
	case status := <-polled:
		if status != http.StatusOK {
			t.Fatalf("long-poll answered %d", status)
		}
	case <-limit:
		t.Fatal("long-poll not answered within 1 s of SIGTERM")
	}
	t.Logf("every stream ended %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("caddy did not exit")
	}
}
