package caddymodule

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	r := new(Relay)
	err := r.UnmarshalCaddyfile(h.Dispenser)
	return r, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax (defaults shown):
//
//	progress_relay [<matcher>] {
//	    websocket   /                                # seed-protocol WebSocket; off: no raw WebSocket
//	    subscribe   /api/import/progress/{session}   # SSE, WebSocket or long-poll by request
//	    sse         on                               # off: SSE requests pass to the next handler
//	    poll        on                               # off: long-polls pass to the next handler
//	    health      /relay/health
//	    test_page   /test-socket-io.html
//	    client_js   /progress-relay.js               # and its ES module at .mjs
//	    import_endpoint /api/import                  # where the test page posts a CSV
//	    socketio    /socket.io/ {                    # "socketio off" disables it
//	        allow_eio3    on                         # serve socket.io-client 2.x too
//	        event_names   progress=progress complete=complete error=error
//	        ping_interval 25s
//	        ping_timeout  20s
//	        cors_origins  <origin...>                # default: allowed_origins
//	        max_sessions_per_socket 16
//	    }
//	    webhook     /hooks/progress {                # may be repeated
//	        secret           <shared secret>         # X-Relay-Signature: sha256=<hex HMAC of body>
//	        bearer           <token>                 # Authorization: Bearer <token>
//	        insecure                                 # neither: accept unsigned webhooks on purpose
//	        session_field    sessionId
//	        type_field       type
//	        id_field         <gjson path>            # duplicate suppression; off by default
//	        max_body         1MiB
//	        max_events       1000
//	        timestamp_header <header>                # signed "<ts>.<body>", bounds replays
//	        rate             <events/s> [<burst>]    # per client IP; 429 past it
//	        forward                                  # then pass the webhook to the next handler
//	    }
//	    history         100
//	    session_ttl     10m
//	    idle_ttl        1h
//	    terminal        complete error
//	    queue_size      256
//	    write_timeout   10s
//	    max_sessions    100000
//	    max_subscribers 100000
//	    max_subscribers_per_session <n>              # default: no limit
//	    allowed_origins <origin...>                  # default: same origin only
//	    subscriber_secret <secret>                   # require signed subscriber tokens
//	    broker memory | redis <url> {                # default memory
//	        prefix      relay:
//	        history_ttl 1h
//	    }
//	    upstream_sse <url with {session}> {          # pull the backend's SSE per watched session
//	        header     <name> <value>                # may be repeated
//	        idle       30s
//	        max_event  1MiB
//	        type_field type
//	        retry      1s
//	        max_retry  30s
//	    }
//	    tee_sse <path with {session}> {              # publish SSE the next handler proxies
//	        max_event  1MiB
//	        type_field type
//	    }
//	}
func (r *Relay) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if name != "webhook" && seen[name] {
			return d.Errf("%s given more than once", name)
		}
		seen[name] = true
		if err := r.unmarshalSubdirective(d, name); err != nil {
			return err
		}
	}
	return nil
}

func (r *Relay) unmarshalSubdirective(d *caddyfile.Dispenser, name string) error {
	switch name {
	case "websocket":
		return pathArg(d, &r.WebSocket)
	case "subscribe":
		return pathArg(d, &r.Subscribe)
	case "health":
		return pathArg(d, &r.Health)
	case "sse":
		return onOffArg(d, &r.SSE)
	case "poll":
		return onOffArg(d, &r.Poll)
	case "test_page":
		return pathArg(d, &r.TestPage)
	case "client_js":
		return pathArg(d, &r.ClientJS)
	case "import_endpoint":
		return pathArg(d, &r.ImportEndpoint)
	case "webhook":
		wh, err := unmarshalWebhook(d)
		if err != nil {
			return err
		}
		r.Webhooks = append(r.Webhooks, wh)
		return nil
	case "history":
		return intArg(d, &r.History, 1)
	case "session_ttl":
		return durationArg(d, &r.SessionTTL)
	case "idle_ttl":
		return durationArg(d, &r.IdleTTL)
	case "terminal":
		r.Terminal = d.RemainingArgs()
		if len(r.Terminal) == 0 {
			return d.Errf("terminal needs at least one event type")
		}
		return nil
	case "queue_size":
		return intArg(d, &r.QueueSize, 1)
	case "write_timeout":
		return durationArg(d, &r.WriteTimeout)
	case "max_sessions":
		return intArg(d, &r.MaxSessions, 1)
	case "max_subscribers":
		return intArg(d, &r.MaxSubscribers, 1)
	case "max_subscribers_per_session":
		return intArg(d, &r.MaxSubscribersPerSession, 1)
	case "subscriber_secret":
		return stringArg(d, &r.SubscriberSecret)
	case "socketio":
		s, err := unmarshalSocketIO(d)
		r.SocketIO = s
		return err
	case "broker":
		b, err := unmarshalBroker(d)
		r.Broker = b
		return err
	case "upstream_sse":
		u, err := unmarshalUpstreamSSE(d)
		r.UpstreamSSE = u
		return err
	case "tee_sse":
		t, err := unmarshalTeeSSE(d)
		r.TeeSSE = t
		return err
	case "allowed_origins":
		r.AllowedOrigins = d.RemainingArgs()
		if len(r.AllowedOrigins) == 0 {
			return d.Errf("allowed_origins needs at least one origin (or *)")
		}
		for _, o := range r.AllowedOrigins {
			if o != "*" {
				if _, err := normaliseOrigin(o); err != nil {
					return d.Errf("allowed_origins: %v", err)
				}
			}
		}
		return nil
	}
	return d.Errf("unknown subdirective %q", name)
}

