package netpoll

import (
	"errors"
	"net"
	"runtime"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// watch puts conn in the poller's care; the poller is Linux's, so elsewhere the test is skipped.
func watch(t *testing.T, conn net.Conn, onReadable func(*Watcher)) *Watcher {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's")
	}
	w := Watch(conn, onReadable)
	if w == nil {
		t.Fatal("a TCP connection was not watched")
	}
	return w
}

type wake struct {
	n   int
	err error
	b   []byte
}

func TestWatcherWakesOncePerArmingAndSeesTheClose(t *testing.T) {
	server, client := tcpPair(t)
	wakes := make(chan wake, 10)
	w := watch(t, server, func(w *Watcher) {
		b := make([]byte, 64)
		n, err := w.Read(b)
		wakes <- wake{n, err, b[:n]}
	})
	defer w.Stop()
	next := func() wake {
		select {
		case got := <-wakes:
			return got
		case <-time.After(5 * time.Second):
			t.Fatal("no wake")
			return wake{}
		}
	}

	client.Write([]byte("hello"))
	if got := next(); got.err != nil || string(got.b) != "hello" {
		t.Fatalf("first wake: %+v", got)
	}
	client.Write([]byte("again"))
	select {
	case got := <-wakes:
		t.Fatalf("woken again before Rearm: %+v", got)
	case <-time.After(100 * time.Millisecond):
	}
	if err := w.Rearm(); err != nil {
		t.Fatal(err)
	}
	if got := next(); got.err != nil || string(got.b) != "again" {
		t.Fatalf("wake after Rearm: %+v", got)
	}
	client.Close()
	if err := w.Rearm(); err != nil {
		t.Fatal(err)
	}
	if got := next(); got.err != nil || got.n != 0 {
		t.Fatalf("after the peer closed: %+v, want a read of nothing", got)
	}
}

func TestReadWithNothingThereDoesNotWait(t *testing.T) {
	server, _ := tcpPair(t)
	w := watch(t, server, func(*Watcher) {})
	defer w.Stop()
	done := make(chan error, 1)
	go func() { _, err := w.Read(make([]byte, 8)); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNothing) {
			t.Fatalf("got %v, want ErrNothing", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read waited for input")
	}
}

func TestWhatIsNotASocketIsNotWatched(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Watch(a, func(*Watcher) {}) != nil {
		t.Fatal("a pipe was watched")
	}
}

func TestClosedSocketFailsRearm(t *testing.T) {
	server, _ := tcpPair(t)
	w := watch(t, server, func(*Watcher) {})
	w.Stop()
	server.Close()
	if err := w.Rearm(); err == nil {
		t.Fatal("re-arming a closed socket succeeded")
	}
}
