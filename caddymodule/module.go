// Package caddymodule registers the progress_relay HTTP handler with Caddy: configuration
// (Caddyfile and JSON), lifecycle (Provision, Validate, Cleanup) and the routing of requests to the
// relay in internal/. Nothing below this package knows Caddy.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/ingest/webhook"
	"github.com/progress-relay/progress-relay/internal/transport/socketio"
	"github.com/progress-relay/progress-relay/internal/web"
)

func init() {
	caddy.RegisterModule(Relay{})
	httpcaddyfile.RegisterHandlerDirective("progress_relay", parseCaddyfile)
	// After encode (which leaves text/event-stream alone) and before reverse_proxy, so that a
	// plain site block needs no global order line and the relay sees requests before the backend.
	httpcaddyfile.RegisterDirectiveOrder("progress_relay", httpcaddyfile.After, "encode")
}

// Off is the value that disables an endpoint.
const Off = "off"

// Relay is the progress_relay handler: it takes import progress in from a backend (webhooks) and
// fans it out to browsers over WebSocket, SSE and long-polling, keyed by session ID.
type Relay struct {
	// Path of the seed-protocol WebSocket: clients connect and send {"sessionId": id}. Only
	// requests with Upgrade: websocket are taken; others pass to the next handler.
	// Default "/"; "off" disables it.
	WebSocket string `json:"websocket,omitempty"`
	// Path template of the per-session endpoint, with {session}: SSE when the client accepts
	// text/event-stream, WebSocket on an upgrade, long-poll JSON otherwise.
	// Default "/api/import/progress/{session}"; "off" disables it.
	Subscribe string `json:"subscribe,omitempty"`
	// "off" stops serving SSE at the subscribe path (such requests pass to the next handler).
	// Default "on".
	SSE string `json:"sse,omitempty"`
	// "off" stops answering long-polls at the subscribe path (they pass to the next handler).
	// Default "on".
	Poll string `json:"poll,omitempty"`
	// Path of the health endpoint. Default "/relay/health"; "off" disables it.
	Health string `json:"health,omitempty"`
	// Path of the test page. Default "/test-socket-io.html"; "off" disables it.
	TestPage string `json:"test_page,omitempty"`
	// Path of the browser client library; its ES-module form is served at the same path with
	// .mjs for .js. Default "/progress-relay.js"; "off" disables both.
	ClientJS string `json:"client_js,omitempty"`
	// The backend's import endpoint that the test page's "Simulate Import" posts a CSV to.
	// Default "/api/import".
	ImportEndpoint string `json:"import_endpoint,omitempty"`
	// The Socket.IO endpoint. Default: on, at /socket.io/, serving socket.io-client 2.x too.
	SocketIO *SocketIO `json:"socketio,omitempty"`
	// Webhook endpoints that take events in. Several may be given.
	Webhooks []*Webhook `json:"webhooks,omitempty"`

	// Events kept per session for late joiners and resumes. Default 100.
	History int `json:"history,omitempty"`
	// How long a session is kept after its terminal event. Default 10m.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`
	// How long a session with no events and no subscribers is kept. Default 1h.
	IdleTTL caddy.Duration `json:"idle_ttl,omitempty"`
	// Event types that finish a session. Default ["complete", "error"].
	Terminal []string `json:"terminal,omitempty"`
	// Events queued per subscriber before progress events collapse into the latest. Default 256.
	QueueSize int `json:"queue_size,omitempty"`
	// A subscriber that cannot take a write for this long is disconnected. Default 10s.
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`
	// Sessions held by this node; more answer 503. Default 100000.
	MaxSessions int `json:"max_sessions,omitempty"`
	// Subscribers on this node; more answer 503. Default 100000.
	MaxSubscribers int `json:"max_subscribers,omitempty"`
	// Subscribers of one session on this node; more answer 503. Default: no limit.
	MaxSubscribersPerSession int `json:"max_subscribers_per_session,omitempty"`
	// Origins allowed to subscribe from a browser (CORS and the WebSocket Origin check).
	// Default: same origin only. "*" allows any origin and must be written explicitly.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// Secret that signs subscriber tokens (see the tokens package). When set, every subscription
	// must present a valid token for its session. Default: no tokens.
	SubscriberSecret string `json:"subscriber_secret,omitempty"`

	// Where events are sequenced and shared. Default: the embedded memory broker (one node).
	Broker *BrokerConfig `json:"broker,omitempty"`
	// Pull each watched session's events from the backend's own SSE endpoint.
	UpstreamSSE *UpstreamSSE `json:"upstream_sse,omitempty"`
	// Publish the events of SSE responses that the next handler (reverse_proxy) sends.
	TeeSSE *TeeSSE `json:"tee_sse,omitempty"`

	inst     *instance
	key      string
	logger   *zap.Logger
	webhooks []*webhookRoute
	sub      pattern
	origins  origins
	tee      *teeRoute
	assets   *web.Assets
	sioGate  socketio.Gate
}

// SocketIO configures the Socket.IO endpoint.
type SocketIO struct {
	// Path prefix of the Engine.IO endpoint and the client script. Default "/socket.io/";
	// "off" disables Socket.IO.
	Path string `json:"path,omitempty"`
	// Serve socket.io-client 2.x (Engine.IO 3) too. Default true.
	AllowEIO3 *bool `json:"allow_eio3,omitempty"`
	// Hub event type -> emitted event name. Types not listed keep their own name.
	EventNames map[string]string `json:"event_names,omitempty"`
	// Engine.IO heartbeat. Defaults 25s and 20s.
	PingInterval caddy.Duration `json:"ping_interval,omitempty"`
	PingTimeout  caddy.Duration `json:"ping_timeout,omitempty"`
	// Origins allowed besides the relay's own. Default: allowed_origins.
	CORSOrigins []string `json:"cors_origins,omitempty"`
	// Sessions one socket may register. Default 16.
	MaxSessionsPerSocket int `json:"max_sessions_per_socket,omitempty"`
}

// BrokerConfig selects the broker.
type BrokerConfig struct {
	// "memory" (default) or "redis".
	Type string `json:"type,omitempty"`
	// Redis URL: redis://[:password@]host:port[/db], rediss:// for TLS, or a Sentinel URL
	// redis://sentinel:26379?master_name=NAME.
	URL string `json:"url,omitempty"`
	// Prefix of the relay's Redis keys and channel. Default "relay:".
	Prefix string `json:"prefix,omitempty"`
	// How long an unfinished session's events stay in Redis without activity. Default: idle_ttl.
	HistoryTTL caddy.Duration `json:"history_ttl,omitempty"`
}

// UpstreamSSE pulls events from the backend's SSE endpoint, one connection per watched session.
type UpstreamSSE struct {
	// URL with {session}, e.g. http://backend:3000/api/import/progress/{session}.
	URL string `json:"url"`
	// Extra request headers, such as credentials for the backend.
	Header http.Header `json:"header,omitempty"`
	// How long a connection stays open after the session's last subscriber left. Default 30s.
	Idle caddy.Duration `json:"idle,omitempty"`
	// Largest event accepted, in bytes; a larger one breaks the connection. Default 1 MiB.
	MaxEvent int `json:"max_event,omitempty"`
	// gjson path of the type in the event data, when the SSE event: field gives none. Default "type".
	TypeField string `json:"type_field,omitempty"`
	// Reconnection delay until the upstream sets one with retry:. Default 1s.
	Retry caddy.Duration `json:"retry,omitempty"`
	// Cap of the exponential reconnection backoff. Default 30s.
	MaxRetry caddy.Duration `json:"max_retry,omitempty"`
}

// TeeSSE publishes the events of SSE responses passing through to the next handler.
type TeeSSE struct {
	// Path with {session} of the proxied SSE endpoint.
	Path string `json:"path"`
	// Largest event parsed, in bytes; past it a response is passed on without teeing. Default 1 MiB.
	MaxEvent int `json:"max_event,omitempty"`
	// gjson path of the type in the event data, when the SSE event: field gives none. Default "type".
	TypeField string `json:"type_field,omitempty"`
}

// Webhook is one webhook endpoint.
type Webhook struct {
	// Path, optionally with {session} naming the session of events that carry none.
	Path string `json:"path"`
	// Shared secret: the body's HMAC-SHA256 in X-Relay-Signature: sha256=<hex>.
	Secret string `json:"secret,omitempty"`
	// Token expected in Authorization: Bearer <token>.
	Bearer string `json:"bearer,omitempty"`
	// Accept webhooks without authentication. Required when neither secret nor bearer is set.
	Insecure bool `json:"insecure,omitempty"`
	// gjson path of the session ID. Default "sessionId".
	SessionField string `json:"session_field,omitempty"`
	// gjson path of the event type. Default "type"; events without one are "progress".
	TypeField string `json:"type_field,omitempty"`
	// gjson path of the source event ID, for duplicate suppression. Default: none.
	IDField string `json:"id_field,omitempty"`
	// Largest body accepted, in bytes. Default 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// Most events in one request. Default 1000.
	MaxEvents int `json:"max_events,omitempty"`
	// Header with unix seconds signed together with the body, bounding replays. Needs secret.
	TimestampHeader string `json:"timestamp_header,omitempty"`
	// Events per second accepted from one client IP; 0 means no limit.
	Rate float64 `json:"rate,omitempty"`
	// Events a client may send at once under rate. Default: one second's worth.
	Burst int `json:"burst,omitempty"`
	// Also pass each accepted webhook, with its original body, to the next handler.
	Forward bool `json:"forward,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Relay) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.progress_relay",
		New: func() caddy.Module { return new(Relay) },
	}
}

