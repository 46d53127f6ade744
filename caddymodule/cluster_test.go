package caddymodule

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/progress-relay/progress-relay/internal/redistest"
)

// Issue 6, through real nodes: two Caddy processes (CADDY_BIN) share sessions through Redis.
// Webhooks go to node A; browsers watch on node B. What A reports (a long-poll on A) is the
// reference: B's subscribers must get the same events, with the same seqs, once each, in order.

// sharedCluster starts two nodes on the shared Redis under a prefix of t's own.
func sharedCluster(t *testing.T) *cluster {
	t.Helper()
	caddyBinary(t)
	rdb := sharedRedis(t)
	url := "redis://" + sharedRedisAddr + "/0"
	return startCluster(t, url, url, clusterPrefix(t, rdb))
}

// subscribersOn waits until n's health counts the given subscribers per transport.
func subscribersOn(t *testing.T, n *node, want map[string]int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("subscribers %v on %s", want, n.name), func() bool {
		_, h := n.health()
		for transport, count := range want {
			if h.Subscribers[transport] != count {
				return false
			}
		}
		return true
	})
}

// reachAll waits until every stream has at least count events.
func reachAll(t *testing.T, count int, streams ...*stream) {
	t.Helper()
	for _, s := range streams {
		waitFor(t, fmt.Sprintf("%s to have %d events", s.what, count), func() bool { return s.count() >= count })
	}
}

// orZero reads a JSON number that may be absent.
func orZero(v any) float64 {
	f, _ := v.(float64)
	return f
}

func completeEvent(session string) string {
	return fmt.Sprintf(`{"sessionId":%q,"type":"complete","eventId":"done"}`, session)
}

func TestClusterDeliversWebhooksToANodeToEverySubscriberOnAnother(t *testing.T) {
	c := sharedCluster(t)
	const session = "cluster-1"

	seed := watchWS(c.b, "/", map[string]any{"sessionId": session}, false)
	byURL := watchWS(c.b, "/api/import/progress/"+session, nil, true)
	sse := watchSSE(c.b, session, "")
	poll := watchPoll(c.b, session, 0)
	subscribersOn(t, c.b, map[string]int{"websocket": 2, "sse": 1, "poll": 1})
	reference := watchPoll(c.a, session, 0)
	subscribersOn(t, c.a, map[string]int{"poll": 1})

	single := progressEvents(session, 1, 3)
	for _, e := range single {
		c.a.mustPost(e)
	}
	batched := progressEvents(session, 4, 4)
	c.a.mustPost(batch(batched))
	lines := progressEvents(session, 8, 4)
	c.a.mustPost(ndjson(lines))
	c.a.mustPost(completeEvent(session))
	sent := append(append(append(single, batched...), lines...), completeEvent(session))

	onA := reference.wait(t)
	reportedRun(t, "long-poll on A", onA, sent)
	sameEvents(t, seed.what, seed.wait(t), onA)
	sameEvents(t, byURL.what, byURL.wait(t), onA)
	sameEvents(t, sse.what, sse.wait(t), onA)
	sameEvents(t, poll.what, poll.wait(t), onA)
}

