package wire

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// WebSocket opcodes.
const (
	OpText  = 1
	OpClose = 8
	OpPing  = 9
	OpPong  = 10
)

// WSConn is a client WebSocket connection. ReadFrame is for one reader goroutine; writes may come
// from any goroutine.
type WSConn struct {
	conn    net.Conn
	br      *bufio.Reader
	payload []byte // the last data frame, valid until the next ReadFrame

	wmu  sync.Mutex // guards wbuf and writes
	wbuf []byte
	key  [4]byte // masking key; RFC 6455 wants one per frame, a fixed one is fine for a benchmark
}

// ErrClosed is returned by ReadFrame after the server's close frame.
type ErrClosed struct {
	Code   int
	Reason string
}

func (e *ErrClosed) Error() string { return fmt.Sprintf("websocket closed: %d %s", e.Code, e.Reason) }

// DialWS opens a WebSocket to path on d's server.
func DialWS(ctx context.Context, d *Dialer, path string) (*WSConn, error) {
	c, err := d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := handshake(c, d.Addr, path)
	if err != nil {
		c.Close()
		return nil, err
	}
	return ws, nil
}

func handshake(c net.Conn, host, path string) (*WSConn, error) {
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, fmt.Errorf("websocket handshake %s: %w", path, err)
	}
	// A small buffer: idle connections are the point of some scenarios, on the client side too.
	br := bufio.NewReaderSize(c, 2048)
	resp, err := readResponseHeader(br)
	if err != nil {
		return nil, fmt.Errorf("websocket handshake %s: %w", path, err)
	}
	if resp.Status != 101 {
		return nil, fmt.Errorf("websocket handshake %s: status %d", path, resp.Status)
	}
	c.SetDeadline(time.Time{})
	ws := &WSConn{conn: c, br: br}
	rand.Read(ws.key[:])
	// Sec-WebSocket-Accept is not checked: it guards against caching proxies, and there are none
	// between the tool and the server it measures.
	return ws, nil
}

// Close closes the TCP connection without a closing handshake.
func (w *WSConn) Close() error { return w.conn.Close() }

// Conn is the underlying connection.
func (w *WSConn) Conn() net.Conn { return w.conn }

// ReadFrame returns the next data message (fragments joined). Pings are answered here. The
// payload is valid until the next call.
func (w *WSConn) ReadFrame() (op byte, payload []byte, err error) {
	w.payload = w.payload[:0]
	op = 0
	for {
		fin, fop, n, err := w.readHeader()
		if err != nil {
			return 0, nil, err
		}
		if fop >= OpClose {
			ctl := make([]byte, n)
			if _, err := io.ReadFull(w.br, ctl); err != nil {
				return 0, nil, err
			}
			switch fop {
			case OpPing:
				if err := w.write(OpPong, ctl); err != nil {
					return 0, nil, err
				}
			case OpClose:
				ce := &ErrClosed{Code: 1005}
				if len(ctl) >= 2 {
					ce.Code = int(binary.BigEndian.Uint16(ctl))
					ce.Reason = string(ctl[2:])
				}
				_ = w.write(OpClose, ctl[:min(2, len(ctl))])
				return 0, nil, ce
			}
			continue
		}
		if fop != 0 {
			op = fop
		}
		start := len(w.payload)
		if cap(w.payload)-start < n {
			grown := make([]byte, start, start+n+512)
			copy(grown, w.payload)
			w.payload = grown
		}
		w.payload = w.payload[:start+n]
		if _, err := io.ReadFull(w.br, w.payload[start:]); err != nil {
			return 0, nil, err
		}
		if fin {
			return op, w.payload, nil
		}
	}
}

func (w *WSConn) readHeader() (fin bool, op byte, n int, err error) {
	h, err := w.br.Peek(2)
	if err != nil {
		return false, 0, 0, err
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	if h[1]&0x80 != 0 {
		return false, 0, 0, errors.New("server sent a masked frame")
	}
	size := int(h[1] & 0x7f)
	hl := 2
	switch size {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	h, err = w.br.Peek(hl)
	if err != nil {
		return false, 0, 0, err
	}
	switch size {
	case 126:
		size = int(binary.BigEndian.Uint16(h[2:]))
	case 127:
		size = int(binary.BigEndian.Uint64(h[2:]))
	}
	if size > 64<<20 {
		return false, 0, 0, fmt.Errorf("frame of %d bytes", size)
	}
	_, _ = w.br.Discard(hl)
	return fin, op, size, nil
}

// WriteText sends one masked text frame.
func (w *WSConn) WriteText(p []byte) error { return w.write(OpText, p) }

// WriteTextString sends one masked text frame.
func (w *WSConn) WriteTextString(s string) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.wbuf = appendFrame(w.wbuf[:0], OpText, w.key, s)
	_, err := w.conn.Write(w.wbuf)
	return err
}

// CloseNormal sends a 1000 close frame and closes the connection.
func (w *WSConn) CloseNormal() error {
	_ = w.write(OpClose, []byte{0x03, 0xe8})
	return w.conn.Close()
}

func (w *WSConn) write(op byte, p []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.wbuf = appendFrame(w.wbuf[:0], op, w.key, p)
	_, err := w.conn.Write(w.wbuf)
	return err
}

func appendFrame[T string | []byte](b []byte, op byte, key [4]byte, p T) []byte {
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, p...)
	for i := range b[start:] {
		b[start+i] ^= key[i&3]
	}
	return b
}

// IsNormalClose reports whether err is the end of a connection rather than a failure.
func IsNormalClose(err error) bool {
	var ce *ErrClosed
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || (errors.As(err, &ce) && ce.Code == 1000) ||
		strings.Contains(fmt.Sprint(err), "use of closed network connection")
}
