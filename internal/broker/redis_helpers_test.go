package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
)

// sharedRedisURL is the Redis the tests use unless RELAY_TEST_REDIS_URL names another.
func sharedRedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("RELAY_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Skipf("SKIP: no Redis at %s (%v); these tests need a real Redis (set RELAY_TEST_REDIS_URL)", u, err)
	}
	return u
}

// testPrefix returns a prefix of its own for t and deletes its keys when t ends.
func testPrefix(t testing.TB, url string) string {
	t.Helper()
	prefix := "relaytest:" + rand.Text()[:10] + ":"
	t.Cleanup(func() {
		o, err := redis.ParseURL(url)
		if err != nil {
			t.Error(err)
			return
		}
		c := redis.NewClient(o)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Logf("cleanup of %s*: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				t.Logf("cleanup of %s*: %v", prefix, err)
			}
		}
	})
	return prefix
}

// rawClient is a plain client on url, for looking at what the broker wrote.
func rawClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// node is one relay node: a hub over its own redis broker, with its own connections.
type node struct {
	hub    *hub.Hub
	broker *broker.Redis
}

func newNode(t testing.TB, url, prefix string, o broker.Options) node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := broker.NewRedis(ctx, broker.RedisOptions{URL: url, Prefix: prefix}, o)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(b, hub.DefaultConfig())
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("closing node: %v", err)
		}
	})
	return node{hub: h, broker: b}
}

func subscribe(t testing.TB, n node, session string, after uint64) *hub.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sub, err := n.hub.Subscribe(ctx, session, hub.Options{After: after, Transport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

func input(session, typ, id string, i int) event.Input {
	return event.Input{Session: session, Type: typ, ID: id,
		Data: json.RawMessage(fmt.Sprintf(`{"sessionId":%q,"type":%q,"i":%d}`, session, typ, i))}
}

// publishN publishes n events of typ to session one at a time and returns them as sequenced.
func publishN(t testing.TB, b broker.Broker, session, typ string, n int) []*event.Event {
	t.Helper()
	var out []*event.Event
	for i := range n {
		res, err := b.Publish(context.Background(), []event.Input{input(session, typ, "", i)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Events...)
	}
	return out
}

// collect drains sub until it has n events or a terminal one, failing after a deadline.
func collect(t testing.TB, sub *hub.Subscription, n int) []*event.Event {
	t.Helper()
	var got, batch []*event.Event
	deadline := time.After(15 * time.Second)
	for len(got) < n {
		batch = sub.Next(batch)
		got = append(got, batch...)
		if len(got) > 0 && got[len(got)-1].Terminal {
			return got
		}
		if len(got) >= n {
			break
		}
		select {
		case <-sub.Ready():
		case <-sub.Done():
			if sub.Len() == 0 {
				t.Fatalf("subscription ended (%v) with %d of %d events: %v", sub.Err(), len(got), n, seqs(got))
			}
		case <-deadline:
			t.Fatalf("timed out with %d of %d events: %v", len(got), n, seqs(got))
		}
	}
	return got
}

func seqs(evs []*event.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

// wantSeqs fails unless got is exactly from..to, in order.
func wantSeqs(t testing.TB, got []*event.Event, from, to uint64) {
	t.Helper()
	ok := len(got) == int(to-from+1)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Seq == from+uint64(i)
	}
	if !ok {
		t.Fatalf("got seqs %v, want %d..%d", seqs(got), from, to)
	}
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