func unmarshalWebhook(d *caddyfile.Dispenser) (*Webhook, error) {
	wh := new(Webhook)
	if err := pathArg(d, &wh.Path); err != nil {
		return nil, err
	}
	if wh.Path == Off {
		return nil, d.Errf("webhook path must start with /")
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("webhook %s given more than once", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "secret":
			err = stringArg(d, &wh.Secret)
		case "bearer":
			err = stringArg(d, &wh.Bearer)
		case "insecure":
			wh.Insecure, err = true, noArgs(d)
		case "session_field":
			err = stringArg(d, &wh.SessionField)
		case "type_field":
			err = stringArg(d, &wh.TypeField)
		case "id_field":
			err = stringArg(d, &wh.IDField)
		case "max_body":
			err = sizeArg(d, &wh.MaxBody)
		case "max_events":
			err = intArg(d, &wh.MaxEvents, 1)
		case "timestamp_header":
			err = stringArg(d, &wh.TimestampHeader)
		case "rate":
			err = rateArgs(d, wh)
		case "forward":
			wh.Forward, err = true, noArgs(d)
		default:
			err = d.Errf("unknown webhook subdirective %q", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if !wh.Insecure && wh.Secret == "" && wh.Bearer == "" {
		return nil, d.Errf(`webhook %s has no authentication: add "secret <shared secret>" or "bearer <token>" to its block, or "insecure" to accept unsigned webhooks on purpose`, wh.Path)
	}
	if wh.Insecure && (wh.Secret != "" || wh.Bearer != "") {
		return nil, d.Errf("webhook %s: insecure cannot be combined with secret or bearer", wh.Path)
	}
	return wh, nil
}

func unmarshalSocketIO(d *caddyfile.Dispenser) (*SocketIO, error) {
	s := new(SocketIO)
	if d.NextArg() {
		s.Path = d.Val()
		if s.Path != Off && !strings.HasPrefix(s.Path, "/") {
			return nil, d.Errf("socketio: path %q must start with / (or be off)", s.Path)
		}
		if d.NextArg() {
			return nil, d.Errf("socketio takes one path, got another: %q", d.Val())
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if s.Path == Off {
			return nil, d.Errf("socketio off takes no options")
		}
		var err error
		switch d.Val() {
		case "allow_eio3":
			var v string
			if err = onOffArg(d, &v); err == nil {
				on := v == "on"
				s.AllowEIO3 = &on
			}
		case "event_names":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Errf("event_names takes <type>=<name> pairs")
			}
			s.EventNames = map[string]string{}
			for _, a := range args {
				typ, name, ok := strings.Cut(a, "=")
				if !ok || typ == "" || name == "" {
					return nil, d.Errf("event_names: %q is not <type>=<name>", a)
				}
				s.EventNames[typ] = name
			}
		case "ping_interval":
			err = durationArg(d, &s.PingInterval)
		case "ping_timeout":
			err = durationArg(d, &s.PingTimeout)
		case "cors_origins":
			s.CORSOrigins = d.RemainingArgs()
			if len(s.CORSOrigins) == 0 {
				return nil, d.Errf("cors_origins needs at least one origin (or *)")
			}
		case "max_sessions_per_socket":
			err = intArg(d, &s.MaxSessionsPerSocket, 1)
		default:
			err = d.Errf("unknown socketio option %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func unmarshalBroker(d *caddyfile.Dispenser) (*BrokerConfig, error) {
	b := new(BrokerConfig)
	if !d.NextArg() {
		return nil, d.Errf("broker needs a type: memory or redis <url>")
	}
	b.Type = d.Val()
	switch b.Type {
	case "memory":
		if d.NextArg() {
			return nil, d.Errf("broker memory takes no arguments")
		}
	case "redis":
		if !d.NextArg() {
			return nil, d.Errf("broker redis needs a URL like redis://127.0.0.1:6379/0")
		}
		b.URL = d.Val()
		if d.NextArg() {
			return nil, d.Errf("broker redis takes one URL, got another: %q", d.Val())
		}
	default:
		return nil, d.Errf("broker %q is not memory or redis", b.Type)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if b.Type != "redis" {
			return nil, d.Errf("broker memory takes no options")
		}
		var err error
		switch d.Val() {
		case "prefix":
			err = stringArg(d, &b.Prefix)
		case "history_ttl":
			err = durationArg(d, &b.HistoryTTL)
		default:
			err = d.Errf("unknown broker option %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func unmarshalUpstreamSSE(d *caddyfile.Dispenser) (*UpstreamSSE, error) {
	u := new(UpstreamSSE)
	if err := stringArg(d, &u.URL); err != nil {
		return nil, err
	}
	if !strings.Contains(u.URL, sessionPlaceholder) {
		return nil, d.Errf("upstream_sse: URL %q needs {session} where the session ID goes", u.URL)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "header":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return nil, d.Errf("header takes <name> <value>")
			}
			if u.Header == nil {
				u.Header = http.Header{}
			}
			u.Header.Add(args[0], args[1])
		case "idle":
			err = durationArg(d, &u.Idle)
		case "max_event":
			err = sizeIntArg(d, &u.MaxEvent)
		case "type_field":
			err = stringArg(d, &u.TypeField)
		case "retry":
			err = durationArg(d, &u.Retry)
		case "max_retry":
			err = durationArg(d, &u.MaxRetry)
		default:
			err = d.Errf("unknown upstream_sse option %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return u, nil
}

func unmarshalTeeSSE(d *caddyfile.Dispenser) (*TeeSSE, error) {
	t := new(TeeSSE)
	if err := pathArg(d, &t.Path); err != nil {
		return nil, err
	}
	if !strings.Contains(t.Path, sessionPlaceholder) {
		return nil, d.Errf("tee_sse: path %q needs {session}", t.Path)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "max_event":
			err = sizeIntArg(d, &t.MaxEvent)
		case "type_field":
			err = stringArg(d, &t.TypeField)
		default:
			err = d.Errf("unknown tee_sse option %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func sizeIntArg(d *caddyfile.Dispenser, dst *int) error {
	var n int64
	if err := sizeArg(d, &n); err != nil {
		return err
	}
	*dst = int(n)
	return nil
}

func onOffArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if err := stringArg(d, dst); err != nil {
		return err
	}
	if *dst != "on" && *dst != Off {
		return d.Errf("%s: %q is not on or off", name, *dst)
	}
	return nil
}

func noArgs(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.Errf("%s takes no arguments", d.Val())
	}
	return nil
}

func stringArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if !d.NextArg() {
		return d.Errf("%s needs a value", name)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s takes one value, got another: %q", name, d.Val())
	}
	return nil
}

func pathArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if err := stringArg(d, dst); err != nil {
		return err
	}
	if *dst != Off && !strings.HasPrefix(*dst, "/") {
		return d.Errf("%s: path %q must start with / (or be off)", name, *dst)
	}
	if strings.Count(*dst, sessionPlaceholder) > 1 {
		return d.Errf("%s: path %q has more than one {session}", name, *dst)
	}
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int, min int) error {
	name := d.Val()
	var s string
	if err := stringArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min {
		return d.Errf("%s: %q is not a whole number of at least %d", name, s, min)
	}
	*dst = n
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if err := stringArg(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return d.Errf("%s: %q is not a positive duration like 10s, 5m or 1h", name, s)
	}
	*dst = caddy.Duration(v)
	return nil
}

func sizeArg(d *caddyfile.Dispenser, dst *int64) error {
	name := d.Val()
	var s string
	if err := stringArg(d, &s); err != nil {
		return err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<40 {
		return d.Errf("%s: %q is not a size like 64KiB or 1MiB", name, s)
	}
	*dst = int64(n)
	return nil
}

func rateArgs(d *caddyfile.Dispenser, wh *Webhook) error {
	args := d.RemainingArgs()
	if len(args) == 0 || len(args) > 2 {
		return d.Errf("rate takes <events per second> [<burst>]")
	}
	rate, err := strconv.ParseFloat(args[0], 64)
	if err != nil || rate <= 0 || rate != rate {
		return d.Errf("rate: %q is not a positive number of events per second", args[0])
	}
	wh.Rate = rate
	if len(args) == 2 {
		burst, err := strconv.Atoi(args[1])
		if err != nil || burst < 1 {
			return d.Errf("rate: burst %q is not a whole number of at least 1", args[1])
		}
		wh.Burst = burst
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Relay)(nil)
