package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// outcome is how one upstream connection ended, which decides what the pull does next.
type outcome int

const (
	failed     outcome = iota // nothing came through: back off further before the next attempt
	progressed                // events came through before the stream dropped: reconnect promptly
	ended                     // the session or the pull is over: no reconnection
)

// run pulls session until the upstream or the broker ends it, or ctx ends (idle, Close).
func (p *Puller) run(ctx context.Context, session string) {
	defer p.wg.Done()
	defer p.running.Add(-1)
	log := p.log.With(zap.String("session", session))
	parser := NewParser(nil, p.cfg.MaxEvent)
	failures := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			base := p.cfg.Retry
			if r, ok := parser.Retry(); ok {
				base = r
			}
			select {
			case <-ctx.Done():
				return
			case <-p.clock.after(p.clock.backoff(base, p.cfg.MaxRetry, failures)):
			}
			p.reconnects.Add(1)
			if p.cfg.Reconnected != nil {
				p.cfg.Reconnected()
			}
		}
		switch p.connect(ctx, session, parser, log) {
		case ended:
			return
		case progressed:
			failures = 0
		case failed:
			failures++
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// connect makes one upstream request and publishes its events until the stream ends.
func (p *Puller) connect(ctx context.Context, session string, parser *Parser, log *zap.Logger) outcome {
	target := strings.ReplaceAll(p.cfg.URL, "{session}", session)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		log.Error("bad upstream request", zap.Error(err))
		return ended
	}
	for name, values := range p.cfg.Header {
		req.Header[name] = values
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if id := parser.LastEventID(); id != "" {
		req.Header.Set("Last-Event-ID", id)
	}
	log = log.With(zap.String("upstream", req.URL.Redacted()))

	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ended
		}
		log.Warn("upstream unreachable", zap.Error(err))
		return failed
	}
	defer resp.Body.Close()

	switch status, ct := resp.StatusCode, resp.Header.Get("Content-Type"); {
	case status == http.StatusNoContent:
		// The upstream's way of saying there is nothing more, which stops an EventSource too.
		log.Info("upstream answered 204: session over")
		return ended
	case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
		log.Warn("upstream failed; retrying", zap.Int("status", status), zap.String("body", snippet(resp.Body)))
		return failed
	case status != http.StatusOK:
		p.refused(ctx, session, resp, "upstream answered "+resp.Status, log)
		return ended
	case !isEventStream(ct):
		p.refused(ctx, session, resp,
			fmt.Sprintf("upstream answered %s with Content-Type %q, not text/event-stream", resp.Status, ct), log)
		return ended
	}

	p.open.Add(1)
	defer p.open.Add(-1)
	log.Debug("upstream connected", zap.String("last_event_id", parser.LastEventID()))
	parser.Reset(resp.Body)
	result := failed
	for {
		ev, err := parser.Next()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ended
			case errors.Is(err, ErrTooLarge):
				log.Error("upstream event too large: reconnecting", zap.Error(err))
			default:
				log.Info("upstream stream ended: reconnecting", zap.Error(err))
			}
			return result
		}
		result = progressed
		if p.publish(ctx, input(session, ev, p.cfg.TypePath), log) {
			return ended
		}
	}
}

// publish hands one upstream event to the broker and reports whether the session is over.
func (p *Puller) publish(ctx context.Context, in event.Input, log *zap.Logger) (over bool) {
	res, err := p.pub.publish(ctx, in)
	switch {
	case errors.Is(err, broker.ErrFinished):
		log.Info("session already finished: no longer pulling")
		return true
	case err != nil:
		if ctx.Err() == nil {
			log.Error("publishing an upstream event failed", zap.Error(err))
		}
		return true
	}
	p.eventsIn.Add(uint64(len(res.Events)))
	p.duplicates.Add(uint64(res.Duplicates))
	if p.cfg.Published != nil {
		p.cfg.Published(len(res.Events))
	}
	// The type is checked as well as the result: a terminal event the upstream sends again is a
	// duplicate, sequenced before, and still ends the session.
	return isTerminal(p.cfg.Terminal, in.Type) || (len(res.Events) > 0 && res.Events[0].Terminal)
}

// refused tells the session's subscribers why the upstream will not stream it, with an error event
// such as {"type":"error","error":"upstream answered 404 Not Found","status":404}.
func (p *Puller) refused(ctx context.Context, session string, resp *http.Response, reason string, log *zap.Logger) {
	log.Warn("upstream refused the session", zap.Int("status", resp.StatusCode), zap.String("reason", reason),
		zap.String("body", snippet(resp.Body)))
	data, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{ErrorType, reason, resp.StatusCode}) // strings and ints always marshal
	p.publish(ctx, event.Input{Session: session, Type: ErrorType, Data: data}, log)
}

// snippet is the start of an answer's body, for the log.
func snippet(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 256))
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func isEventStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "text/event-stream"
}
