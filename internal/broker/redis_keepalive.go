package broker

import (
	"context"
	_ "embed" // see publishScript
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// touchScript gives a watched, unfinished session's keys a fresh history TTL. KEYS: the index, then
// the session's state hash, stream and recent-ID set. ARGV: the session, the TTL (ms), the new
// expiry (Unix ms).
//
//go:embed redis_touch.lua
var touchSource string

var touchScript = redis.NewScript(touchSource)

// keepaliveTimeout bounds one round of touches.
const keepaliveTimeout = 10 * time.Second

// keepalive keeps the sessions this node watches from expiring while their imports are quiet. If
// they expired, a later event would restart at seq 1 and subscribers that are past it would drop it
// as a repeat. Each round also refreshes the fleet-wide session count.
func (r *Redis) keepalive() {
	defer r.loops.Done()
	for {
		period := min(max(r.historyTTL(r.opts.Load())/4, time.Second), 5*time.Minute)
		t := time.NewTimer(period)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if err := r.touchWatched(); err != nil {
			r.log.Warn("redis keepalive failed", zap.Error(err))
		}
	}
}

// touchWatched runs one round of touches in one pipeline.
func (r *Redis) touchWatched() error {
	ctx, cancel := context.WithTimeout(context.Background(), keepaliveTimeout)
	defer cancel()
	o := r.opts.Load()
	ttl := ttlMillis(r.historyTTL(o))
	expiry := o.Now().UnixMilli() + ttl
	sessions := r.watchedSessions()
	if len(sessions) > 0 {
		// Pipelined EVALSHA cannot fall back to EVAL on NOSCRIPT, so load the script first.
		if err := touchScript.Load(ctx, r.client).Err(); err != nil {
			return r.failed("keepalive", err)
		}
	}
	pipe := r.client.Pipeline()
	for _, s := range sessions {
		touchScript.EvalSha(ctx, pipe, []string{r.keys.index(), r.keys.meta(s), r.keys.stream(s), r.keys.ids(s)},
			s, ttl, expiry)
	}
	count := r.countSessions(ctx, pipe)
	if _, err := pipe.Exec(ctx); err != nil {
		return r.failed("keepalive", err)
	}
	r.sessions.Store(count.Val())
	r.up.Store(true)
	return nil
}
