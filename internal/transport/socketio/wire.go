package socketio

import (
	"bufio"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// wire is the hijacked connection under a socket's WebSocket transport. gorilla/websocket reads
// from it (the engine's reader) and writes only the upgrade response and control frames through
// it (replies to a client's ping or close); every data frame, the engine's packets (wsTransport.Send) and the relay's
// events (delivery), is written here whole, by one writer at a time holding mu, several frames to
// one syscall. Frames therefore never interleave, and neither the engine's per-packet write
// goroutine nor gorilla's message writer is involved.
type wire struct {
	net.Conn
	mu       sync.Mutex    // held by the writer of a batch, and for each of gorilla's writes
	bw       *bufio.Writer // the batch's buffer, non-nil between begin and end
	deadline time.Time     // the write deadline set on Conn; guarded by mu
}

// wireWriters keeps write buffers off idle connections: a wire holds one only while it writes.
var wireWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}

// begin starts a batch: it waits for the wire, makes sure the write deadline is between 90% and
// 100% of timeout away, and returns the buffer to write whole frames to. end must follow.
//
// Re-arming the deadline costs a runtime timer update, 6% of a delivery's CPU at one event per
// write; the slack lets a socket that receives many events re-arm it once per tenth of timeout.
func (w *wire) begin(timeout time.Duration) *bufio.Writer {
	w.mu.Lock()
	w.bw = wireWriters.Get().(*bufio.Writer)
	w.bw.Reset(w.Conn)
	now := time.Now()
	if left := w.deadline.Sub(now); left < timeout-timeout/10 || left > timeout {
		w.deadline = now.Add(timeout)
		// An error here means the connection is closed; the flush will say so.
		_ = w.Conn.SetWriteDeadline(w.deadline)
	}
	return w.bw
}

// end writes what the batch buffered and releases the wire.
func (w *wire) end() error {
	err := w.bw.Flush()
	w.bw.Reset(nil)
	wireWriters.Put(w.bw)
	w.bw = nil
	w.mu.Unlock()
	return err
}

// Write is gorilla's: one control frame, written between batches.
func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.Conn.Write(p)
}

// SetWriteDeadline is gorilla's, before each of its writes: it waits for a running batch, so
// that it does not cut that batch's deadline short.
func (w *wire) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = t
	return w.Conn.SetWriteDeadline(t)
}

// WebSocket opcodes of the frames written here.
const (
	opText   = 1
	opBinary = 2
)

// appendFrameHeader starts an unmasked, unfragmented server frame carrying n bytes (RFC 6455
// section 5.2).
func appendFrameHeader(b []byte, opcode byte, n int) []byte {
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
