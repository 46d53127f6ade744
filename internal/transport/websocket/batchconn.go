package websocket

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// batchConn lets one writer put several WebSocket frames on the wire with one syscall: between
// begin and end, writes go to a pooled buffer. The wire still carries one event per frame.
// Control frames that gorilla writes from other goroutines (pongs, close replies) land in the
// same buffer during a batch; gorilla writes each frame under its own lock, so frames never
// interleave.
type batchConn struct {
	net.Conn
	mu sync.Mutex    // guards bw
	bw *bufio.Writer // non-nil during a batch

	deadlineMu sync.Mutex
	deadline   time.Time // the write deadline last set on Conn
}

// SetWriteDeadline passes a new deadline on to the socket. gorilla sets the connection's write
// deadline again before every frame; within a batch it is the same one, and each call to the
// socket re-arms a runtime timer.
func (c *batchConn) SetWriteDeadline(t time.Time) error {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if t.Equal(c.deadline) {
		return nil
	}
	c.deadline = t
	return c.Conn.SetWriteDeadline(t)
}

// writerPool keeps write buffers off idle connections: a connection holds one only while it
// writes a batch.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bw != nil {
		return c.bw.Write(p)
	}
	return c.Conn.Write(p)
}

func (c *batchConn) begin() {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(c.Conn)
	c.mu.Lock()
	c.bw = bw
	c.mu.Unlock()
}

func (c *batchConn) end() error {
	c.mu.Lock()
	bw := c.bw
	c.bw = nil
	err := bw.Flush()
	c.mu.Unlock()
	bw.Reset(nil)
	writerPool.Put(bw)
	return err
}