func TestClusterLateJoinersAndResumersOnAnotherNodeMissNothing(t *testing.T) {
	c := sharedCluster(t)
	const session = "cluster-late"
	sent := append(progressEvents(session, 1, 8), completeEvent(session))
	c.a.mustPost(batch(sent[:5]))

	// Clients of node A that saw part of the import and went away, each with its last seq.
	req, _ := http.NewRequest(http.MethodGet, c.a.base+"/api/import/progress/"+session, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	evs := readSSE(t, res.Body, 2)
	res.Body.Close()
	if len(evs) != 2 || evs[1].id != "2" {
		t.Fatalf("SSE on A: %+v", evs)
	}
	wsOnA := c.a.dial("/")
	wsOnA.WriteJSON(map[string]any{"sessionId": session, "envelope": true})
	frames, _ := readFrames(t, wsOnA, 3)
	wsOnA.Close()
	checkEnvelopesFrom(t, "WebSocket on A", frames, sent, 1)
	status, polled := c.a.poll(session, 0, "0")
	if status != http.StatusOK || polled.Last != 5 {
		t.Fatalf("poll on A = %d %+v", status, polled)
	}

	// A late joiner on B gets the history published through A before anything new is published.
	late := watchWS(c.b, "/", map[string]any{"sessionId": session}, false)
	reachAll(t, 5, late)
	// The resumers continue on B from their last seq on A.
	sse := watchSSE(c.b, session, evs[1].id)
	resumedWS := watchWS(c.b, "/", map[string]any{"sessionId": session, "after": 3, "envelope": true}, true)
	poll := watchPoll(c.b, session, polled.Last)
	subscribersOn(t, c.b, map[string]int{"websocket": 2, "sse": 1, "poll": 1})

	c.a.mustPost(batch(sent[5:8]))
	c.a.mustPost(sent[8])

	all := watchPoll(c.a, session, 0).wait(t)
	reportedRun(t, "long-poll on A", all, sent)
	sameEvents(t, "late joiner on B", late.wait(t), all)
	sameEvents(t, "SSE resumed on B after 2", sse.wait(t), all[2:])
	sameEvents(t, "WebSocket resumed on B after 3", resumedWS.wait(t), all[3:])
	sameEvents(t, "long-poll resumed on B after 5", poll.wait(t), all[5:])
}

// TestClusterNodeRefillsWhatItMissedWhileItsPubSubConnectionWasDown kills B's one pub/sub connection
// mid-stream and keeps B from reconnecting (its Redis user is disabled, which leaves its open
// command connections working) while A publishes: those events never reach B live, so B's
// subscribers can only get them from the stream, when B resubscribes and fills the gap.
func TestClusterNodeRefillsWhatItMissedWhileItsPubSubConnectionWasDown(t *testing.T) {
	caddyBinary(t)
	rdb := sharedRedis(t)
	ctx := context.Background()
	prefix := clusterPrefix(t, rdb)
	user, password := "relaytest-"+rand.Text()[:10], rand.Text()
	if err := rdb.ACLSetUser(ctx, user, "reset", "on", ">"+password, "~"+prefix+"*", "&"+prefix+"*", "+@all").Err(); err != nil {
		t.Fatalf("creating B's Redis user: %v", err)
	}
	t.Cleanup(func() { rdb.ACLDelUser(context.Background(), user) })
	c := startCluster(t, "redis://"+sharedRedisAddr+"/0",
		fmt.Sprintf("redis://%s:%s@%s/0", user, password, sharedRedisAddr), prefix)
	const session = "cluster-kill"

	streams := watchEveryKind(t, c.b, session)

	sent := append(progressEvents(session, 1, 30), completeEvent(session))
	for _, e := range sent[:10] {
		c.a.mustPost(e)
	}
	reachAll(t, 10, streams...)
	killed, ok := pubsubConnOf(t, rdb, user)
	if !ok {
		t.Fatalf("no progress-relay:pubsub: connection of user %s in CLIENT LIST", user)
	}
	fillsBefore := c.b.metricValue("caddy_progress_relay_gap_fills_total")

	if err := rdb.ACLSetUser(ctx, user, "off").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ClientKillByFilter(ctx, "ID", strconv.FormatInt(killed.id, 10)).Err(); err != nil {
		t.Fatalf("CLIENT KILL ID %d: %v", killed.id, err)
	}
	for _, e := range sent[10:20] {
		c.a.mustPost(e)
	}
	if _, back := pubsubConnOf(t, rdb, user); back {
		t.Fatal("B resubscribed although its Redis user is disabled: the gap is not certain")
	}
	if err := rdb.ACLSetUser(ctx, user, "on").Err(); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "B to resubscribe", func() bool {
		conn, ok := pubsubConnOf(t, rdb, user)
		return ok && conn.id != killed.id
	})
	if got := c.b.metricValue("caddy_progress_relay_broker_reconnects_total"); got < 1 {
		t.Fatalf("B's broker reconnects = %v, want at least 1", got)
	}
	reachAll(t, 20, streams...)
	if got := c.b.metricValue("caddy_progress_relay_gap_fills_total"); got <= fillsBefore {
		t.Fatalf("B's gap fills stayed at %v after it resubscribed", got)
	}
	for _, e := range sent[20:] {
		c.a.mustPost(e)
	}

	onA := watchPoll(c.a, session, 0).wait(t)
	reportedRun(t, "long-poll on A", onA, sent)
	for _, s := range streams {
		sameEvents(t, s.what, s.wait(t), onA)
	}
}

