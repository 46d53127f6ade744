package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// origins is the allowed_origins policy. Browsers send Origin on cross-origin requests and on every
// WebSocket handshake; requests without one (servers, curl) are not browsers and pass.
type origins struct {
	any  bool            // "*" was written
	list map[string]bool // normalised scheme://host[:port]
}

func parseOrigins(in []string) (origins, error) {
	o := origins{list: map[string]bool{}}
	for _, s := range in {
		if s == "*" {
			o.any = true
			continue
		}
		n, err := normaliseOrigin(s)
		if err != nil {
			return o, err
		}
		o.list[n] = true
	}
	return o, nil
}

func normaliseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("%q is not an origin like https://app.example.com[:port], or *", s)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// allowed reports whether r's Origin may use the relay: no Origin, the same origin, or a listed one.
func (o origins) allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || o.any {
		return true
	}
	if u, err := url.Parse(origin); err == nil && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	n, err := normaliseOrigin(origin)
	return err == nil && o.list[n]
}

// cors adds the response headers that let an allowed cross-origin page read the answer.
func (o origins) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if o.any && !o.listed(origin) {
		// A wildcard never carries credentials (cookies, tokens in cookies) to arbitrary sites.
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
}

func (o origins) listed(origin string) bool {
	n, err := normaliseOrigin(origin)
	return err == nil && o.list[n]
}

// preflight answers a CORS preflight for a relay endpoint.
func (o origins) preflight(w http.ResponseWriter, r *http.Request) {
	if !o.allowed(r) {
		refuseOrigin(w, r)
		return
	}
	o.cors(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, X-Session-Id, X-Relay-Signature")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}
