package broker_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

func TestRedisEventsPublishedOnOneNodeReachTheOtherOnceInOrder(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	a := newNode(t, url, prefix, broker.Defaults())
	b := newNode(t, url, prefix, broker.Defaults())
	subA := subscribe(t, a, "s1", 0)
	subB := subscribe(t, b, "s1", 0)
	// Another session's events travel on the same channel; s1's subscribers must not see them.
	subOther := subscribe(t, b, "other", 0)

	var published []*event.Event
	published = append(published, publishN(t, a.broker, "s1", "progress", 10)...)
	var batch []event.Input
	for i := range 10 {
		batch = append(batch, input("s1", "progress", "", 100+i), input("other", "progress", "", i))
	}
	res, err := a.broker.Publish(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range res.Events {
		if ev.Session == "s1" {
			published = append(published, ev)
		}
	}
	published = append(published, publishN(t, a.broker, "s1", "progress", 9)...)
	published = append(published, publishN(t, a.broker, "s1", "complete", 1)...)
	wantSeqs(t, published, 1, 30)

	gotB := collect(t, subB, 30)
	gotA := collect(t, subA, 30)
	wantSeqs(t, gotB, 1, 30)
	wantSeqs(t, gotA, 1, 30)
	for i, ev := range gotB {
		p := published[i]
		if ev.Session != "s1" || ev.Type != p.Type || !bytes.Equal(ev.Data, p.Data) ||
			!ev.Time.Equal(p.Time) || ev.Terminal != p.Terminal {
			t.Fatalf("B got %+v, A published %+v", ev, p)
		}
	}
	if !gotB[29].Terminal {
		t.Fatal("the complete event is not terminal on B")
	}
	wantSeqs(t, collect(t, subOther, 10), 1, 10)
}

func TestRedisLateJoinerAndResumeOnAnotherNodeMissNothing(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	a := newNode(t, url, prefix, broker.Defaults())
	b := newNode(t, url, prefix, broker.Defaults())
	publishN(t, a.broker, "s1", "progress", 20)

	late := subscribe(t, b, "s1", 0)
	wantSeqs(t, collect(t, late, 20), 1, 20)

	onA := subscribe(t, a, "s1", 0)
	seen := collect(t, onA, 12)[:12]
	onA.Close()
	resumed := subscribe(t, b, "s1", seen[len(seen)-1].Seq)
	publishN(t, a.broker, "s1", "progress", 5)
	publishN(t, a.broker, "s1", "complete", 1)
	wantSeqs(t, collect(t, resumed, 14), 13, 26)
	if st := resumed.State(); st.Last != 20 || st.Finished {
		t.Fatalf("state at resume = %+v, want last 20, not finished", st)
	}
}

func TestRedisDuplicateIDsAreSuppressedAcrossNodes(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	a := newNode(t, url, prefix, broker.Defaults())
	b := newNode(t, url, prefix, broker.Defaults())
	sub := subscribe(t, a, "s1", 0)
	ctx := context.Background()

	if _, err := a.broker.Publish(ctx, []event.Input{input("s1", "progress", "e1", 1)}); err != nil {
		t.Fatal(err)
	}
	res, err := b.broker.Publish(ctx, []event.Input{input("s1", "progress", "e1", 1)})
	if err != nil || len(res.Events) != 0 || res.Duplicates != 1 {
		t.Fatalf("retry on B = %+v, %v; want 0 events, 1 duplicate", res, err)
	}
	res, err = b.broker.Publish(ctx, []event.Input{
		input("s1", "progress", "e2", 2), input("s1", "progress", "e2", 2), input("s1", "progress", "e1", 1),
		input("s1", "complete", "e3", 3),
	})
	if err != nil || len(res.Events) != 2 || res.Duplicates != 2 {
		t.Fatalf("batch on B = %+v, %v; want 2 events, 2 duplicates", res, err)
	}
	got := collect(t, sub, 3)
	wantSeqs(t, got, 1, 3)
	for i, id := range []string{"e1", "e2", "e3"} {
		if got[i].ID != id {
			t.Fatalf("event %d has ID %q, want %q", got[i].Seq, got[i].ID, id)
		}
	}
	// A retry of the terminal event after the session finished is a duplicate, not a conflict.
	res, err = a.broker.Publish(ctx, []event.Input{input("s1", "complete", "e3", 3)})
	if err != nil || res.Duplicates != 1 {
		t.Fatalf("retry of the terminal event = %+v, %v; want 1 duplicate", res, err)
	}
}

func TestRedisDedupWindowIsBounded(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	o := broker.Defaults()
	o.DedupWindow = 2
	a := newNode(t, url, prefix, o)
	ctx := context.Background()
	for _, id := range []string{"e1", "e2", "e3", "e1"} {
		res, err := a.broker.Publish(ctx, []event.Input{input("s1", "progress", id, 0)})
		if err != nil || len(res.Events) != 1 {
			t.Fatalf("publish %s = %+v, %v; want it sequenced (e1 fell out of the window)", id, res, err)
		}
	}
	res, err := a.broker.Publish(ctx, []event.Input{input("s1", "progress", "e3", 0)})
	if err != nil || res.Duplicates != 1 {
		t.Fatalf("publish e3 again = %+v, %v; want a duplicate", res, err)
	}
}

func TestRedisBatchWithAnEventAfterTerminalIsRejectedWhole(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	a := newNode(t, url, prefix, broker.Defaults())
	b := newNode(t, url, prefix, broker.Defaults())
	raw := rawClient(t, url)
	ctx := context.Background()

	publishN(t, a.broker, "done", "progress", 1)
	publishN(t, a.broker, "done", "complete", 1)
	_, err := b.broker.Publish(ctx, []event.Input{input("fresh", "progress", "", 0), input("done", "progress", "", 0)})
	var fe *broker.FinishedError
	if !errors.As(err, &fe) || fe.Session != "done" || !errors.Is(err, broker.ErrFinished) {
		t.Fatalf("publish after terminal = %v, want FinishedError for session done", err)
	}
	_, err = b.broker.Publish(ctx, []event.Input{
		input("inner", "progress", "", 0), input("inner", "complete", "", 1), input("inner", "progress", "", 2),
	})
	if !errors.As(err, &fe) || fe.Session != "inner" {
		t.Fatalf("batch with an event after its own terminal = %v, want FinishedError for inner", err)
	}
	for _, s := range []string{"fresh", "inner"} {
		if n := raw.Exists(ctx, broker.SessionKeys(b.broker, s)...).Val(); n != 0 {
			t.Fatalf("a rejected batch left %d keys of session %s", n, s)
		}
		evs, st, err := a.broker.History(ctx, s, 0)
		if err != nil || len(evs) != 0 || st != (broker.State{}) {
			t.Fatalf("history of %s = %v %+v %v, want nothing", s, seqs(evs), st, err)
		}
	}
	evs, st, err := a.broker.History(ctx, "done", 0)
	if err != nil || len(evs) != 2 || st != (broker.State{Last: 2, Finished: true, TerminalSeq: 2}) {
		t.Fatalf("history of done = %v %+v %v", seqs(evs), st, err)
	}
}

func TestRedisHistoryKeepsTheLastHistoryEvents(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	o := broker.Defaults()
	o.History = 10
	a := newNode(t, url, prefix, o)
	publishN(t, a.broker, "s1", "progress", 25)
	evs, st, err := a.broker.History(context.Background(), "s1", 0)
	if err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, evs, 16, 25)
	if st.Last != 25 || st.Finished {
		t.Fatalf("state = %+v", st)
	}
	evs, _, err = a.broker.History(context.Background(), "s1", 22)
	if err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, evs, 23, 25)
	evs, _, err = a.broker.History(context.Background(), "s1", ^uint64(0))
	if err != nil || len(evs) != 0 {
		t.Fatalf("history after the largest seq = %v, %v", seqs(evs), err)
	}
}