// Provision applies defaults, gets (or creates) the relay instance shared across config reloads,
// and builds the request routes.
func (r *Relay) Provision(ctx caddy.Context) error {
	r.logger = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	r.applyDefaults()
	if err := r.Validate(); err != nil {
		return err
	}
	inst, key, err := loadInstance(ctx, r)
	if err != nil {
		return err
	}
	r.inst, r.key = inst, key
	if err := inst.attach(r); err != nil {
		return err
	}

	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok {
		// On exit (not on a reload), end long-lived streams so that the server's graceful
		// shutdown does not wait on them: SSE and long-polls end, WebSockets get 1001.
		srv.RegisterOnShutdown(func() {
			if caddy.Exiting() {
				inst.shutdown()
			}
		})
	}

	for _, wh := range r.Webhooks {
		route, err := newWebhookRoute(wh, inst, r.logger)
		if err != nil {
			return err
		}
		r.webhooks = append(r.webhooks, route)
	}
	if r.TeeSSE != nil {
		if r.tee, err = newTeeRoute(r.TeeSSE, r, inst); err != nil {
			return err
		}
	}
	if r.socketIOOn() {
		sc := r.socketIOConfig()
		origin, err := sc.OriginGate()
		if err != nil {
			return fmt.Errorf("socketio: %w", err)
		}
		r.sioGate = socketio.Gate{AllowEIO3: sc.AllowEIO3, Origin: origin}
	}
	if r.assets, err = web.New(r.webConfig()); err != nil {
		return fmt.Errorf("test page and client library: %w", err)
	}
	return nil
}

