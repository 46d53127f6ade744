package subscriber

import (
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/metrics"
)

func payload(n uint64) []byte {
	return AppendPayload(nil, "s1", time.Now().UnixNano(), n, 10)
}

func TestReceiverCountsLossDuplicatesAndSeqGaps(t *testing.T) {
	lat := new(metrics.Histogram)
	r := NewReceiver("s1", lat)
	now := time.Now()
	r.Event(payload(1), 1, now)
	r.Event(payload(2), 2, now)
	r.Event(payload(2), 2, now) // a repeat: dup by n and by seq
	r.Event(payload(4), 4, now) // seq 3 skipped
	got := r.Tally()
	want := Tally{Distinct: 3, Dups: 1, SeqGaps: 1, SeqDups: 1}
	if got != want {
		t.Fatalf("tally %+v, want %+v", got, want)
	}
	if lat.Count() != 3 {
		t.Fatalf("latencies recorded %d, want one per distinct event", lat.Count())
	}

	r.Reset(4, new(metrics.Histogram))
	r.Event(payload(4), 0, now) // from before the new measurement
	r.Event(payload(5), 0, now)
	if got := r.Tally(); got.Distinct != 1 || got.Dups != 1 {
		t.Fatalf("after reset: %+v", got)
	}
}

func TestPollEventsReadsEveryEnvelopeAndTheCursor(t *testing.T) {
	body := []byte(`{"session":"s1","events":[` +
		`{"seq":7,"type":"progress","session":"s1","data":` + string(payload(1)) + `},` +
		`{"seq":8,"type":"progress","session":"s1","data":` + string(payload(2)) + `}` +
		`],"last":8,"done":false}`)
	r := NewReceiver("s1", new(metrics.Histogram))
	var c pollClient
	if after := c.events(body, 6, r, time.Now()); after != 8 {
		t.Fatalf("cursor %d, want 8", after)
	}
	if got := r.Tally(); got.Distinct != 2 || got.SeqGaps != 0 || got.Bad != 0 {
		t.Fatalf("tally %+v", got)
	}
	empty := []byte(`{"session":"s1","events":[],"last":8,"done":false}`)
	if after := c.events(empty, 8, r, time.Now()); after != 8 {
		t.Fatalf("cursor after an empty answer %d, want 8", after)
	}
}
