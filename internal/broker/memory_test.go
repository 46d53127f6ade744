package broker

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
)

type recordingSink struct {
	mu  sync.Mutex
	got []*event.Event
}

func (r *recordingSink) Deliver(ev *event.Event) {
	r.mu.Lock()
	r.got = append(r.got, ev)
	r.mu.Unlock()
}

func (r *recordingSink) Resync() {}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func newMemory(t *testing.T, mod func(*Options)) (*Memory, *recordingSink, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	o := Defaults()
	o.Now = clk.Now
	if mod != nil {
		mod(&o)
	}
	m := NewMemory(o)
	sink := &recordingSink{}
	if err := m.Start(sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, sink, clk
}

func in(session, typ, id string) event.Input {
	return event.Input{Session: session, Type: typ, ID: id, Data: json.RawMessage(`{}`)}
}

func TestSequencesStartAtOnePerSession(t *testing.T) {
	m, sink, _ := newMemory(t, nil)
	res, err := m.Publish(context.Background(), []event.Input{in("a", "progress", ""), in("b", "progress", ""), in("a", "progress", "")})
	if err != nil {
		t.Fatal(err)
	}
	got := []uint64{res.Events[0].Seq, res.Events[1].Seq, res.Events[2].Seq}
	if got[0] != 1 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("seqs = %v, want [1 1 2]", got)
	}
	if len(sink.got) != 3 {
		t.Fatalf("sink got %d events, want 3", len(sink.got))
	}
}

func TestDuplicateIDsAreDroppedAcrossABatchAndLater(t *testing.T) {
	m, sink, _ := newMemory(t, nil)
	res, err := m.Publish(context.Background(), []event.Input{in("a", "progress", "x"), in("a", "progress", "x")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 || res.Duplicates != 1 {
		t.Fatalf("result = %d events, %d duplicates; want 1, 1", len(res.Events), res.Duplicates)
	}
	res, err = m.Publish(context.Background(), []event.Input{in("a", "progress", "x")})
	if err != nil || res.Duplicates != 1 || len(res.Events) != 0 {
		t.Fatalf("repeat: %+v, %v", res, err)
	}
	if len(sink.got) != 1 {
		t.Fatalf("delivered %d, want 1", len(sink.got))
	}
}

func TestEventAfterTerminalIsRefusedAndTheBatchWithIt(t *testing.T) {
	m, sink, _ := newMemory(t, nil)
	if _, err := m.Publish(context.Background(), []event.Input{in("a", "complete", "done")}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Publish(context.Background(), []event.Input{in("b", "progress", ""), in("a", "progress", "")})
	var fe *FinishedError
	if !errors.As(err, &fe) || fe.Session != "a" || !errors.Is(err, ErrFinished) {
		t.Fatalf("err = %v, want FinishedError for a", err)
	}
	if _, st, _ := m.History(context.Background(), "b", 0); st.Last != 0 {
		t.Fatalf("session b was half-written: last = %d", st.Last)
	}
	// A retry of the terminal event itself is a duplicate, not a conflict.
	res, err := m.Publish(context.Background(), []event.Input{in("a", "complete", "done")})
	if err != nil || res.Duplicates != 1 {
		t.Fatalf("retry of terminal: %+v, %v", res, err)
	}
	if len(sink.got) != 1 {
		t.Fatalf("delivered %d, want 1", len(sink.got))
	}
}

func TestTwoTerminalEventsInOneBatchAreRefused(t *testing.T) {
	m, _, _ := newMemory(t, nil)
	_, err := m.Publish(context.Background(), []event.Input{in("a", "complete", ""), in("a", "progress", "")})
	if !errors.Is(err, ErrFinished) {
		t.Fatalf("err = %v", err)
	}
	if m.Sessions() != 0 {
		t.Fatalf("sessions = %d after a refused batch", m.Sessions())
	}
}

func TestMaxSessions(t *testing.T) {
	m, _, _ := newMemory(t, func(o *Options) { o.MaxSessions = 2 })
	for _, s := range []string{"a", "b"} {
		if _, err := m.Publish(context.Background(), []event.Input{in(s, "progress", "")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Publish(context.Background(), []event.Input{in("c", "progress", "")}); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("err = %v", err)
	}
	if _, err := m.Publish(context.Background(), []event.Input{in("a", "progress", "")}); err != nil {
		t.Fatalf("existing session refused: %v", err)
	}
}

func TestFinishedSessionsExpireAfterSessionTTLAndIdleOnesAfterIdleTTL(t *testing.T) {
	m, _, clk := newMemory(t, func(o *Options) { o.SessionTTL = time.Minute; o.IdleTTL = time.Hour })
	m.Publish(context.Background(), []event.Input{in("done", "complete", "")})
	m.Publish(context.Background(), []event.Input{in("idle", "progress", "")})
	m.Publish(context.Background(), []event.Input{in("watched", "progress", "")})
	m.Watch("watched")

	clk.now = clk.now.Add(59 * time.Second)
	m.Sweep()
	if m.Sessions() != 3 {
		t.Fatalf("sessions = %d before any TTL", m.Sessions())
	}
	clk.now = clk.now.Add(time.Second)
	m.Sweep()
	if _, st, _ := m.History(context.Background(), "done", 0); st.Last != 0 || m.Sessions() != 2 {
		t.Fatalf("finished session not expired: last = %d, sessions = %d", st.Last, m.Sessions())
	}
	clk.now = clk.now.Add(time.Hour)
	m.Sweep()
	if m.Sessions() != 1 {
		t.Fatalf("sessions = %d, want only the watched one", m.Sessions())
	}
	m.Unwatch("watched")
	m.Sweep()
	if m.Sessions() != 0 {
		t.Fatalf("sessions = %d after unwatch", m.Sessions())
	}
}

func TestHistoryRingShrinksOnReload(t *testing.T) {
	m, _, clk := newMemory(t, func(o *Options) { o.History = 10 })
	for i := 0; i < 15; i++ {
		m.Publish(context.Background(), []event.Input{in("a", "progress", "")})
	}
	evs, _, _ := m.History(context.Background(), "a", 0)
	if len(evs) != 10 || evs[0].Seq != 6 {
		t.Fatalf("history = %d events from %d, want 10 from 6", len(evs), evs[0].Seq)
	}
	o := Defaults()
	o.History = 4
	o.Now = clk.Now
	m.SetOptions(o)
	m.Publish(context.Background(), []event.Input{in("a", "progress", "")})
	evs, _, _ = m.History(context.Background(), "a", 0)
	if len(evs) != 4 || evs[0].Seq != 13 || evs[3].Seq != 16 {
		t.Fatalf("history after shrink: %d events from %d", len(evs), evs[0].Seq)
	}
	o.History = 8
	m.SetOptions(o)
	for i := 0; i < 6; i++ {
		m.Publish(context.Background(), []event.Input{in("a", "progress", "")})
	}
	evs, _, _ = m.History(context.Background(), "a", 0)
	if len(evs) != 8 || evs[0].Seq != 15 || evs[7].Seq != 22 {
		t.Fatalf("history after growth: %d events from %d to %d", len(evs), evs[0].Seq, evs[len(evs)-1].Seq)
	}
}
