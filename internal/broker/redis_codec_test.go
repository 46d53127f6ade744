package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
)

// notice builds a pub/sub notice the way the publish script does: seq field, then tail.
func notice(parts ...any) string {
	var b []byte
	for i := 0; i < len(parts); i += 2 {
		b = appendField(b, strconv.FormatUint(parts[i].(uint64), 10))
		b = append(b, parts[i+1].([]byte)...)
	}
	return string(b)
}

func TestNoticeRoundTripsEveryField(t *testing.T) {
	at := time.Unix(1_700_000_000, 123456789)
	a := event.Input{Session: "s1", Type: "progress", ID: "e:1", Data: json.RawMessage(`{"n":"a:b 3:xyz"}`)}
	b := event.Input{Session: "s-2", Type: "complete", Data: json.RawMessage(`{}`)}
	empty := event.Input{Session: "s1", Type: ""}
	got, err := decodeNotice(notice(uint64(7), encodeTail(&a, at, false), uint64(1), encodeTail(&b, at, true),
		uint64(8), encodeTail(&empty, at, false)), func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("decoded %d events, want 3", len(got))
	}
	check := func(ev *event.Event, in event.Input, seq uint64, terminal bool) {
		t.Helper()
		if ev.Session != in.Session || ev.Seq != seq || ev.Type != in.Type || ev.ID != in.ID ||
			!bytes.Equal(ev.Data, in.Data) || !ev.Time.Equal(at) || ev.Terminal != terminal {
			t.Fatalf("decoded %+v from %+v seq %d", ev, in, seq)
		}
	}
	check(got[0], a, 7, false)
	check(got[1], b, 1, true)
	check(got[2], empty, 8, false)
	if got[2].Data != nil {
		t.Fatalf("empty data decoded as %q, want nil", got[2].Data)
	}
}

func TestNoticeSkipsUnwatchedSessions(t *testing.T) {
	at := time.Now()
	a := event.Input{Session: "watched", Type: "progress", Data: json.RawMessage(`1`)}
	b := event.Input{Session: "other", Type: "progress", Data: json.RawMessage(`2`)}
	got, err := decodeNotice(notice(uint64(1), encodeTail(&b, at, false), uint64(4), encodeTail(&a, at, false)),
		func(s string) bool { return s == "watched" })
	if err != nil || len(got) != 1 || got[0].Session != "watched" || got[0].Seq != 4 {
		t.Fatalf("decoded %+v, %v; want only watched's seq 4", got, err)
	}
}

func TestMalformedNoticesAreErrors(t *testing.T) {
	good := notice(uint64(3), encodeTail(&event.Input{Session: "s", Type: "t", Data: json.RawMessage(`{}`)}, time.Now(), false))
	for name, payload := range map[string]string{
		"truncated":      good[:len(good)-1],
		"no length":      "abc",
		"long length":    "99:1",
		"negative":       "-1:",
		"zero seq":       "1:0" + good[3:],
		"bad time":       "1:3" + string(appendField(appendField(appendField(appendField(nil, "s"), "t"), ""), "x")) + "1:01:x",
		"missing fields": "1:31:s",
	} {
		if _, err := decodeNotice(payload, func(string) bool { return true }); !errors.Is(err, errBadEncoding) {
			t.Errorf("%s: %q decoded with err %v, want errBadEncoding", name, payload, err)
		}
	}
}

func FuzzDecodeNotice(f *testing.F) {
	f.Add(notice(uint64(1), encodeTail(&event.Input{Session: "s", Type: "t", ID: "i", Data: json.RawMessage(`{}`)}, time.Now(), true)))
	f.Add("1:1")
	f.Fuzz(func(t *testing.T, payload string) {
		evs, err := decodeNotice(payload, func(string) bool { return true })
		if err != nil {
			return
		}
		// Whatever decodes must survive encoding and decoding again unchanged.
		var again []byte
		for _, ev := range evs {
			in := event.Input{Session: ev.Session, Type: ev.Type, ID: ev.ID, Data: ev.Data}
			again = appendField(again, strconv.FormatUint(ev.Seq, 10))
			again = append(again, encodeTail(&in, ev.Time, ev.Terminal)...)
		}
		evs2, err := decodeNotice(string(again), func(string) bool { return true })
		if err != nil || len(evs2) != len(evs) {
			t.Fatalf("%q re-encoded as %q: %d events, %v", payload, again, len(evs2), err)
		}
		for i, ev := range evs {
			e2 := evs2[i]
			if e2.Session != ev.Session || e2.Seq != ev.Seq || e2.Type != ev.Type || e2.ID != ev.ID ||
				!bytes.Equal(e2.Data, ev.Data) || !e2.Time.Equal(ev.Time) || e2.Terminal != ev.Terminal {
				t.Fatalf("%q: %+v became %+v", payload, ev, e2)
			}
		}
	})
}
