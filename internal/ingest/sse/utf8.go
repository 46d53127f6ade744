package sse

import "unicode/utf8"

// appendUTF8 appends b to dst as the WHATWG "UTF-8 decode" produces it: each maximal invalid
// subsequence becomes one U+FFFD. Browsers decode every event stream this way, and subscribers
// must never receive invalid UTF-8 (a WebSocket text frame carrying it is a protocol error).
func appendUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			size = invalidPrefix(b)
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}

// validUTF8 returns b, or a decoded copy when b is not valid UTF-8.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return appendUTF8(make([]byte, 0, len(b)+8), b)
}

// invalidPrefix is the length of the maximal subpart at the start of b, which does not begin with
// a valid sequence: a lead byte and the continuation bytes that were acceptable after it, following
// the byte ranges of the WHATWG UTF-8 decoder (no overlongs, surrogates or code points past U+10FFFF).
func invalidPrefix(b []byte) int {
	lo, hi := byte(0x80), byte(0xBF)
	var need int
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(b) && b[n] >= lo && b[n] <= hi {
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}
