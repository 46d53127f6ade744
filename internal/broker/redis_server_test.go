package broker_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisServer is a redis-server process of a test's own, for what the shared Redis must not go
// through: being killed, or other settings.
type redisServer struct {
	t     testing.TB
	port  int
	args  []string
	ready string // the log line that says it serves
	cmd   *exec.Cmd
}

// startRedisServer starts redis-server on a free port with extra settings ("{port}" in them is
// replaced by the port); it skips t if there is no redis-server on PATH. Every write is appended to
// a file before it is acknowledged, so a restart keeps everything that was acknowledged.
func startRedisServer(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	s := newRedisServer(t, extra...)
	s.start()
	return s
}

// newRedisServer is startRedisServer without the start.
func newRedisServer(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	port := freePort(t)
	// Later settings win, so extra arguments may replace these (e.g. "--port 0 --tls-port {port}").
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(), "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no", "--logfile", ""}
	for _, a := range extra {
		args = append(args, strings.ReplaceAll(a, "{port}", strconv.Itoa(port)))
	}
	s := &redisServer{t: t, port: port, args: args, ready: "Ready to accept connections"}
	t.Cleanup(s.kill)
	return s
}

// startSentinel starts a Sentinel that monitors master as "mymaster".
func startSentinel(t testing.TB, master *redisServer) *redisServer {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\n", port, dir, master.port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &redisServer{t: t, port: port, args: []string{conf, "--sentinel", "--logfile", ""}, ready: "+monitor master mymaster"}
	t.Cleanup(s.kill)
	s.start()
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("SKIP: redis-server is not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *redisServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// url is a redis:// URL for the server.
func (s *redisServer) url() string { return "redis://" + s.addr() }

// start runs the server and waits until its log says it serves.
func (s *redisServer) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", s.args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	ready := make(chan struct{})
	exited := make(chan string, 1)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), s.ready) {
				close(ready)
				for sc.Scan() { // keep the pipe drained
				}
				return
			}
		}
		exited <- log.String()
	}()
	select {
	case <-ready:
	case l := <-exited:
		s.t.Fatalf("redis-server %v exited:\n%s", s.args, l)
	case <-time.After(15 * time.Second):
		s.t.Fatalf("redis-server %v not ready after 15s", s.args)
	}
}

// kill ends the server at once, as a crash would.
func (s *redisServer) kill() {
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Logf("killing redis-server: %v", err)
	}
	_ = s.cmd.Wait() // killed: the exit status says so
	s.cmd = nil
}
