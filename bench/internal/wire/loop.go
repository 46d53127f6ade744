package wire

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Parser consumes what a stream read: p is every byte not yet consumed, now the time of the read.
// It returns how many bytes it used; the rest is offered again, with more, after the next read.
// An error ends the stream.
type Parser func(p []byte, now time.Time) (int, error)

// Stream is a connection read by the event loop: one read syscall per readiness event, on a
// loop goroutine, rather than a goroutine per connection that reads until EAGAIN. On a machine
// where syscalls and wake-ups are dear, that halves what the load tool spends per delivery.
type Stream struct {
	loop  *loop
	fd    int
	parse Parser

	mu     sync.Mutex // guards buf, n, closed: the loop reads while another goroutine may Close
	buf    []byte
	n      int
	closed bool
	done   chan error // receives the reason the stream ended, once
}

// loops are the event-loop goroutines, one per CPU, started on first use.
var (
	loopsOnce sync.Once
	loops     []*loop
	loopsErr  error
	loopNext  uint64
	loopMu    sync.Mutex
)

type loop struct {
	epfd    int
	mu      sync.RWMutex // guards streams
	streams map[int32]*Stream
}

func startLoops() {
	for range runtime.GOMAXPROCS(0) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			loopsErr = fmt.Errorf("epoll: %w", err)
			return
		}
		l := &loop{epfd: epfd, streams: map[int32]*Stream{}}
		loops = append(loops, l)
		go l.run()
	}
}

// NewStream moves conn to the event loop: pending holds bytes already read from it (what a
// handshake's buffered reader took past the headers). conn must not be used afterwards.
func NewStream(conn net.Conn, pending []byte, bufSize int) (*Stream, error) {
	loopsOnce.Do(startLoops)
	if loopsErr != nil {
		return nil, loopsErr
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("stream: not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(f uintptr) { fd, dupErr = syscall.Dup(int(f)) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("stream: dup: %w", dupErr)
	}
	// Closing the original only drops its descriptor (and Go's poller registration); the
	// connection lives on in the duplicate.
	conn.Close()
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	s := &Stream{fd: fd, buf: make([]byte, max(bufSize, 2*len(pending), 512)), done: make(chan error, 1)}
	s.n = copy(s.buf, pending)
	loopMu.Lock()
	s.loop = loops[loopNext%uint64(len(loops))]
	loopNext++
	loopMu.Unlock()
	return s, nil
}

// Start hands the stream to its loop with parse; bytes already pending are parsed first.
func (s *Stream) Start(parse Parser) error {
	s.mu.Lock()
	s.parse = parse
	if s.n > 0 {
		if err := s.consume(time.Now()); err != nil {
			s.mu.Unlock()
			s.finish(err)
			return nil
		}
	}
	s.mu.Unlock()
	s.loop.mu.Lock()
	s.loop.streams[int32(s.fd)] = s
	s.loop.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(s.fd)}
	if err := syscall.EpollCtl(s.loop.epfd, syscall.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		s.finish(fmt.Errorf("epoll add: %w", err))
		return err
	}
	return nil
}

// Wait blocks until the stream ends and returns why (nil after Close).
func (s *Stream) Wait() error { return <-s.done }

// Close ends the stream; Wait returns nil.
func (s *Stream) Close() { s.finish(nil) }

func (s *Stream) finish(reason error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.loop.mu.Lock()
	delete(s.loop.streams, int32(s.fd))
	s.loop.mu.Unlock()
	_ = syscall.EpollCtl(s.loop.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
	syscall.Close(s.fd)
	s.mu.Unlock()
	s.done <- reason
}

// Write sends p whole. Only the stream's parser may call it (it runs with the stream locked).
// It is for small control messages (pongs), so it spins on a full socket buffer rather than
// waiting on the poller.
func (s *Stream) Write(p []byte) error {
	if s.closed {
		return net.ErrClosed
	}
	for len(p) > 0 {
		n, err := syscall.Write(s.fd, p)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			runtime.Gosched()
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (l *loop) run() {
	events := make([]syscall.EpollEvent, 512)
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic("epoll_wait: " + err.Error())
		}
		now := time.Now()
		for i := range n {
			l.mu.RLock()
			s := l.streams[events[i].Fd]
			l.mu.RUnlock()
			if s != nil {
				s.readOnce(now)
			}
		}
	}
}

// readOnce reads what is there, once, and parses it. Level-triggered epoll reports the stream
// again if more is waiting.
func (s *Stream) readOnce(now time.Time) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.n == len(s.buf) {
		grown := make([]byte, 2*len(s.buf))
		copy(grown, s.buf[:s.n])
		s.buf = grown
	}
	n, err := syscall.Read(s.fd, s.buf[s.n:])
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		s.mu.Unlock()
		return
	case err != nil:
		s.mu.Unlock()
		s.finish(fmt.Errorf("read: %w", err))
		return
	case n == 0:
		s.mu.Unlock()
		s.finish(io.EOF)
		return
	}
	s.n += n
	err = s.consume(now)
	s.mu.Unlock()
	if err != nil {
		s.finish(err)
	}
}

// consume parses the buffered bytes and keeps what the parser left. s.mu is held.
func (s *Stream) consume(now time.Time) error {
	used, err := s.parse(s.buf[:s.n], now)
	if used > 0 {
		s.n = copy(s.buf, s.buf[used:s.n])
	}
	return err
}
