package websocket

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gorilla/websocket"
)

// clientFrame encodes a frame as a client must send it: masked.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	var b bytes.Buffer
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b.WriteByte(b0)
	switch n := len(payload); {
	case n <= 125:
		b.WriteByte(0x80 | byte(n))
	case n <= 0xFFFF:
		b.WriteByte(0x80 | 126)
		binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(0x80 | 127)
		binary.Write(&b, binary.BigEndian, uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b.Write(key[:])
	for i, c := range payload {
		b.WriteByte(c ^ key[i&3])
	}
	return b.Bytes()
}

func TestParseFrameReadsWholeMaskedFrames(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	huge := bytes.Repeat([]byte("y"), 70000)
	for _, tc := range []struct {
		name    string
		fin     bool
		op      byte
		payload []byte
	}{
		{"empty text", true, opText, nil},
		{"short text", true, opText, []byte(`{"sessionId":"s1"}`)},
		{"16-bit length", false, opBinary, long},
		{"64-bit length", true, opContinuation, huge},
		{"ping", true, opPing, []byte("hi")},
		{"close", true, opClose, websocket.FormatCloseMessage(1000, "bye")},
	} {
		wire := clientFrame(tc.fin, tc.op, tc.payload)
		for _, cut := range []int{0, 1, 2, 3, 5, 9, 11, 13, len(wire) - 1} { // within the header, the key, the payload
			if cut >= len(wire) {
				continue
			}
			if _, n, perr := parseFrame(append([]byte(nil), wire[:cut]...), 1<<20); n != 0 || perr != nil {
				t.Fatalf("%s: %d of %d bytes parsed as a frame (n=%d, err=%v)", tc.name, cut, len(wire), n, perr)
			}
		}
		f, n, perr := parseFrame(append(wire, 0x81), 1<<20) // a following frame's first byte is not part of it
		if perr != nil || n != len(wire) {
			t.Fatalf("%s: n=%d of %d, err=%v", tc.name, n, len(wire), perr)
		}
		if f.fin != tc.fin || f.op != tc.op || !bytes.Equal(f.payload, tc.payload) {
			t.Fatalf("%s: got fin=%v op=%d payload %d bytes", tc.name, f.fin, f.op, len(f.payload))
		}
	}
}

func TestParseFrameRefusesWhatRFC6455Forbids(t *testing.T) {
	unmasked := clientFrame(true, opText, []byte("hi"))
	unmasked[1] &^= 0x80
	rsv := clientFrame(true, opText, []byte("hi"))
	rsv[0] |= 0x40
	badOp := clientFrame(true, 0x3, []byte("hi"))
	fragPing := clientFrame(false, opPing, nil)
	bigPing := clientFrame(true, opPing, bytes.Repeat([]byte("p"), 126))
	tooBig := clientFrame(true, opText, bytes.Repeat([]byte("m"), 5000))[:12] // the header is enough
	negative := []byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1}
	for _, tc := range []struct {
		name string
		wire []byte
		code int
	}{
		{"unmasked", unmasked, websocket.CloseProtocolError},
		{"reserved bit", rsv, websocket.CloseProtocolError},
		{"unknown opcode", badOp, websocket.CloseProtocolError},
		{"fragmented ping", fragPing, websocket.CloseProtocolError},
		{"ping over 125 bytes", bigPing, websocket.CloseProtocolError},
		{"over the limit", tooBig, websocket.CloseMessageTooBig},
		{"length with the top bit set", negative, websocket.CloseProtocolError},
	} {
		_, _, perr := parseFrame(tc.wire, 4096)
		if perr == nil || perr.code != tc.code || perr.text == "" {
			t.Errorf("%s: got %+v, want code %d with a reason", tc.name, perr, tc.code)
		}
	}
}

func TestParseClose(t *testing.T) {
	if code, _, perr := parseClose(nil); perr != nil || code != websocket.CloseNoStatusReceived {
		t.Errorf("empty close: %d %v", code, perr)
	}
	if code, text, perr := parseClose(websocket.FormatCloseMessage(4000, "done")); perr != nil || code != 4000 || text != "done" {
		t.Errorf("4000 done: %d %q %v", code, text, perr)
	}
	for _, bad := range [][]byte{{0x03}, {0x03, 0xED}, websocket.FormatCloseMessage(999, ""),
		websocket.FormatCloseMessage(5000, ""), append(websocket.FormatCloseMessage(1000, ""), 0xff)} {
		if _, _, perr := parseClose(bad); perr == nil {
			t.Errorf("close payload %x accepted", bad)
		}
	}
}

// FuzzParseFrame: any input either fails with a close code, asks for more, or yields a frame
// within the input, and never panics.
func FuzzParseFrame(f *testing.F) {
	f.Add(clientFrame(true, opText, []byte(`{"sessionId":"s"}`)))
	f.Add(clientFrame(false, opBinary, bytes.Repeat([]byte("b"), 200)))
	f.Add(clientFrame(true, opClose, websocket.FormatCloseMessage(1001, "x")))
	f.Add([]byte{0x81, 0xFF, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, perr := parseFrame(b, 4096)
		switch {
		case perr != nil:
			if n != 0 || perr.code < 1000 || perr.text == "" {
				t.Fatalf("error %+v with n=%d", perr, n)
			}
		case n == 0:
		default:
			if n > len(b) || len(fr.payload) > n || (fr.op < opClose && int64(len(fr.payload)) > 4096) {
				t.Fatalf("frame of %d bytes, payload %d, from %d bytes", n, len(fr.payload), len(b))
			}
		}
	})
}
