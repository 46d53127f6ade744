package event

import (
	"errors"
	"fmt"
)

// MaxSessionLen is the longest session ID accepted.
const MaxSessionLen = 128

// ErrBadSession is wrapped by every session ID validation error.
var ErrBadSession = errors.New("invalid session ID")

// ValidSession checks a session ID: 1–128 characters of [A-Za-z0-9._:-], and not "." or "..",
// which cannot survive path normalisation in a URL.
func ValidSession(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrBadSession)
	}
	if len(id) > MaxSessionLen {
		return fmt.Errorf("%w: longer than %d characters", ErrBadSession, MaxSessionLen)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%w: %q is not allowed", ErrBadSession, id)
	}
	for i := 0; i < len(id); i++ {
		if !sessionChar(id[i]) {
			return fmt.Errorf("%w: character %q at position %d is not one of [A-Za-z0-9._:-]", ErrBadSession, id[i], i)
		}
	}
	return nil
}

func sessionChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '-'
}
