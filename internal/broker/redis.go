package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// DefaultRedisPrefix is the prefix of RedisOptions when it names none.
const DefaultRedisPrefix = "relay:"

// RedisOptions locate the fleet's Redis and name what the broker keeps there.
type RedisOptions struct {
	// URL of the Redis server: redis://[[user]:password@]host[:port][/db], rediss:// for TLS,
	// unix:///path.sock, or a Sentinel URL with ?master_name= (see newRedisClients).
	URL string
	// Prefix of every key and of the pub/sub channel; default "relay:". Every node of a fleet uses
	// the same prefix; fleets sharing one Redis use different ones. It may not contain braces.
	Prefix string
	// HistoryTTL is how long an unfinished session's keys live after its last event, or after the
	// last keepalive of a node that has subscribers for it; default Options.IdleTTL (1h by
	// default). A finished session's keys live for Options.SessionTTL after its terminal event.
	HistoryTTL time.Duration
	// Logger receives reconnects and failures; nil discards them.
	Logger *zap.Logger
}

// Redis is the broker of a fleet: sessions are sequenced, stored and shared in Redis, so that a
// subscriber may use any node and resume on another.
//
// Each Publish is one script call that validates the whole batch, then assigns seqs, appends each
// event to its session's stream (trimmed to Options.History), records source IDs, sets TTLs and
// publishes one notice on the fleet's channel. Each node holds one pub/sub connection on that
// channel and delivers the notices to its hub; when that connection comes back after a break, the
// hub is told to Resync, and re-reads every watched session from the streams.
type Redis struct {
	ro         RedisOptions
	opts       atomic.Pointer[Options]
	keys       redisKeys
	client     *redis.Client // commands and scripts
	subClient  *redis.Client // holds the one pub/sub connection
	pubsubName string        // CLIENT SETNAME of the pub/sub connection
	log        *zap.Logger

	sink   Sink // set once by Start
	pubsub *redis.PubSub

	mu      sync.RWMutex // guards watched
	watched map[string]int

	sessions      atomic.Int64 // fleet-wide count, as last read from the index
	up            atomic.Bool
	errors        atomic.Uint64
	subscriptions atomic.Uint64
	reconnects    atomic.Uint64

	stop      chan struct{}
	loops     sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// NewRedis returns a broker on the Redis at ro.URL, with o (see Defaults). An unreachable Redis does
// not fail it: Health reports the outage and Publish returns ErrUnavailable until Redis is back. A
// Redis that answers and refuses (wrong password, unknown database, untrusted TLS certificate) does,
// as does a bad URL; ctx bounds that first contact.
func NewRedis(ctx context.Context, ro RedisOptions, o Options) (*Redis, error) {
	if ro.Prefix == "" {
		ro.Prefix = DefaultRedisPrefix
	}
	keys, err := newRedisKeys(ro.Prefix)
	if err != nil {
		return nil, err
	}
	cmd, sub, name, err := newRedisClients(ro.URL, rand.Text()[:12])
	if err != nil {
		return nil, err
	}
	r := &Redis{
		ro:         ro,
		keys:       keys,
		client:     cmd,
		subClient:  sub,
		pubsubName: name,
		log:        ro.Logger,
		watched:    make(map[string]int),
		stop:       make(chan struct{}),
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.SetOptions(o)
	if err := r.client.Ping(ctx).Err(); err != nil {
		var refused redis.Error
		var badCert *tls.CertificateVerificationError
		if errors.As(err, &refused) || errors.As(err, &badCert) {
			r.closeClients()
			return nil, fmt.Errorf("redis %s: %w", redactURL(ro.URL), err)
		}
		r.log.Warn("redis unreachable; the broker will use it when it is back",
			zap.String("url", redactURL(ro.URL)), zap.Error(err))
	} else {
		r.up.Store(true)
	}
	return r, nil
}

// SetOptions replaces the options; a config reload calls it, and streams are trimmed to a new
// History on their session's next event. Non-positive TTLs take the defaults, since a zero TTL
// would make Redis delete a session at once.
func (r *Redis) SetOptions(o Options) {
	d := Defaults()
	if o.Now == nil {
		o.Now = d.Now
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = d.SessionTTL
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = d.IdleTTL
	}
	o.History = max(o.History, 0)
	o.DedupWindow = max(o.DedupWindow, 0)
	r.opts.Store(&o)
}

// historyTTL is the TTL of an unfinished session's keys.
func (r *Redis) historyTTL(o *Options) time.Duration {
	if r.ro.HistoryTTL > 0 {
		return r.ro.HistoryTTL
	}
	return o.IdleTTL
}

// Name implements Broker.
func (r *Redis) Name() string { return "redis" }

// Watch implements Broker: a watched session's notices are decoded, and the keepalive keeps it
// from expiring while its import is quiet.
func (r *Redis) Watch(session string) {
	r.mu.Lock()
	r.watched[session]++
	r.mu.Unlock()
}

// Unwatch implements Broker.
func (r *Redis) Unwatch(session string) {
	r.mu.Lock()
	if r.watched[session] <= 1 {
		delete(r.watched, session)
	} else {
		r.watched[session]--
	}
	r.mu.Unlock()
}

func (r *Redis) watching(session string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.watched[session] > 0
}

func (r *Redis) watchedSessions() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.watched))
	for s := range r.watched {
		out = append(out, s)
	}
	return out
}

