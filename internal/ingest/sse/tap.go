package sse

import (
	"context"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// TapConfig configures a Tap. A zero field takes the default named in its comment.
type TapConfig struct {
	// MaxEvent bounds a line and an event's data, in bytes; past it a response is no longer
	// parsed (its bytes still pass). Default DefaultMaxEvent (1 MiB).
	MaxEvent int
	// TypePath is the gjson path of the type in an event's JSON data. Default "type".
	TypePath string
	// Queue is how many events one response holds while the broker is slow; past it, events of
	// non-terminal types are dropped (progress is a state: a later one supersedes them). Default 1024.
	Queue int
	// Terminal are the types never dropped from a full queue. Default complete and error; pass the
	// broker's list.
	Terminal []string
	// Logger receives what cannot be teed and publishing problems. Default: none.
	Logger *zap.Logger
	// Published, when set, is told how many events each publish sequenced, for metrics that
	// must keep counting when a reload replaces the Tap.
	Published func(n int)
}

// Tap publishes the events of SSE responses that pass through it, one Tee per response. One Tap
// serves one tee_sse route; it holds what the route's responses share.
//
// Publishing happens off the response path: a Tee only parses and queues, and a goroutine per
// teed response publishes in order. A memory broker would publish in microseconds, but the redis
// broker takes a round trip and, while Redis fails over, much longer; the bytes to the client must
// not wait for either.
type Tap struct {
	ctx context.Context
	cfg TapConfig
	log *zap.Logger
	pub retryingPublisher

	mu      sync.Mutex      // guards leaders
	leaders map[string]*Tee // per session, the response whose events without an id: are published

	compressedOnce sync.Once
	streams        atomic.Int64
	queued         atomic.Int64
	eventsIn       atomic.Uint64
	duplicates     atomic.Uint64
	dropped        atomic.Uint64
	compressed     atomic.Uint64
}

// NewTap returns a Tap publishing to pub. Publishing (and retrying while the broker fails) stops
// when ctx ends, so pass one that lives as long as the broker rather than one request.
func NewTap(ctx context.Context, pub Publisher, cfg TapConfig) *Tap {
	if cfg.MaxEvent <= 0 {
		cfg.MaxEvent = DefaultMaxEvent
	}
	if cfg.TypePath == "" {
		cfg.TypePath = DefaultTypePath
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.Terminal == nil {
		cfg.Terminal = DefaultTerminal()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Tap{
		ctx:     ctx,
		cfg:     cfg,
		log:     cfg.Logger,
		pub:     retryingPublisher{pub: pub, log: cfg.Logger, clock: realClock()},
		leaders: make(map[string]*Tee),
	}
}

// lead reports whether t publishes session's events that have no id:. Events with an id: are
// published from every response, because the broker drops the repeats; events without one would be
// published once per client streaming the session, so only the first such response publishes them
// until it ends.
func (tp *Tap) lead(session string, t *Tee) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	l := tp.leaders[session]
	if l == nil {
		tp.leaders[session] = t
		return true
	}
	return l == t
}

// resign ends t's lead of session, if it had it.
func (tp *Tap) resign(session string, t *Tee) {
	tp.mu.Lock()
	if tp.leaders[session] == t {
		delete(tp.leaders, session)
	}
	tp.mu.Unlock()
}

// notTeeable logs, once per Tap, that a compressed SSE response went by unparsed.
func (tp *Tap) notTeeable(session, encoding string) {
	tp.compressed.Add(1)
	tp.compressedOnce.Do(func() {
		tp.log.Warn("compressed SSE response passed through without being teed; have the backend send it "+
			"uncompressed (further ones are counted, not logged)",
			zap.String("session", session), zap.String("content_encoding", encoding))
	})
}

// TapStats are the Tap's counts for the health endpoint and metrics.
type TapStats struct {
	Streams       int    // SSE responses being teed now
	Queued        int    // parsed events waiting to be published now
	EventsIn      uint64 // teed events the broker sequenced, in total
	Duplicates    uint64 // teed events the broker dropped as already seen, in total
	Dropped       uint64 // events dropped because the broker fell behind, in total
	Compressed    uint64 // compressed SSE responses passed through unparsed, in total
	PublishErrors uint64 // failed attempts to publish, in total (each is retried)
}

// Stats returns the current counts.
func (tp *Tap) Stats() TapStats {
	return TapStats{
		Streams:       int(tp.streams.Load()),
		Queued:        int(tp.queued.Load()),
		EventsIn:      tp.eventsIn.Load(),
		Duplicates:    tp.duplicates.Load(),
		Dropped:       tp.dropped.Load(),
		Compressed:    tp.compressed.Load(),
		PublishErrors: tp.pub.failed.Load(),
	}
}