func (r *Relay) applyDefaults() {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&r.WebSocket, "/")
	set(&r.Subscribe, "/api/import/progress/{session}")
	set(&r.Health, "/relay/health")
	set(&r.SSE, "on")
	set(&r.Poll, "on")
	set(&r.TestPage, "/test-socket-io.html")
	set(&r.ClientJS, "/progress-relay.js")
	set(&r.ImportEndpoint, "/api/import")
	if r.SocketIO == nil {
		r.SocketIO = new(SocketIO)
	}
	set(&r.SocketIO.Path, "/socket.io/")
	if r.SocketIO.AllowEIO3 == nil {
		on := true // drop-in: front ends still on socket.io-client 2.x keep working
		r.SocketIO.AllowEIO3 = &on
	}
	if r.History == 0 {
		r.History = 100
	}
	if r.SessionTTL == 0 {
		r.SessionTTL = caddy.Duration(10 * time.Minute)
	}
	if r.IdleTTL == 0 {
		r.IdleTTL = caddy.Duration(time.Hour)
	}
	if len(r.Terminal) == 0 {
		r.Terminal = []string{"complete", "error"}
	}
	if r.QueueSize == 0 {
		r.QueueSize = 256
	}
	if r.WriteTimeout == 0 {
		r.WriteTimeout = caddy.Duration(10 * time.Second)
	}
	if r.MaxSessions == 0 {
		r.MaxSessions = 100000
	}
	if r.MaxSubscribers == 0 {
		r.MaxSubscribers = 100000
	}
}

