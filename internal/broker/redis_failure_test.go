package broker_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/redistest"
)

// pubsubConnID finds the client ID of r's pub/sub connection in CLIENT LIST.
func pubsubConnID(t testing.TB, raw *redis.Client, r *broker.Redis) (int64, bool) {
	t.Helper()
	list, err := raw.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		var id int64
		named := false
		for _, f := range fields {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id, _ = strconv.ParseInt(v, 10, 64)
			}
			named = named || f == "name="+broker.PubSubName(r)
		}
		if named {
			return id, true
		}
	}
	return 0, false
}

func TestRedisRefillsTheGapAfterItsPubSubConnectionIsKilled(t *testing.T) {
	url := sharedRedisURL(t)
	prefix := testPrefix(t, url)
	a := newNode(t, url, prefix, broker.Defaults())
	b := newNode(t, url, prefix, broker.Defaults())
	raw := rawClient(t, url)
	ctx := context.Background()
	sub := subscribe(t, b, "s1", 0)

	publishN(t, a.broker, "s1", "progress", 10)
	wantSeqs(t, collect(t, sub, 10), 1, 10)
	fillsBefore := b.hub.Stats().GapFills

	// Kill B's pub/sub connection and publish 11..15 in the same transaction: B cannot have heard
	// them, so it must read them from the stream.
	id, ok := pubsubConnID(t, raw, b.broker)
	if !ok {
		t.Fatalf("no connection named %s in CLIENT LIST", broker.PubSubName(b.broker))
	}
	pipe := raw.TxPipeline()
	pipe.ClientKillByFilter(ctx, "ID", strconv.FormatInt(id, 10))
	var missed []event.Input
	for i := range 5 {
		missed = append(missed, input("s1", "progress", "", 10+i))
	}
	if err := broker.QueuePublish(ctx, a.broker, pipe, missed); err != nil {
		t.Fatal(err)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing else is published until B is back, so only the resync can bring B these events.
	waitFor(t, "B to resubscribe", func() bool { return b.broker.Stats().Reconnects >= 1 })
	if newID, ok := pubsubConnID(t, raw, b.broker); !ok || newID == id {
		t.Fatalf("after the kill, B's pub/sub connection is %d (found %v), was %d", newID, ok, id)
	}
	wantSeqs(t, collect(t, sub, 5), 11, 15)
	if b.hub.Stats().GapFills == fillsBefore {
		t.Fatal("B did not refill from the stream after it resubscribed")
	}
	publishN(t, a.broker, "s1", "progress", 14)
	publishN(t, a.broker, "s1", "complete", 1)
	wantSeqs(t, collect(t, sub, 15), 16, 30)
}

// closedPortURL is a redis:// URL on which nothing listens.
func closedPortURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "redis://" + addr
}

func TestRedisUnreachableMakesEveryCallFailAsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := broker.NewRedis(ctx, broker.RedisOptions{URL: closedPortURL(t)}, broker.Defaults())
	if err != nil {
		t.Fatalf("an unreachable Redis must not fail NewRedis: %v", err)
	}
	h, err := hub.New(b, hub.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	if _, err := b.Publish(ctx, []event.Input{input("s1", "progress", "", 0)}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Publish = %v, want ErrUnavailable", err)
	}
	if _, _, err := b.History(ctx, "s1", 0); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("History = %v, want ErrUnavailable", err)
	}
	if err := b.Health(ctx); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Health = %v, want ErrUnavailable", err)
	}
	if _, err := h.Subscribe(ctx, "s1", hub.Options{Transport: "test"}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Subscribe = %v, want ErrUnavailable", err)
	}
	if st := b.Stats(); st.Up || st.Errors < 3 {
		t.Fatalf("stats = %+v, want down with the errors counted", st)
	}
}

func TestRedisRestartLosesNothingAcknowledged(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL()
	a := newNode(t, url, "relay:", broker.Defaults())
	b := newNode(t, url, "relay:", broker.Defaults())
	ctx := context.Background()
	sub := subscribe(t, b, "s1", 0)

	acked := publishN(t, a.broker, "s1", "progress", 5)
	wantSeqs(t, collect(t, sub, 5), 1, 5)

	srv.Kill()
	if _, err := a.broker.Publish(ctx, []event.Input{input("s1", "progress", "", 99)}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Publish with Redis down = %v, want ErrUnavailable", err)
	}
	if err := b.broker.Health(ctx); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Health with Redis down = %v, want ErrUnavailable", err)
	}
	select {
	case <-sub.Done():
		t.Fatalf("the subscription ended while Redis was down: %v", sub.Err())
	default:
	}

	srv.Start()
	// The first call on each pooled connection finds it dead; a webhook sender retries the same way.
	waitFor(t, "Publish to succeed again", func() bool {
		res, err := a.broker.Publish(ctx, []event.Input{input("s1", "progress", "", 6)})
		if err == nil {
			acked = append(acked, res.Events...)
		}
		return err == nil
	})
	acked = append(acked, publishN(t, a.broker, "s1", "progress", 4)...)
	acked = append(acked, publishN(t, a.broker, "s1", "complete", 1)...)
	wantSeqs(t, acked, 1, 11)
	wantSeqs(t, collect(t, sub, 6), 6, 11)
	waitFor(t, "B to be healthy", func() bool { return b.broker.Health(ctx) == nil })
	if b.broker.Stats().Reconnects == 0 {
		t.Fatal("B's pub/sub reconnect was not counted")
	}
	wantSeqs(t, collect(t, subscribe(t, b, "s1", 0), 11), 1, 11)
}

func TestRedisNodeStartedWhileRedisIsDownWorksOnceItIsUp(t *testing.T) {
	srv := redistest.New(t)
	n := newNode(t, srv.URL(), "relay:", broker.Defaults())
	if err := n.broker.Health(context.Background()); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Health before Redis started = %v, want ErrUnavailable", err)
	}
	srv.Start()
	waitFor(t, "the node to reach Redis", func() bool { return n.broker.Health(context.Background()) == nil })
	// Whether the pub/sub connection is back before these events or after, the subscriber gets them:
	// live, or from the stream when the first subscription resyncs the hub.
	sub := subscribe(t, n, "s1", 0)
	publishN(t, n.broker, "s1", "progress", 3)
	publishN(t, n.broker, "s1", "complete", 1)
	wantSeqs(t, collect(t, sub, 4), 1, 4)
}

func TestRedisOutOfMemoryRefusesTheWholeBatch(t *testing.T) {
	srv := redistest.Start(t)
	n := newNode(t, srv.URL(), "relay:", broker.Defaults())
	raw := rawClient(t, srv.URL())
	ctx := context.Background()
	publishN(t, n.broker, "s1", "progress", 2)

	if err := raw.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := n.broker.Publish(ctx, []event.Input{input("s2", "progress", "", 0), input("s1", "progress", "", 2)})
	if !errors.Is(err, broker.ErrUnavailable) || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("Publish over maxmemory = %v, want ErrUnavailable for OOM", err)
	}
	if err := raw.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if k := raw.Exists(ctx, broker.SessionKeys(n.broker, "s2")...).Val(); k != 0 {
		t.Fatalf("the refused batch left %d keys of s2", k)
	}
	evs, st, err := n.broker.History(ctx, "s1", 0)
	if err != nil || st.Last != 2 {
		t.Fatalf("s1 after the refused batch: %v %+v %v", seqs(evs), st, err)
	}
	wantSeqs(t, publishN(t, n.broker, "s1", "progress", 1), 3, 3)
}
