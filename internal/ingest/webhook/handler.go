// Package webhook takes import progress in over HTTP: it authenticates a backend's webhook,
// splits its body into events (one JSON object, a batch array, or NDJSON) and publishes them
// through the broker as one all-or-nothing batch.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
)

// SessionHeader carries the session ID of events that do not name one themselves.
const SessionHeader = "X-Session-Id"

// Publisher sequences a batch of events atomically; broker.Broker is one.
type Publisher interface {
	Publish(ctx context.Context, in []event.Input) (broker.Result, error)
}

// Next is the handler an accepted webhook is forwarded to. caddyhttp.Handler satisfies it, so the
// Caddy module passes its next handler as it is and gets its error back.
type Next interface {
	ServeHTTP(http.ResponseWriter, *http.Request) error
}

// Handler serves one webhook endpoint. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	auth    *authenticator
	parser  parser
	limiter *limiter // nil when there is no rate limit
	pub     Publisher
}

// New returns a handler publishing to pub. It refuses a configuration without authentication
// unless cfg.Insecure says so.
func New(cfg Config, pub Publisher) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, errors.New("webhook: no publisher")
	}
	return &Handler{
		cfg:  cfg,
		auth: newAuthenticator(cfg),
		parser: parser{
			sessionField: cfg.SessionField,
			typeField:    cfg.TypeField,
			idField:      cfg.IDField,
			maxEvents:    cfg.MaxEvents,
		},
		limiter: newLimiter(cfg.RatePerSecond, cfg.RateBurst, cfg.Now),
		pub:     pub,
	}, nil
}

// accepted is the 202 answer.
type accepted struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates,omitempty"`
}

// Handle reads, authenticates, parses and publishes one webhook. pathSession is the {session} of
// the webhook path, "" if it has none. The answer is 202 {"accepted":n[,"duplicates":d]}, or with
// next set, whatever next answers after it gets the original body; refusals are JSON errors.
// The returned error is next's: every other failure is answered here.
func (h *Handler) Handle(w http.ResponseWriter, r *http.Request, pathSession string, next Next) error {
	body, res, rej := h.accept(w, r, pathSession)
	if rej != nil {
		h.cfg.Observer.Rejected(r, rej.status, rej.reason())
		if rej.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		writeRejection(w, rej)
		return nil
	}
	h.cfg.Observer.Accepted(r, len(res.Events), res.Duplicates)
	if next == nil {
		writeJSON(w, http.StatusAccepted, accepted{Accepted: len(res.Events), Duplicates: res.Duplicates})
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return next.ServeHTTP(w, r)
}

// accept takes the webhook from the request to the broker. It returns the raw body for forwarding.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request, pathSession string) ([]byte, broker.Result, *rejection) {
	if r.Method != http.MethodPost {
		return nil, broker.Result{}, reject(http.StatusMethodNotAllowed, "method %s not allowed: webhooks are POSTed", r.Method)
	}
	body, rej := h.readBody(w, r)
	if rej == nil {
		rej = h.auth.verify(r.Header, body)
	}
	if rej != nil {
		return nil, broker.Result{}, rej
	}
	in, rej := h.parser.parse(body, fallbackSession{header: r.Header.Get(SessionHeader), path: pathSession})
	if rej != nil {
		return nil, broker.Result{}, rej
	}
	// Counted after authentication, so that only known senders get a bucket and forged requests
	// cannot use up a backend's allowance.
	if wait := h.limiter.take(h.cfg.ClientIP(r), len(in)); wait > 0 {
		rej := reject(http.StatusTooManyRequests, "too many events from this client: over %g per second", h.cfg.RatePerSecond)
		rej.retryAfter = wait
		return nil, broker.Result{}, rej
	}
	res, err := h.pub.Publish(r.Context(), in)
	if err != nil {
		return nil, broker.Result{}, publishRejection(err)
	}
	return body, res, nil
}

// readBody reads the whole body, refusing one over MaxBody.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *rejection) {
	if r.ContentLength > h.cfg.MaxBody {
		return nil, h.tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, h.tooLarge()
	case err != nil:
		return nil, &rejection{status: http.StatusBadRequest, msg: "could not read the body", detail: "reading body: " + err.Error()}
	}
	return body, nil
}

func (h *Handler) tooLarge() *rejection {
	return reject(http.StatusRequestEntityTooLarge, "body too large: at most %d bytes", h.cfg.MaxBody)
}
