package socketio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks' Socket.IO clients run in a child process (this test binary, re-run with
// benchClientEnv set), so that the benchmark's CPU time and allocations are the server's alone.
// The child speaks Engine.IO 4 over WebSocket by hand, one goroutine per socket, and reports on
// stdout: "ready" once every socket is registered, "done <seq>" once every socket has the event
// with that seq, and at the end "stats <p50 µs> <p99 µs>" of publish→receive latency.
const benchClientEnv = "SOCKETIO_BENCH_CLIENT" // "<host:port> <sockets> <sessions> <events>"

// TestBenchClientProcess is the child process of the benchmarks; it does nothing in a normal run.
func TestBenchClientProcess(t *testing.T) {
	spec := os.Getenv(benchClientEnv)
	if spec == "" {
		t.Skip("the benchmarks' client process; runs only when a benchmark starts it")
	}
	if err := runBenchClient(spec, os.Stdout); err != nil {
		fmt.Fprintf(os.Stdout, "error %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// benchClient is the parent's handle on the child process.
type benchClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startBenchClient starts n sockets registered round-robin to sessions bench-0… at addr; expect
// is the number of events the benchmark will publish to each session (0: none, an idle run).
func startBenchClient(tb testing.TB, addr string, n, sessions, expect int) *benchClient {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestBenchClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %d", benchClientEnv, addr, n, sessions, expect))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &benchClient{cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	tb.Cleanup(c.stop)
	return c
}

// next returns the child's next line, failing on an error line, its exit or a minute of silence.
func (c *benchClient) next(tb testing.TB) string {
	tb.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			tb.Fatal("the client process exited")
		}
		if strings.HasPrefix(l, "error ") {
			tb.Fatal("client: " + l)
		}
		return l
	case <-time.After(time.Minute):
		tb.Fatal("the client process said nothing for a minute")
	}
	return ""
}

// stop ends the child (closing stdin lets it close its sockets and exit).
func (c *benchClient) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

func runBenchClient(spec string, out io.Writer) error {
	var addr string
	var n, sessions, expect int
	if _, err := fmt.Sscanf(spec, "%s %d %d %d", &addr, &n, &sessions, &expect); err != nil {
		return fmt.Errorf("%s %q: %w", benchClientEnv, spec, err)
	}
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	// got[s][seq] counts the sockets of session s that have seq.
	got := make([][]atomic.Int32, sessions)
	for i := range got {
		got[i] = make([]atomic.Int32, expect+1)
	}
	perSession := make([]int32, sessions)
	for i := range n {
		perSession[i%sessions]++
	}

	socks := make([]*benchSocket, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := dialBenchSocket(addr, fmt.Sprintf("bench-%d", i%sessions))
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			socks[i] = s
		}()
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		return *err
	}
	say("ready")

	var errs atomic.Pointer[error]
	for i, s := range socks {
		session := i % sessions
		go func() {
			err := s.receive(func(seq uint64) {
				if seq < uint64(len(got[session])) && got[session][seq].Add(1) == perSession[session] {
					say("done %d %d", session, seq)
				}
			})
			if err != nil && !errors.Is(err, net.ErrClosed) {
				errs.CompareAndSwap(nil, &err)
				say("error socket %d: %v", i, err)
			}
		}()
	}
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes stdin
	for _, s := range socks {
		s.conn.Close()
	}
	var lat []time.Duration
	for _, s := range socks {
		s.mu.Lock()
		lat = append(lat, s.latencies...)
		s.mu.Unlock()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		say("stats %d %d", lat[len(lat)/2].Microseconds(), lat[len(lat)*99/100].Microseconds())
	}
	return nil
}

// benchSocket is one client socket: Engine.IO 4 over WebSocket, joined to the default namespace.
type benchSocket struct {
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex

	mu        sync.Mutex // guards latencies, read at the end
	latencies []time.Duration
}

func dialBenchSocket(addr, session string) (*benchSocket, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	s := &benchSocket{conn: conn, br: bufio.NewReaderSize(conn, 4096)}
	fail := func(what string, err error) (*benchSocket, error) {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return fail("upgrade", err)
		}
		if strings.HasPrefix(line, "HTTP/") && !strings.Contains(line, " 101 ") {
			return fail("upgrade", errors.New(strings.TrimSpace(line)))
		}
		if line == "\r\n" {
			break
		}
	}
	if p, err := s.read(); err != nil || !strings.HasPrefix(string(p), "0{") {
		return fail("open packet", fmt.Errorf("%q %v", p, err))
	}
	s.write("40")
	if p, err := s.read(); err != nil || !strings.HasPrefix(string(p), "40") {
		return fail("namespace connect", fmt.Errorf("%q %v", p, err))
	}
	s.write(`421["registerSession","` + session + `"]`)
	if p, err := s.read(); err != nil || !strings.HasPrefix(string(p), "431[") || !strings.Contains(string(p), `"ok":true`) {
		return fail("registerSession", fmt.Errorf("%q %v", p, err))
	}
	conn.SetDeadline(time.Time{})
	return s, nil
}

// receive reads events until the connection ends, checking that seqs follow one another and
// recording each event's latency from the "t" (unix ns) its data carries.
func (s *benchSocket) receive(got func(seq uint64)) error {
	var last uint64
	for {
		p, err := s.read()
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(p, []byte("42[")) {
			continue
		}
		now := time.Now()
		seq, ok := numberAfter(p, `{"seq":`)
		if !ok || seq != last+1 {
			return fmt.Errorf("event %q after seq %d", p, last)
		}
		last = seq
		if t, ok := numberAfter(p, `{"t":`); ok {
			s.mu.Lock()
			s.latencies = append(s.latencies, now.Sub(time.Unix(0, int64(t))))
			s.mu.Unlock()
		}
		got(seq)
	}
}

func numberAfter(p []byte, key string) (uint64, bool) {
	i := bytes.LastIndex(p, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := p[i+len(key):]
	end := bytes.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	return n, err == nil
}

// read returns the next data frame's payload, answering the server's Engine.IO pings.
func (s *benchSocket) read() ([]byte, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(s.br, h[:]); err != nil {
			return nil, err
		}
		size := uint64(h[1] & 0x7f)
		switch size {
		case 126:
			var x [2]byte
			if _, err := io.ReadFull(s.br, x[:]); err != nil {
				return nil, err
			}
			size = uint64(binary.BigEndian.Uint16(x[:]))
		case 127:
			var x [8]byte
			if _, err := io.ReadFull(s.br, x[:]); err != nil {
				return nil, err
			}
			size = binary.BigEndian.Uint64(x[:])
		}
		p := make([]byte, size)
		if _, err := io.ReadFull(s.br, p); err != nil {
			return nil, err
		}
		switch op := h[0] & 0x0f; {
		case op == 8:
			return nil, net.ErrClosed
		case op >= 8:
			continue // pings and pongs of the WebSocket layer; the server sends none
		case h[0]&0x80 == 0:
			return nil, errors.New("fragmented frame")
		case string(p) == "2":
			s.write("3")
			continue
		}
		return p, nil
	}
}

// write sends one masked text frame (a zero mask: the server unmasks all the same).
func (s *benchSocket) write(text string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := []byte{0x81, 0x80 | byte(len(text)), 0, 0, 0, 0}
	s.conn.Write(append(b, text...))
}