// outage is a way for Redis to become unreachable without losing what it acknowledged.
type outage struct {
	name       string
	begin, end func(*redistest.Server)
}

var outages = []outage{
	{
		// Connections are refused until the server is back; it reloads its append-only file.
		name:  "killed and restarted",
		begin: (*redistest.Server).Kill,
		end:   (*redistest.Server).Start,
	},
	{
		// Connections stay open and nothing answers: every call must time out, not hang.
		name:  "frozen",
		begin: func(s *redistest.Server) { s.Signal(syscall.SIGSTOP) },
		end:   func(s *redistest.Server) { s.Signal(syscall.SIGCONT) },
	},
}

func TestClusterRedisOutageAnswers503AndLosesNothingAcknowledged(t *testing.T) {
	caddyBinary(t)
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			srv := redistest.Start(t)
			c := startCluster(t, srv.URL(), srv.URL(), "relay:")
			const session = "cluster-outage"

			streams := watchEveryKind(t, c.b, session)

			sent := append(progressEvents(session, 1, 10), completeEvent(session))
			for _, e := range sent[:5] {
				c.a.mustPost(e)
			}
			reachAll(t, 5, streams...)

			o.begin(srv)
			start := time.Now()
			status, resp := c.a.post(sent[5])
			if status != http.StatusServiceUnavailable {
				t.Fatalf("webhook with Redis down answered %d %s, want 503", status, resp)
			}
			t.Logf("webhook answered 503 after %s", time.Since(start).Round(time.Millisecond))
			status, h := c.b.health()
			if status != http.StatusServiceUnavailable || h.Broker != "redis" || h.Status != "unavailable" {
				t.Fatalf("health on B with Redis down = %d %+v, want 503, broker redis, unavailable", status, h)
			}
			if h.Subscribers["websocket"] != 2 || h.Subscribers["sse"] != 1 {
				t.Fatalf("B's subscribers with Redis down: %v", h.Subscribers)
			}
			// New subscriptions cannot read their history: they are refused, to be retried.
			refusedAt := time.Now()
			r := newSubscribersRefused(c.b, session)
			t.Logf("new subscribers refused after %s", time.Since(refusedAt).Round(time.Millisecond))
			if r.err != nil || r.sseStatus != http.StatusServiceUnavailable || r.retryAfter == "" ||
				r.wsClose != websocket.CloseTryAgainLater {
				t.Fatalf("new subscribers on B with Redis down: %+v; want SSE 503 with Retry-After and WebSocket 1013", r)
			}
			for _, s := range streams {
				if s.ended() {
					s.wait(t)
					t.Fatalf("%s ended while Redis was down", s.what)
				}
			}

			o.end(srv)
			// The event answered 503 is sent again, as a backend does, and the rest until each is
			// accepted (acknowledged means answered 202). A frozen Redis runs the script it was sent
			// when it wakes, so the retry may find the event stored: a 503 means "unknown", and
			// the event ID is what makes the retry safe.
			for i, e := range sent[5:] {
				answer := c.a.postUntilAccepted(e)
				if i == 0 {
					t.Logf("the event answered 503, sent again: %v", answer)
				}
				if orZero(answer["accepted"])+orZero(answer["duplicates"]) != 1 {
					t.Fatalf("webhook %s answered %v", e, answer)
				}
			}
			waitFor(t, "B to be healthy", func() bool { status, _ := c.b.health(); return status == http.StatusOK })

			onA := watchPoll(c.a, session, 0).wait(t)
			reportedRun(t, "long-poll on A", onA, sent)
			for _, s := range streams {
				sameEvents(t, s.what, s.wait(t), onA)
			}
			sameEvents(t, "late joiner on B", watchPoll(c.b, session, 0).wait(t), onA)
		})
	}
}

// watchEveryKind subscribes one stream of each kind on n to session from its start (WebSocket seed
// protocol with envelopes, WebSocket by URL, SSE, long-poll) and waits until n counts them all.
func watchEveryKind(t *testing.T, n *node, session string) []*stream {
	t.Helper()
	streams := []*stream{
		watchWS(n, "/", map[string]any{"sessionId": session, "envelope": true}, true),
		watchWS(n, "/api/import/progress/"+session, nil, true),
		watchSSE(n, session, ""),
		watchPoll(n, session, 0),
	}
	subscribersOn(t, n, map[string]int{"websocket": 2, "sse": 1, "poll": 1})
	return streams
}
