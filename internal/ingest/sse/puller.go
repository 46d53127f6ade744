package sse

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/event"
)

// PullConfig configures a Puller. A zero field takes the default named in its comment.
type PullConfig struct {
	// URL is the upstream's SSE endpoint; {session} is replaced by the session ID. Required.
	URL string
	// Header holds extra request headers, such as upstream credentials. The Puller sets Accept,
	// Cache-Control and Last-Event-ID itself.
	Header http.Header
	// Idle is how long an upstream connection stays open after its session's last subscriber on
	// this node left, so that a page reload does not reconnect. Default 30 s.
	Idle time.Duration
	// MaxEvent bounds a line and an event's data, in bytes; a longer one breaks the connection.
	// Default DefaultMaxEvent (1 MiB).
	MaxEvent int
	// TypePath is the gjson path of the type in an event's JSON data. Default "type".
	TypePath string
	// Terminal are the types that end a session, after which the upstream is not read any more.
	// Default complete and error; pass the broker's list.
	Terminal []string
	// Retry is the wait before reconnecting until the upstream sets one with retry:. Default 1 s.
	Retry time.Duration
	// MaxRetry caps the exponential backoff of reconnections. Default 30 s.
	MaxRetry time.Duration
	// Client makes the upstream requests. Default: a client without an overall timeout (streams
	// last), with a 30 s limit on waiting for response headers.
	Client *http.Client
	// Logger receives connection and publishing problems. Default: none.
	Logger *zap.Logger
	// Published, when set, is told how many events each publish sequenced, for metrics that
	// must keep counting when a reload replaces the Puller.
	Published func(n int)
	// Reconnected, when set, is told of each reconnection to an upstream.
	Reconnected func()
}

// Puller pulls each watched session's events from an upstream SSE endpoint: when a session gets its
// first subscriber on this node it opens one connection for it, however many subscribers follow,
// publishes what it reads, reconnects with Last-Event-ID when the connection drops, and closes it
// Idle after the last subscriber left. It implements hub.Watcher: register it with Hub.AddWatcher.
type Puller struct {
	cfg   PullConfig
	log   *zap.Logger
	clock clock
	pub   retryingPublisher

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per running pull

	mu     sync.Mutex       // guards pulls and closed
	pulls  map[string]*pull // sessions watched, pulling or idling
	closed bool

	running    atomic.Int64
	open       atomic.Int64
	reconnects atomic.Uint64
	eventsIn   atomic.Uint64
	duplicates atomic.Uint64
}

// pull is one session's upstream. Its fields are guarded by Puller.mu.
type pull struct {
	session  string
	watchers int // Watch calls minus Unwatch calls; may dip below 0 (see hub.Watcher)
	// cancel is set from the start of a pull until it expires. A pull that ended on its own (a
	// terminal event, a 204) keeps it, so that it is not restarted while the session is watched.
	cancel  context.CancelFunc
	idle    *time.Timer // runs while watchers <= 0 and a pull was started
	idleGen uint64      // tells a timer that fired after being stopped that it is stale
}

// NewPuller returns a Puller publishing to pub. It checks that cfg.URL is an http(s) URL with a
// {session} placeholder.
func NewPuller(pub Publisher, cfg PullConfig) (*Puller, error) {
	if !strings.Contains(cfg.URL, "{session}") {
		return nil, fmt.Errorf("upstream URL %q: no {session} placeholder", cfg.URL)
	}
	u, err := url.Parse(strings.ReplaceAll(cfg.URL, "{session}", "s"))
	if err != nil {
		return nil, fmt.Errorf("upstream URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream URL %q: want an absolute http or https URL", cfg.URL)
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Puller{
		cfg:    cfg,
		log:    cfg.Logger,
		ctx:    ctx,
		cancel: cancel,
		pulls:  make(map[string]*pull),
	}
	p.pub = retryingPublisher{pub: pub, log: cfg.Logger}
	p.setClock(realClock())
	return p, nil
}

func (cfg PullConfig) withDefaults() PullConfig {
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Second
	}
	if cfg.MaxEvent <= 0 {
		cfg.MaxEvent = DefaultMaxEvent
	}
	if cfg.TypePath == "" {
		cfg.TypePath = DefaultTypePath
	}
	if cfg.Terminal == nil {
		cfg.Terminal = DefaultTerminal()
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 30 * time.Second
	}
	if cfg.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 30 * time.Second
		cfg.Client = &http.Client{Transport: tr}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.Header = cfg.Header.Clone()
	return cfg
}

