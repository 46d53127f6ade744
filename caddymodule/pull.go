package caddymodule

import (
	"fmt"
	"sync"
	"time"

	ssein "github.com/progress-relay/progress-relay/internal/ingest/sse"
)

// pullSwitch is the hub's watcher for upstream_sse. It counts the sessions watched on this node
// itself, so that a reload which changes (or removes) upstream_sse can swap the puller and tell the
// new one about every session that is already watched: the hub cannot remove a watcher.
type pullSwitch struct {
	mu      sync.Mutex // guards all fields
	watched map[string]int
	puller  *ssein.Puller // nil when upstream_sse is not configured
	conf    string        // the configuration the puller was built from, to skip needless swaps
}

func newPullSwitch() *pullSwitch { return &pullSwitch{watched: map[string]int{}} }

func (p *pullSwitch) Watch(session string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watched[session]++
	if p.puller != nil {
		p.puller.Watch(session)
	}
}

func (p *pullSwitch) Unwatch(session string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.watched[session] <= 1 {
		delete(p.watched, session)
	} else {
		p.watched[session]--
	}
	if p.puller != nil {
		p.puller.Unwatch(session)
	}
}

// configure builds the puller r asks for, replacing the current one if the settings changed.
func (p *pullSwitch) configure(r *Relay, pub ssein.Publisher) error {
	conf := ""
	if u := r.UpstreamSSE; u != nil {
		conf = fmt.Sprintf("%v|%v", *u, r.Terminal) // fmt prints maps in key order
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if conf == p.conf {
		return nil
	}
	var next *ssein.Puller
	if u := r.UpstreamSSE; u != nil {
		var err error
		next, err = ssein.NewPuller(pub, ssein.PullConfig{
			URL:      u.URL,
			Header:   u.Header,
			Idle:     time.Duration(u.Idle),
			MaxEvent: u.MaxEvent,
			TypePath: u.TypeField,
			Terminal: r.Terminal,
			Retry:    time.Duration(u.Retry),
			MaxRetry: time.Duration(u.MaxRetry),
			Logger:   r.logger.Named("upstream_sse"),
			// Counted here rather than from the Puller's totals, which a reload starts afresh.
			Published:   countEventsIn("sse_pull"),
			Reconnected: metrics.reconnects.Inc,
		})
		if err != nil {
			return err
		}
		for session, n := range p.watched {
			for range n {
				next.Watch(session)
			}
		}
	}
	if p.puller != nil {
		p.puller.Close()
	}
	p.puller, p.conf = next, conf
	return nil
}

// stats returns the current puller's counters (zero without upstream_sse).
func (p *pullSwitch) stats() ssein.PullStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.puller == nil {
		return ssein.PullStats{}
	}
	return p.puller.Stats()
}

func (p *pullSwitch) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.puller != nil {
		p.puller.Close()
		p.puller = nil
	}
}
