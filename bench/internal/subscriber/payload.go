package subscriber

import (
	"bytes"
	"strconv"
)

// Payload is what the publisher puts in every event. Fields are scanned, not decoded: the keys
// are fixed and the scan costs a fraction of a JSON decode, which keeps the client from being
// the bottleneck.
var (
	keySentAt = []byte(`"sentAt":`)
	keyN      = []byte(`"n":`)
	keySeq    = []byte(`"seq":`)
)

// AppendPayload appends one event's JSON: {"sessionId","type","sentAt","n","processed","total"}.
// The type is "progress"; processed/total make it look like an import's progress report.
func AppendPayload(b []byte, session string, sentAt int64, n uint64, total uint64) []byte {
	b = append(b, `{"sessionId":"`...)
	b = append(b, session...)
	b = append(b, `","type":"progress","sentAt":`...)
	b = strconv.AppendInt(b, sentAt, 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `,"processed":`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendUint(b, total, 10)
	b = append(b, `,"message":"importing users"}`...)
	return b
}

// fieldUint returns the unsigned integer after key in b, searching from the start, and the index
// just past it; ok is false when key is absent or not followed by digits.
func fieldUint(b, key []byte) (v uint64, end int, ok bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, 0, false
	}
	j := i + len(key)
	for j < len(b) && b[j] == ' ' {
		j++
	}
	start := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + uint64(b[j]-'0')
		j++
	}
	return v, j, j > start
}

// scanEvent reads sentAt and n from one event's JSON.
func scanEvent(b []byte) (sentAt int64, n uint64, ok bool) {
	s, end, ok1 := fieldUint(b, keySentAt)
	if !ok1 {
		return 0, 0, false
	}
	n, _, ok2 := fieldUint(b[end:], keyN)
	return int64(s), n, ok2
}
