package caddymodule

import (
	"net/http"
	"strings"
	"time"

	"github.com/progress-relay/progress-relay/internal/reply"
	"github.com/progress-relay/progress-relay/tokens"
)

// TokenCookie is the cookie a page may carry its subscriber token in.
const TokenCookie = "progress_relay_token"

// now is the clock for token expiry; tests replace it.
var now = time.Now

// authorize checks a subscriber token for session; without subscriber_secret every subscription is
// allowed.
func (r *Relay) authorize(session, token string) error {
	if r.SubscriberSecret == "" {
		return nil
	}
	return tokens.Verify([]byte(r.SubscriberSecret), token, session, now())
}

// requestToken finds a subscriber token on an HTTP request: Authorization: Bearer, the cookie, or
// ?token= (EventSource cannot set headers).
func requestToken(req *http.Request) string {
	if auth := req.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	if c, err := req.Cookie(TokenCookie); err == nil && c.Value != "" {
		return c.Value
	}
	return req.URL.Query().Get("token")
}

// refuseToken answers 401 with the reason; the token itself is never echoed or logged.
func refuseToken(w http.ResponseWriter, err error) {
	countRefused("token")
	w.Header().Set("WWW-Authenticate", `Bearer realm="progress_relay"`)
	reply.Error(w, http.StatusUnauthorized, err.Error())
}
