package webhook

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"time"
)

// Defaults of the contract (DESIGN.md, "Limits and bad input").
const (
	DefaultSessionField = "sessionId"
	DefaultTypeField    = "type"
	DefaultType         = "progress"
	DefaultMaxBody      = 1 << 20
	DefaultMaxEvents    = 1000
	DefaultTolerance    = 5 * time.Minute
)

// Config is one webhook endpoint's settings. The zero value plus Secret, Bearer or Insecure is a
// working configuration; New fills in the defaults.
type Config struct {
	// Secret enables HMAC-SHA256 signatures of the raw body in X-Relay-Signature: sha256=<hex>.
	Secret string
	// Bearer enables Authorization: Bearer <token>. With Secret too, either one valid is enough.
	Bearer string
	// Insecure accepts unauthenticated webhooks. It must be set explicitly and excludes Secret/Bearer.
	Insecure bool

	// SessionField is the gjson path of the session ID in each event (default "sessionId").
	// Events without it take the X-Session-Id header, then the {session} of the webhook path.
	SessionField string
	// TypeField is the gjson path of the event type (default "type"); missing means "progress".
	TypeField string
	// IDField is the gjson path of the source event ID used to drop duplicates; empty disables it.
	IDField string

	// MaxBody is the largest body accepted, in bytes (default 1 MiB); larger answers 413.
	MaxBody int64
	// MaxEvents is the most events one request may carry (default 1000); more answers 413.
	MaxEvents int

	// TimestampHeader, when set, names a header carrying unix seconds that is signed with the body
	// ("<ts>.<body>"), so that a captured webhook cannot be replayed after Tolerance. Needs Secret.
	TimestampHeader string
	// Tolerance is how far the timestamp may be from the server's clock (default 5m).
	Tolerance time.Duration

	// RatePerSecond limits events per second from one client IP; 0 disables the limit.
	RatePerSecond float64
	// RateBurst is how many events a client may send at once (default: one second's worth, at least 1).
	RateBurst int

	// ClientIP returns the key the rate limit counts by. Default: the host of RemoteAddr. Behind
	// trusted proxies the caller supplies the real client address here.
	ClientIP func(*http.Request) string
	// Observer hears about accepted and rejected webhooks; nil is fine.
	Observer Observer
	// Now is the clock for timestamps and the rate limit; nil means time.Now.
	Now func() time.Time
}

// ErrNoAuth is returned by New when no authentication is configured and Insecure is not set.
var ErrNoAuth = errors.New(`webhook has no authentication: add "secret <shared secret>" (HMAC-SHA256 of the body in X-Relay-Signature) ` +
	`or "bearer <token>" (Authorization: Bearer) to the webhook block, or write "insecure" to accept unsigned webhooks on purpose`)

// withDefaults returns c with defaults filled in, or an error naming the setting that is wrong.
func (c Config) withDefaults() (Config, error) {
	auth := c.Secret != "" || c.Bearer != ""
	switch {
	case !auth && !c.Insecure:
		return c, ErrNoAuth
	case auth && c.Insecure:
		return c, errors.New(`webhook: "insecure" contradicts "secret"/"bearer": remove one of them`)
	case c.TimestampHeader != "" && c.Secret == "":
		return c, errors.New("webhook: a timestamp header only bounds replay of signed webhooks: it needs \"secret\"")
	case c.MaxBody < 0, c.MaxEvents < 0, c.Tolerance < 0, c.RatePerSecond < 0, c.RateBurst < 0:
		return c, fmt.Errorf("webhook: max_body, max_events, tolerance and rate limits must not be negative")
	}
	if c.SessionField == "" {
		c.SessionField = DefaultSessionField
	}
	if c.TypeField == "" {
		c.TypeField = DefaultTypeField
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxEvents == 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.RatePerSecond > 0 && c.RateBurst == 0 {
		c.RateBurst = max(1, int(math.Ceil(c.RatePerSecond)))
	}
	if c.ClientIP == nil {
		c.ClientIP = remoteHost
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// remoteHost is the IP of the connection's peer.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
