package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries sha256=<hex>: the HMAC-SHA256 of the body, or of "<ts>.<body>" when a
// timestamp header is configured.
const SignatureHeader = "X-Relay-Signature"

const signaturePrefix = "sha256="

// authenticator checks a webhook's signature or bearer token. It holds secrets: nothing it
// returns or logs contains them or what the client sent.
type authenticator struct {
	insecure  bool
	secret    []byte   // HMAC key; nil when signatures are off
	bearer    [32]byte // SHA-256 of the token, so comparisons take the same time whatever its length
	hasBearer bool
	tsHeader  string // signed timestamp header; "" when off
	tolerance time.Duration
	now       func() time.Time
}

func newAuthenticator(c Config) *authenticator {
	a := &authenticator{insecure: c.Insecure, tsHeader: c.TimestampHeader, tolerance: c.Tolerance, now: c.Now}
	if c.Secret != "" {
		a.secret = []byte(c.Secret)
	}
	if c.Bearer != "" {
		a.bearer, a.hasBearer = sha256.Sum256([]byte(c.Bearer)), true
	}
	return a
}

// verify accepts the request when any configured scheme accepts it; otherwise it answers 401
// with every scheme's reason, so a sender can tell a missing header from a wrong secret.
func (a *authenticator) verify(h http.Header, body []byte) *rejection {
	if a.insecure {
		return nil
	}
	var reasons []string
	if a.hasBearer {
		reason := a.checkBearer(h)
		if reason == "" {
			return nil
		}
		reasons = append(reasons, reason)
	}
	if a.secret != nil {
		reason := a.checkSignature(h, body)
		if reason == "" {
			return nil
		}
		reasons = append(reasons, reason)
	}
	return reject(http.StatusUnauthorized, "unauthorized: %s", strings.Join(reasons, "; "))
}

func (a *authenticator) checkBearer(h http.Header) string {
	auth := h.Get("Authorization")
	scheme, token, ok := strings.Cut(strings.TrimSpace(auth), " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return "missing Authorization: Bearer token"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], a.bearer[:]) != 1 {
		return "bearer token does not match"
	}
	return ""
}

func (a *authenticator) checkSignature(h http.Header, body []byte) string {
	sig := strings.TrimSpace(h.Get(SignatureHeader))
	if sig == "" {
		return "missing " + SignatureHeader + " header"
	}
	if len(sig) < len(signaturePrefix) || !strings.EqualFold(sig[:len(signaturePrefix)], signaturePrefix) {
		return SignatureHeader + " must be sha256=<hex of HMAC-SHA256>"
	}
	got, err := hex.DecodeString(sig[len(signaturePrefix):])
	if err != nil || len(got) != sha256.Size {
		return SignatureHeader + " must be sha256=<64 hex digits>"
	}
	var ts string
	if a.tsHeader != "" {
		if ts = strings.TrimSpace(h.Get(a.tsHeader)); ts == "" {
			return "missing " + a.tsHeader + " header (unix seconds, signed as <timestamp>.<body>)"
		}
	}
	if !hmac.Equal(got, a.sign(ts, body)) {
		return "signature does not match the body"
	}
	if ts != "" {
		return a.checkTimestamp(ts)
	}
	return ""
}

// sign computes the expected MAC: of the body alone, or of "<ts>.<body>" when timestamps are on.
func (a *authenticator) sign(ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, a.secret)
	if ts != "" {
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
	}
	mac.Write(body)
	return mac.Sum(nil)
}

// checkTimestamp runs after the signature matched, so it only tells a genuine sender that its
// clock or its retry is off.
func (a *authenticator) checkTimestamp(ts string) string {
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return a.tsHeader + " must be unix seconds"
	}
	skew := a.now().Sub(time.Unix(secs, 0))
	if skew > a.tolerance || skew < -a.tolerance {
		return fmt.Sprintf("%s is %s away from the relay's clock (tolerance %s)", a.tsHeader, skew.Abs().Truncate(time.Second), a.tolerance)
	}
	return ""
}
