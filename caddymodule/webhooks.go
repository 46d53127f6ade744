package caddymodule

import (
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/ingest/webhook"
)

// webhookRoute is one configured webhook endpoint.
type webhookRoute struct {
	pattern pattern
	handler *webhook.Handler
	forward bool
}

func newWebhookRoute(wh *Webhook, inst *instance, log *zap.Logger) (*webhookRoute, error) {
	p, err := parsePattern(wh.Path)
	if err != nil {
		return nil, err
	}
	h, err := webhook.New(webhook.Config{
		Secret:          wh.Secret,
		Bearer:          wh.Bearer,
		Insecure:        wh.Insecure,
		SessionField:    wh.SessionField,
		TypeField:       wh.TypeField,
		IDField:         wh.IDField,
		MaxBody:         wh.MaxBody,
		MaxEvents:       wh.MaxEvents,
		TimestampHeader: wh.TimestampHeader,
		RatePerSecond:   wh.Rate,
		RateBurst:       wh.Burst,
		ClientIP:        clientIP,
		Observer:        webhookLog{log: log.With(zap.String("webhook", wh.Path))},
	}, inst.broker)
	if err != nil {
		return nil, err
	}
	return &webhookRoute{pattern: p, handler: h, forward: wh.Forward}, nil
}

func (wr *webhookRoute) serve(w http.ResponseWriter, req *http.Request, session string, next caddyhttp.Handler) error {
	if wr.forward {
		return wr.handler.Handle(w, req, session, next)
	}
	return wr.handler.Handle(w, req, session, nil)
}

// clientIP is the rate-limit key: Caddy's client IP, which honours trusted_proxies.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// webhookLog logs refused webhooks; the reasons never hold secrets.
type webhookLog struct{ log *zap.Logger }

func (l webhookLog) Accepted(_ *http.Request, accepted, _ int) { countEventsIn("webhook")(accepted) }

func (l webhookLog) Rejected(r *http.Request, status int, reason string) {
	countWebhookRejected(status)
	lvl := l.log.Debug
	if status >= 500 {
		lvl = l.log.Error
	} else if status == http.StatusUnauthorized {
		lvl = l.log.Warn
	}
	lvl("webhook refused", zap.Int("status", status), zap.String("reason", reason),
		zap.String("remote", r.RemoteAddr))
}
