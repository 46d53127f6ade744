// Package tokens mints and verifies subscriber tokens: an HMAC-SHA256-signed claim that the bearer
// may watch one import session until an expiry. The backend that starts an import mints one with
// the relay's subscriber_secret and hands it to its own page; the relay verifies it on every
// transport. Backends written in Go import this package; others need a few lines (see the README).
//
// A token is base64url(payload) "." base64url(HMAC-SHA256(secret, base64url(payload))), where the
// payload is the JSON {"sid": <session ID>, "exp": <unix seconds>}; base64url has no padding.
package tokens

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors Verify returns; each says why a token does not grant a session.
var (
	ErrMissing      = errors.New("subscriber token missing")
	ErrMalformed    = errors.New("subscriber token malformed")
	ErrBadSignature = errors.New("subscriber token signature does not match")
	ErrExpired      = errors.New("subscriber token expired")
	ErrWrongSession = errors.New("subscriber token is for another session")
)

type claims struct {
	Session string `json:"sid"`
	Expiry  int64  `json:"exp"`
}

var b64 = base64.RawURLEncoding

// Mint returns a token granting session until exp.
func Mint(secret []byte, session string, exp time.Time) string {
	payload, _ := json.Marshal(claims{Session: session, Expiry: exp.Unix()}) // plain strings and ints always marshal
	p := b64.EncodeToString(payload)
	return p + "." + b64.EncodeToString(sign(secret, p))
}

// Verify checks that token grants session at now.
func Verify(secret []byte, token, session string, now time.Time) error {
	if token == "" {
		return ErrMissing
	}
	p, s, ok := strings.Cut(token, ".")
	if !ok || p == "" || s == "" {
		return ErrMalformed
	}
	sig, err := b64.DecodeString(s)
	if err != nil {
		return ErrMalformed
	}
	// Constant-time: the comparison must not tell an attacker how much of a guess was right.
	if !hmac.Equal(sig, sign(secret, p)) {
		return ErrBadSignature
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return ErrMalformed
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Session == "" || c.Expiry == 0 {
		return ErrMalformed
	}
	if c.Session != session {
		return ErrWrongSession
	}
	if !now.Before(time.Unix(c.Expiry, 0)) {
		return fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

func sign(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
