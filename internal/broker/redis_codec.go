package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
)

// Events travel through Redis as runs of length-prefixed fields, "<decimal length>:<bytes>": Lua
// builds them by concatenation, Go reads them without a parser, and Data passes byte-for-byte.
//
// The tail of an event is its fields but the seq: session, type, ID, time (Unix nanoseconds on the
// publishing node's clock), terminal ("1" or "0"), data. The publishing node encodes it; the script
// stores it as the stream entry's only field and, prefixed with the seq field it assigned, appends it
// to the batch's one pub/sub notice.
const tailFields = 6

var errBadEncoding = errors.New("malformed event encoding")

// encodeTail encodes everything about in that is known before the script assigns its seq.
func encodeTail(in *event.Input, t time.Time, terminal bool) []byte {
	b := make([]byte, 0, len(in.Session)+len(in.Type)+len(in.ID)+len(in.Data)+40)
	b = appendField(b, in.Session)
	b = appendField(b, in.Type)
	b = appendField(b, in.ID)
	b = appendField(b, strconv.FormatInt(t.UnixNano(), 10))
	if terminal {
		b = appendField(b, "1")
	} else {
		b = appendField(b, "0")
	}
	b = strconv.AppendInt(b, int64(len(in.Data)), 10)
	b = append(b, ':')
	return append(b, in.Data...)
}

func appendField(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// fieldReader reads fields from an encoding, front to back.
type fieldReader struct{ rest string }

func (r *fieldReader) more() bool { return r.rest != "" }

func (r *fieldReader) field() (string, error) {
	colon := strings.IndexByte(r.rest, ':')
	if colon <= 0 || colon > 10 {
		return "", fmt.Errorf("%w: no field length", errBadEncoding)
	}
	n, err := strconv.Atoi(r.rest[:colon])
	if err != nil || n < 0 || n > len(r.rest)-colon-1 {
		return "", fmt.Errorf("%w: bad field length %q", errBadEncoding, r.rest[:colon])
	}
	v := r.rest[colon+1 : colon+1+n]
	r.rest = r.rest[colon+1+n:]
	return v, nil
}

// decodeTail reads one tail into an event with the given seq. Strings are cloned so that a small
// event does not pin a large notice in memory.
func decodeTail(r *fieldReader, seq uint64) (*event.Event, error) {
	var f [tailFields]string
	for i := range f {
		v, err := r.field()
		if err != nil {
			return nil, err
		}
		f[i] = v
	}
	nanos, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: bad time %q", errBadEncoding, f[3])
	}
	ev := &event.Event{
		Session:  strings.Clone(f[0]),
		Seq:      seq,
		Type:     strings.Clone(f[1]),
		ID:       strings.Clone(f[2]),
		Time:     time.Unix(0, nanos),
		Terminal: f[4] == "1",
	}
	if f[5] != "" {
		ev.Data = json.RawMessage(f[5])
	}
	return ev, nil
}

// decodeNotice reads a pub/sub notice: for each event, its seq field and then its tail. Events of
// sessions that wanted rejects are skipped without being built.
func decodeNotice(payload string, wanted func(session string) bool) ([]*event.Event, error) {
	var out []*event.Event
	r := fieldReader{rest: payload}
	for r.more() {
		seqField, err := r.field()
		if err != nil {
			return out, err
		}
		seq, err := strconv.ParseUint(seqField, 10, 64)
		if err != nil || seq == 0 {
			return out, fmt.Errorf("%w: bad seq %q", errBadEncoding, seqField)
		}
		if session, ok := r.peekField(); ok && !wanted(session) {
			if err := r.skip(tailFields); err != nil {
				return out, err
			}
			continue
		}
		ev, err := decodeTail(&r, seq)
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// peekField returns the next field without consuming it.
func (r *fieldReader) peekField() (string, bool) {
	c := *r
	v, err := c.field()
	return v, err == nil
}

func (r *fieldReader) skip(n int) error {
	for range n {
		if _, err := r.field(); err != nil {
			return err
		}
	}
	return nil
}