// Validate checks the configuration; errors name the setting.
func (r *Relay) Validate() error {
	var errs []error
	for name, v := range map[string]int{"history": r.History, "queue_size": r.QueueSize,
		"max_sessions": r.MaxSessions, "max_subscribers": r.MaxSubscribers} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", name, v))
		}
	}
	for name, d := range map[string]caddy.Duration{"session_ttl": r.SessionTTL, "idle_ttl": r.IdleTTL,
		"write_timeout": r.WriteTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %s", name, time.Duration(d)))
		}
	}
	var err error
	if r.sub, err = parsePattern(r.Subscribe); err != nil {
		errs = append(errs, fmt.Errorf("subscribe: %w", err))
	}
	if r.WebSocket != Off && (r.WebSocket == "" || r.WebSocket[0] != '/') {
		errs = append(errs, fmt.Errorf("websocket: path %q must start with /", r.WebSocket))
	}
	for name, p := range map[string]string{"health": r.Health, "test_page": r.TestPage,
		"client_js": r.ClientJS, "import_endpoint": r.ImportEndpoint} {
		if p != Off && (p == "" || p[0] != '/') {
			errs = append(errs, fmt.Errorf("%s: path %q must start with /", name, p))
		}
	}
	for name, v := range map[string]string{"sse": r.SSE, "poll": r.Poll} {
		if v != "on" && v != Off {
			errs = append(errs, fmt.Errorf("%s: %q is not on or off", name, v))
		}
	}
	if r.origins, err = parseOrigins(r.AllowedOrigins); err != nil {
		errs = append(errs, fmt.Errorf("allowed_origins: %w", err))
	}
	if r.SocketIO != nil && r.SocketIO.Path != Off {
		if err := r.socketIOConfig().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("socketio: %w", err))
		}
	}
	if err := r.validateSources(); err != nil {
		errs = append(errs, err)
	}
	for i, wh := range r.Webhooks {
		if wh == nil {
			errs = append(errs, fmt.Errorf("webhooks[%d]: empty", i))
			continue
		}
		if _, err := parsePattern(wh.Path); err != nil || wh.Path == Off {
			errs = append(errs, fmt.Errorf("webhook %q: path must start with / and may hold one {session}", wh.Path))
		}
		if !wh.Insecure && wh.Secret == "" && wh.Bearer == "" {
			errs = append(errs, fmt.Errorf("webhook %s: %w", wh.Path, webhook.ErrNoAuth))
		}
	}
	return errors.Join(errs...)
}

// Cleanup releases this config's hold on the shared relay instance; the last config to let go
// closes it.
func (r *Relay) Cleanup() error {
	if r.key == "" {
		return nil
	}
	r.inst.detach(r)
	_, err := instances.Delete(r.key)
	return err
}

// ServeHTTP routes a request to the relay endpoint it addresses, or to next.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request, next caddyhttp.Handler) error {
	return r.route(w, req, next)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Relay)(nil)
	_ caddy.Validator             = (*Relay)(nil)
	_ caddy.CleanerUpper          = (*Relay)(nil)
	_ caddyhttp.MiddlewareHandler = (*Relay)(nil)
)
