//go:build linux

package netpoll

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// Watcher is a socket in the poller's care. Each arming is one-shot: the poller calls
// onReadable once, and again only after Rearm, so that a connection never has two readers.
type Watcher struct {
	rc         syscall.RawConn
	id         uint64
	onReadable func(*Watcher)
}

type poller struct {
	epfd int

	mu      sync.Mutex // guards watched and next
	watched map[uint64]*Watcher
	next    uint64
}

var (
	once   sync.Once
	shared *poller // nil when epoll is not available
)

func get() *poller {
	once.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		shared = &poller{epfd: fd, watched: make(map[uint64]*Watcher)}
		go shared.loop()
	})
	return shared
}

// events are the readiness a watcher is woken for: input, and the peer's half or full close.
const events = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// Watch arranges for onReadable to run, on a goroutine of its own, when conn has input or its
// peer has closed; it may run before Watch returns. It returns nil when conn cannot be watched (a TLS connection, say): the
// caller reads it with a goroutine then.
func Watch(conn net.Conn, onReadable func(*Watcher)) *Watcher {
	p := get()
	if p == nil {
		return nil
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &Watcher{rc: rc, onReadable: onReadable}
	p.mu.Lock()
	p.next++
	w.id = p.next
	p.watched[w.id] = w
	p.mu.Unlock()
	if err := p.ctl(w, syscall.EPOLL_CTL_ADD); err != nil {
		w.Stop()
		return nil
	}
	return w
}

// Rearm asks for the next readiness, once the reader is done.
func (w *Watcher) Rearm() error { return shared.ctl(w, syscall.EPOLL_CTL_MOD) }

// Stop forgets w. Closing the socket takes it out of the epoll set; the map entry is what must go.
func (w *Watcher) Stop() {
	shared.mu.Lock()
	delete(shared.watched, w.id)
	shared.mu.Unlock()
}

// Read reads what is there without waiting. It returns 0 and no error when the peer has closed,
// and ErrNothing when there was nothing to read.
func (w *Watcher) Read(p []byte) (int, error) {
	var n int
	var rerr error
	err := w.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			if !errors.Is(rerr, syscall.EINTR) {
				return true // never wait: the poller says when there is more
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errors.Is(rerr, syscall.EAGAIN):
		return 0, ErrNothing
	case rerr != nil:
		return 0, rerr
	}
	return n, nil
}

// ctl adds or re-arms w's socket. Control holds the descriptor open while it runs, so a socket
// closed meanwhile fails here rather than touching a reused descriptor.
func (p *poller) ctl(w *Watcher, op int) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(uint32(w.id)), Pad: int32(uint32(w.id >> 32))}
	var err error
	if cerr := w.rc.Control(func(fd uintptr) { err = syscall.EpollCtl(p.epfd, op, int(fd), &ev) }); cerr != nil {
		return cerr
	}
	return err
}

func (p *poller) loop() {
	ready := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, ready, -1)
		if err != nil {
			continue // EINTR is the only error epoll_wait returns on a valid instance
		}
		for i := range ready[:n] {
			id := uint64(uint32(ready[i].Fd)) | uint64(uint32(ready[i].Pad))<<32
			p.mu.Lock()
			w := p.watched[id]
			p.mu.Unlock()
			if w != nil {
				go w.onReadable(w)
			}
		}
	}
}
