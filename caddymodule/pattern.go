package caddymodule

import (
	"errors"
	"strings"
)

const sessionPlaceholder = "{session}"

// pattern is an endpoint path, optionally with one {session} segment.
type pattern struct {
	off            bool
	exact          string // the whole path when there is no placeholder
	prefix, suffix string // around the placeholder
	placeholder    bool
}

func parsePattern(s string) (pattern, error) {
	if s == Off {
		return pattern{off: true}, nil
	}
	if !strings.HasPrefix(s, "/") {
		return pattern{}, errors.New("path " + s + " must start with /")
	}
	switch strings.Count(s, sessionPlaceholder) {
	case 0:
		return pattern{exact: s}, nil
	case 1:
		i := strings.Index(s, sessionPlaceholder)
		return pattern{placeholder: true, prefix: s[:i], suffix: s[i+len(sessionPlaceholder):]}, nil
	}
	return pattern{}, errors.New("path " + s + " has more than one {session}")
}

// match reports whether path is this endpoint and returns the {session} segment ("" when the
// pattern has none, or when the segment is empty: the caller refuses that with a clear error).
func (p pattern) match(path string) (string, bool) {
	switch {
	case p.off:
		return "", false
	case !p.placeholder:
		return "", path == p.exact
	}
	if len(path) < len(p.prefix)+len(p.suffix) || !strings.HasPrefix(path, p.prefix) || !strings.HasSuffix(path, p.suffix) {
		return "", false
	}
	session := path[len(p.prefix) : len(path)-len(p.suffix)]
	if strings.Contains(session, "/") {
		return "", false
	}
	return session, true
}
