// Package redistest runs redis-server processes of a test's own, for tests that must take Redis
// down (kill it, freeze it, restart it) or run it with other settings than the machine's shared
// Redis. Only tests import it.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server (or Sentinel) process.
type Server struct {
	Port int

	t     testing.TB
	args  []string
	ready string // the log line that says it serves
	cmd   *exec.Cmd
}

// Start starts redis-server on a free port with extra settings ("{port}" in them is replaced by
// the port); it skips t if there is no redis-server on PATH. Every write is appended to a file
// before it is acknowledged, so a restart keeps everything that was acknowledged. The server is
// killed when t ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	s := New(t, extra...)
	s.Start()
	return s
}

// New is Start without the start.
func New(t testing.TB, extra ...string) *Server {
	t.Helper()
	port := FreePort(t)
	// Later settings win, so extra arguments may replace these (e.g. "--port 0 --tls-port {port}").
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(), "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no", "--logfile", ""}
	for _, a := range extra {
		args = append(args, strings.ReplaceAll(a, "{port}", strconv.Itoa(port)))
	}
	s := &Server{t: t, Port: port, args: args, ready: "Ready to accept connections"}
	t.Cleanup(s.Kill)
	return s
}

// Sentinel starts a Sentinel that monitors master as "mymaster".
func Sentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	port := FreePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\n", port, dir, master.Port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Port: port, args: []string{conf, "--sentinel", "--logfile", ""}, ready: "+monitor master mymaster"}
	t.Cleanup(s.Kill)
	s.Start()
	return s
}

// FreePort finds a free loopback port for a server; it skips t if there is no redis-server on PATH.
func FreePort(t testing.TB) int {
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

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is a redis:// URL for the server's database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Start runs the server and waits until its log says it serves (after it reloaded its data).
func (s *Server) Start() {
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

// Kill ends the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Logf("killing redis-server: %v", err)
	}
	_ = s.cmd.Wait() // killed: the exit status says so
	s.cmd = nil
}

// Signal sends sig to the running server (SIGSTOP freezes it, SIGCONT thaws it).
func (s *Server) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redis-server: %v: %v", sig, err)
	}
}
