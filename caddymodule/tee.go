package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/progress-relay/progress-relay/internal/event"
	ssein "github.com/progress-relay/progress-relay/internal/ingest/sse"
)

// teeRoute publishes the events of SSE responses that the next handler sends on its path.
type teeRoute struct {
	pattern pattern
	tap     *ssein.Tap
}

func newTeeRoute(t *TeeSSE, r *Relay, inst *instance) (*teeRoute, error) {
	p, err := parsePattern(t.Path)
	if err != nil {
		return nil, err
	}
	tap := ssein.NewTap(inst.ctx, inst.broker, ssein.TapConfig{
		MaxEvent:  t.MaxEvent,
		TypePath:  t.TypeField,
		Terminal:  r.Terminal,
		Logger:    r.logger.Named("tee_sse"),
		Published: countEventsIn("sse_tee"),
	})
	return &teeRoute{pattern: p, tap: tap}, nil
}

// serve passes the request on with the response writer wrapped, so that an SSE answer is parsed
// and published as its bytes go to the client, unbuffered.
func (t *teeRoute) serve(w http.ResponseWriter, req *http.Request, session string, next caddyhttp.Handler) error {
	if event.ValidSession(session) != nil {
		return next.ServeHTTP(w, req) // not a session the relay could key events by
	}
	tee := t.tap.Wrap(w, session)
	// Deferred: reverse_proxy aborts a broken response with a panic, and the tee must still end.
	defer tee.Close()
	return next.ServeHTTP(tee, req)
}