func TestRedisMaxSessionsCountsTheFleet(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	o := broker.Defaults()
	o.MaxSessions = 2
	a := newNode(t, url, prefix, o)
	b := newNode(t, url, prefix, o)
	publishN(t, a.broker, "s1", "progress", 1)
	publishN(t, b.broker, "s2", "progress", 1)
	_, err := a.broker.Publish(context.Background(), []event.Input{input("s1", "progress", "", 0), input("s3", "progress", "", 0)})
	if !errors.Is(err, broker.ErrTooManySessions) {
		t.Fatalf("a third session = %v, want ErrTooManySessions", err)
	}
	publishN(t, a.broker, "s1", "progress", 1)
	if evs, _, _ := a.broker.History(context.Background(), "s1", 0); len(evs) != 2 {
		t.Fatalf("s1 has %v; the refused batch must not have written its s1 event", seqs(evs))
	}
	if err := b.broker.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := b.broker.Sessions(); n != 2 {
		t.Fatalf("Sessions() = %d, want 2 across the fleet", n)
	}
}

func TestRedisKeysExpireAfterTheirTTLs(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	o := broker.Defaults()
	o.SessionTTL = 10 * time.Minute
	ctx := context.Background()
	b, err := broker.NewRedis(ctx, broker.RedisOptions{URL: url, Prefix: prefix, HistoryTTL: time.Hour}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	raw := rawClient(t, url)
	ttls := func(session string) []time.Duration {
		var out []time.Duration
		for _, k := range broker.SessionKeys(b, session) {
			out = append(out, raw.PTTL(ctx, k).Val())
		}
		return out
	}
	within := func(got []time.Duration, want time.Duration) bool {
		for _, d := range got {
			if d > want || d < want-time.Minute {
				return false
			}
		}
		return true
	}

	if _, err := b.Publish(ctx, []event.Input{input("s1", "progress", "e1", 0)}); err != nil {
		t.Fatal(err)
	}
	if got := ttls("s1"); !within(got, time.Hour) {
		t.Fatalf("TTLs of an open session = %v, want about 1h", got)
	}

	// A watched session that went quiet is kept alive by the keepalive.
	for _, k := range broker.SessionKeys(b, "s1") {
		raw.PExpire(ctx, k, 5*time.Second)
	}
	b.Watch("s1")
	if err := broker.TouchWatched(b); err != nil {
		t.Fatal(err)
	}
	if got := ttls("s1"); !within(got, time.Hour) {
		t.Fatalf("TTLs after a keepalive = %v, want about 1h", got)
	}

	if _, err := b.Publish(ctx, []event.Input{input("s1", "complete", "e2", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := ttls("s1"); !within(got, 10*time.Minute) {
		t.Fatalf("TTLs of a finished session = %v, want about 10m", got)
	}
	// A finished session keeps its session TTL even while watched.
	if err := broker.TouchWatched(b); err != nil {
		t.Fatal(err)
	}
	if got := ttls("s1"); !within(got, 10*time.Minute) {
		t.Fatalf("TTLs of a finished session after a keepalive = %v, want about 10m", got)
	}
}

func TestRedisSessionWhoseStateExpiredStartsAfresh(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	a := newNode(t, url, prefix, broker.Defaults())
	raw := rawClient(t, url)
	ctx := context.Background()
	publishN(t, a.broker, "old", "progress", 3)
	// The state hash is gone but the stream is not (evicted, or deleted by hand): the leftover stream
	// must not refuse the new seq 1 half-way through a batch that also writes another session.
	raw.Del(ctx, broker.SessionKeys(a.broker, "old")[0])
	res, err := a.broker.Publish(ctx, []event.Input{input("other", "progress", "", 0), input("old", "progress", "", 0)})
	if err != nil || len(res.Events) != 2 || res.Events[1].Seq != 1 {
		t.Fatalf("publish = %+v, %v; want old to restart at seq 1", res, err)
	}
	evs, st, err := a.broker.History(ctx, "old", 0)
	if err != nil || st.Last != 1 {
		t.Fatalf("history = %v %+v %v", seqs(evs), st, err)
	}
	wantSeqs(t, evs, 1, 1)
}
