package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Detach moves the connection to the event loop. Bytes the handshake's reader already holds go
// with it. The WSConn must not be used afterwards.
func (w *WSConn) Detach() (*Stream, error) {
	pending, _ := w.br.Peek(w.br.Buffered())
	return NewStream(w.conn, pending, 4096)
}

// streamKey masks the few frames a streamed client sends (pongs); a fixed key is fine for a
// benchmark.
var streamKey = [4]byte{0x12, 0x34, 0x56, 0x78}

// WSParser parses the server's frames on s: onText gets each text message. Pings are answered,
// a close frame is answered and ends the stream with *ErrClosed. Fragmented messages are not
// expected from the servers measured and end the stream.
func WSParser(s *Stream, onText func(p []byte, now time.Time) error) Parser {
	var out []byte
	return func(p []byte, now time.Time) (int, error) {
		used := 0
		for {
			rest := p[used:]
			if len(rest) < 2 {
				return used, nil
			}
			fin, op := rest[0]&0x80 != 0, rest[0]&0x0f
			size, hl := int(rest[1]&0x7f), 2
			switch size {
			case 126:
				hl = 4
			case 127:
				hl = 10
			}
			if len(rest) < hl {
				return used, nil
			}
			switch size {
			case 126:
				size = int(binary.BigEndian.Uint16(rest[2:]))
			case 127:
				size = int(binary.BigEndian.Uint64(rest[2:]))
			}
			if rest[1]&0x80 != 0 || size > 64<<20 {
				return used, errors.New("websocket: bad frame header")
			}
			if len(rest) < hl+size {
				return used, nil
			}
			payload := rest[hl : hl+size]
			used += hl + size
			switch {
			case op == OpPing:
				out = appendFrame(out[:0], OpPong, streamKey, payload)
				if err := s.Write(out); err != nil {
					return used, err
				}
			case op == OpClose:
				ce := &ErrClosed{Code: 1005}
				if len(payload) >= 2 {
					ce.Code = int(binary.BigEndian.Uint16(payload))
					ce.Reason = string(payload[2:])
				}
				out = appendFrame(out[:0], OpClose, streamKey, payload[:min(2, len(payload))])
				_ = s.Write(out)
				return used, ce
			case op == OpPong:
			case !fin || op == 0:
				return used, fmt.Errorf("websocket: fragmented message (opcode %d)", op)
			case op == OpText:
				if err := onText(payload, now); err != nil {
					return used, err
				}
			}
		}
	}
}

// WriteWSText sends a masked text frame on s; only s's parser may call it.
func WriteWSText(s *Stream, buf []byte, text string) ([]byte, error) {
	buf = appendFrame(buf[:0], OpText, streamKey, text)
	return buf, s.Write(buf)
}