// Sessions implements Broker. It is the fleet-wide number of sessions in Redis, as last read by a
// Publish that created one, a Health check or the keepalive: a count, not a query.
func (r *Redis) Sessions() int { return int(r.sessions.Load()) }

// RedisStats are the redis broker's counters, for the health endpoint and metrics. Gap fills are
// the hub's to count (hub.Stats.GapFills).
type RedisStats struct {
	Up         bool   // the last call to Redis succeeded
	Errors     uint64 // failed calls to Redis and undecodable notices, in total
	Reconnects uint64 // pub/sub subscriptions after the first, in total; each one resynced the hub
	Watched    int    // sessions with subscribers on this node
}

// Stats returns current counts.
func (r *Redis) Stats() RedisStats {
	r.mu.RLock()
	watched := len(r.watched)
	r.mu.RUnlock()
	return RedisStats{
		Up:         r.up.Load(),
		Errors:     r.errors.Load(),
		Reconnects: r.reconnects.Load(),
		Watched:    watched,
	}
}

// healthTimeout bounds a health check, so that a hung Redis reads as down, not as a hung endpoint.
const healthTimeout = 2 * time.Second

// Health implements Broker: a PING within healthTimeout. It also refreshes Sessions.
func (r *Redis) Health(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	pipe := r.client.Pipeline()
	pipe.Ping(ctx)
	count := r.countSessions(ctx, pipe)
	if _, err := pipe.Exec(ctx); err != nil {
		return r.failed("health", err)
	}
	r.sessions.Store(count.Val())
	r.up.Store(true)
	return nil
}

// countSessions queues a count of the sessions whose keys have not expired.
func (r *Redis) countSessions(ctx context.Context, pipe redis.Pipeliner) *redis.IntCmd {
	now := r.opts.Load().Now().UnixMilli()
	return pipe.ZCount(ctx, r.keys.index(), fmt.Sprint(now), "+inf")
}

// failed records a failed call to Redis and returns it as ErrUnavailable. A call its caller gave
// up on (a webhook sender that hung up) says nothing about Redis, so it is not counted.
func (r *Redis) failed(op string, err error) error {
	if !errors.Is(err, context.Canceled) {
		r.errors.Add(1)
		r.up.Store(false)
	}
	return fmt.Errorf("redis %s: %w: %w", op, ErrUnavailable, err)
}

// Close implements Broker: it stops delivery and the keepalive and closes the connections.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		if r.pubsub != nil {
			r.closeErr = r.pubsub.Close()
		}
		r.loops.Wait()
		r.closeErr = errors.Join(r.closeErr, r.closeClients())
	})
	return r.closeErr
}

func (r *Redis) closeClients() error {
	return errors.Join(r.client.Close(), r.subClient.Close())
}

// redactURL hides a URL's passwords for logs and errors: the userinfo one, and the master's that a
// Sentinel URL carries in its query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