// setClock replaces the time source; tests call it before the first Watch.
func (p *Puller) setClock(c clock) {
	p.clock = c
	p.pub.clock = c
}

// Watch implements hub.Watcher: a session's first subscriber on this node starts its pull.
func (p *Puller) Watch(session string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	pl := p.entry(session)
	pl.watchers++
	if pl.watchers <= 0 {
		return
	}
	if pl.idle != nil {
		pl.idle.Stop()
		pl.idle = nil
		pl.idleGen++
	}
	if pl.cancel == nil {
		if err := event.ValidSession(session); err != nil {
			p.log.Error("not pulling an invalid session", zap.Error(err))
			return
		}
		ctx, cancel := context.WithCancel(p.ctx)
		pl.cancel = cancel
		p.wg.Add(1)
		p.running.Add(1)
		go p.run(ctx, session)
	}
}

// Unwatch implements hub.Watcher: when a session's last subscriber here leaves, its pull stops
// after Idle unless a subscriber comes back.
func (p *Puller) Unwatch(session string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	pl := p.entry(session)
	pl.watchers--
	switch {
	case pl.watchers > 0:
	case pl.cancel == nil:
		if pl.watchers == 0 {
			delete(p.pulls, session)
		}
	case pl.idle == nil:
		pl.idleGen++
		gen := pl.idleGen
		pl.idle = time.AfterFunc(p.cfg.Idle, func() { p.expire(pl, gen) })
	}
}

// entry returns session's pull, creating it. p.mu is held.
func (p *Puller) entry(session string) *pull {
	pl := p.pulls[session]
	if pl == nil {
		pl = &pull{session: session}
		p.pulls[session] = pl
	}
	return pl
}

// expire stops a pull whose session has had no subscriber for Idle.
func (p *Puller) expire(pl *pull, gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || pl.idleGen != gen || pl.watchers > 0 || p.pulls[pl.session] != pl {
		return
	}
	pl.idle = nil
	pl.cancel()
	pl.cancel = nil
	if pl.watchers == 0 {
		delete(p.pulls, pl.session)
	}
	p.log.Debug("upstream idle: closed", zap.String("session", pl.session))
}

// Close stops every pull, closes their connections and waits for them to end.
func (p *Puller) Close() {
	p.mu.Lock()
	p.closed = true
	for _, pl := range p.pulls {
		if pl.idle != nil {
			pl.idle.Stop()
		}
	}
	p.pulls = nil
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.cfg.Client.CloseIdleConnections()
}

// PullStats are the Puller's counts for the health endpoint and metrics.
type PullStats struct {
	Pulling       int    // sessions being pulled now: connected, connecting or waiting to reconnect
	Open          int    // upstream connections open now
	Reconnects    uint64 // connection attempts after a session's first, in total
	EventsIn      uint64 // upstream events the broker sequenced, in total
	Duplicates    uint64 // upstream events the broker dropped as already seen, in total
	PublishErrors uint64 // failed attempts to publish, in total (each is retried)
}

// Stats returns the current counts.
func (p *Puller) Stats() PullStats {
	return PullStats{
		Pulling:       int(p.running.Load()),
		Open:          int(p.open.Load()),
		Reconnects:    p.reconnects.Load(),
		EventsIn:      p.eventsIn.Load(),
		Duplicates:    p.duplicates.Load(),
		PublishErrors: p.pub.failed.Load(),
	}
}
