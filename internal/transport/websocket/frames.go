package websocket

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The relay reads client frames itself rather than through gorilla: gorilla's reader needs a
// goroutine blocked in it for the life of the connection, and that goroutine's stack is most of
// what an idle connection costs. Clients send little (a registration, pongs, a close), so a
// parser over whole buffered frames is enough. gorilla still does the handshake and all writes.

// RFC 6455 opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// inFrame is one client frame, its payload unmasked in place.
type inFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// protocolError is a reason to close the connection: the close code and its text.
type protocolError struct {
	code int
	text string
}

func failWith(code int, text string) *protocolError { return &protocolError{code, text} }

// parseFrame reads one frame from the start of b. It returns the bytes the frame took, or 0 when
// b does not yet hold a whole frame. A data frame longer than limit fails with 1009 as soon as
// its header arrives, so that nothing that large is ever buffered.
func parseFrame(b []byte, limit int64) (f inFrame, n int, perr *protocolError) {
	if len(b) < 2 {
		return f, 0, nil
	}
	b0, b1 := b[0], b[1]
	f.fin = b0&0x80 != 0
	f.op = b0 & 0x0F
	if b0&0x70 != 0 {
		return f, 0, failWith(websocket.CloseProtocolError, "reserved bits set without an extension")
	}
	control := f.op >= opClose
	switch f.op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
	default:
		return f, 0, failWith(websocket.CloseProtocolError, "unknown opcode")
	}
	if b1&0x80 == 0 {
		return f, 0, failWith(websocket.CloseProtocolError, "client frames must be masked")
	}
	head := 2
	length := int64(b1 & 0x7F)
	switch length {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		length = int64(binary.BigEndian.Uint16(b[2:4]))
		head = 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		l := binary.BigEndian.Uint64(b[2:10])
		if l>>63 != 0 {
			return f, 0, failWith(websocket.CloseProtocolError, "frame length out of range")
		}
		length = int64(l)
		head = 10
	}
	if control && (!f.fin || length > 125) {
		return f, 0, failWith(websocket.CloseProtocolError, "control frames must be whole and at most 125 bytes")
	}
	if !control && length > limit {
		return f, 0, failWith(websocket.CloseMessageTooBig, "message too big")
	}
	if int64(len(b)) < int64(head)+4+length {
		return f, 0, nil
	}
	key := b[head : head+4]
	f.payload = b[head+4 : head+4+int(length)]
	for i := range f.payload {
		f.payload[i] ^= key[i&3]
	}
	return f, head + 4 + int(length), nil
}

// parseClose reads a close frame's payload: the client's code and reason, and the code to echo.
// An empty payload means no code (1005), which is answered with an empty close frame.
func parseClose(p []byte) (code int, text string, perr *protocolError) {
	switch {
	case len(p) == 0:
		return websocket.CloseNoStatusReceived, "", nil
	case len(p) == 1:
		return 0, "", failWith(websocket.CloseProtocolError, "close frame with a one-byte payload")
	}
	code = int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return 0, "", failWith(websocket.CloseProtocolError, "invalid close code")
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", failWith(websocket.CloseInvalidFramePayloadData, "close reason is not UTF-8")
	}
	return code, string(p[2:]), nil
}

// validCloseCode reports whether a peer may send code (RFC 6455 section 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
