// Package wswire writes WebSocket frames to a hijacked connection in batches: several whole
// frames to one syscall, the wire still carrying one message per frame. Both the raw WebSocket and
// the Socket.IO transports write their events through it.
package wswire

import (
	"bufio"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// Conn is a hijacked WebSocket connection. gorilla/websocket writes only the upgrade response and
// control frames through it (pings, pongs, close frames); every data frame is written whole
// between Begin and End, by one writer at a time holding mu, several frames to one syscall.
// Frames therefore never interleave, and gorilla's message writer is not involved.
type Conn struct {
	net.Conn
	mu       sync.Mutex    // held by the writer of a batch, and for each of gorilla's writes
	bw       *bufio.Writer // the batch's buffer, non-nil between begin and end
	deadline time.Time     // the write deadline set on Conn; guarded by mu
}

// writers keeps write buffers off idle connections: a Conn holds one only while it writes.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}

// Begin starts a batch: it waits for the connection, makes sure the write deadline is between 90%
// and 100% of timeout away, and returns the buffer to write whole frames to. End must follow.
//
// Re-arming the deadline costs a runtime timer update, 6% of a delivery's CPU at one event per
// write; the slack lets a socket that receives many events re-arm it once per tenth of timeout.
func (w *Conn) Begin(timeout time.Duration) *bufio.Writer {
	w.mu.Lock()
	w.bw = writers.Get().(*bufio.Writer)
	w.bw.Reset(w.Conn)
	now := time.Now()
	if left := w.deadline.Sub(now); left < timeout-timeout/10 || left > timeout {
		w.deadline = now.Add(timeout)
		// An error here means the connection is closed; the flush will say so.
		_ = w.Conn.SetWriteDeadline(w.deadline)
	}
	return w.bw
}

// End writes what the batch buffered and releases the connection.
func (w *Conn) End() error {
	err := w.bw.Flush()
	w.bw.Reset(nil)
	writers.Put(w.bw)
	w.bw = nil
	w.mu.Unlock()
	return err
}

// Write is gorilla's: one control frame, written between batches.
func (w *Conn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.Conn.Write(p)
}

// SetWriteDeadline is gorilla's, before each of its writes: it waits for a running batch, so
// that it does not cut that batch's deadline short.
func (w *Conn) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = t
	return w.Conn.SetWriteDeadline(t)
}

// WebSocket opcodes of data frames.
const (
	OpText   = 1
	OpBinary = 2
)

// AppendFrameHeader starts an unmasked, unfragmented server frame carrying n bytes (RFC 6455
// section 5.2).
func AppendFrameHeader(b []byte, opcode byte, n int) []byte {
	b = append(b, 0x80|opcode) // FIN
	switch {
	case n < 126:
		return append(b, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}
