package caddymodule

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// validateSources checks the broker and the SSE sources.
func (r *Relay) validateSources() error {
	var errs []error
	if b := r.Broker; b != nil {
		switch b.Type {
		case "", "memory":
			if b.URL != "" {
				errs = append(errs, errors.New("broker memory takes no URL"))
			}
		case "redis":
			if b.URL == "" {
				errs = append(errs, errors.New("broker redis needs a URL like redis://127.0.0.1:6379/0"))
			}
			if strings.ContainsAny(b.Prefix, "{}") {
				errs = append(errs, fmt.Errorf("broker prefix %q must not contain { or }", b.Prefix))
			}
		default:
			errs = append(errs, fmt.Errorf("broker %q is not memory or redis", b.Type))
		}
		if b.HistoryTTL < 0 {
			errs = append(errs, errors.New("broker history_ttl must not be negative"))
		}
	}
	if u := r.UpstreamSSE; u != nil {
		parsed, err := url.Parse(strings.ReplaceAll(u.URL, sessionPlaceholder, "s"))
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			errs = append(errs, fmt.Errorf("upstream_sse: %q is not an http(s) URL", u.URL))
		}
		if !strings.Contains(u.URL, sessionPlaceholder) {
			errs = append(errs, fmt.Errorf("upstream_sse: URL %q needs {session} where the session ID goes", u.URL))
		}
		if u.Idle < 0 || u.Retry < 0 || u.MaxRetry < 0 || u.MaxEvent < 0 {
			errs = append(errs, errors.New("upstream_sse: durations and sizes must not be negative"))
		}
	}
	if t := r.TeeSSE; t != nil {
		p, err := parsePattern(t.Path)
		if err != nil || !p.placeholder {
			errs = append(errs, fmt.Errorf("tee_sse: path %q must start with / and hold {session}", t.Path))
		}
		if t.MaxEvent < 0 {
			errs = append(errs, errors.New("tee_sse: max_event must not be negative"))
		}
	}
	return errors.Join(errs...)
}
