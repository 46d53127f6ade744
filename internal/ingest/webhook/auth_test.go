package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
)

// RFC 4231, test case 2: an HMAC-SHA256 computed by someone else.
func TestSignatureMatchesRFC4231(t *testing.T) {
	a := newAuthenticator(Config{Secret: "Jefe"})
	body := []byte("what do ya want for nothing?")
	for _, sig := range []string{
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		"SHA256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843",
	} {
		if rej := a.verify(http.Header{SignatureHeader: {sig}}, body); rej != nil {
			t.Errorf("%s refused: %s", sig, rej.msg)
		}
	}
	for sig, want := range map[string]string{
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3844": "does not match",
		"sha256=5bdcc146":       "64 hex digits",
		"sha1=5bdcc146bf607542": "must be sha256=",
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843": "must be sha256=",
	} {
		rej := a.verify(http.Header{SignatureHeader: {sig}}, body)
		if rej == nil || rej.status != http.StatusUnauthorized || !strings.Contains(rej.msg, want) {
			t.Errorf("%s: got %+v, want 401 saying %q", sig, rej, want)
		}
	}
}

// The signature below was computed with Python's hmac module, not with this package's code.
func TestWebhookSignedIndependentlyIsAccepted(t *testing.T) {
	f := newFixture(t, Config{}, broker.Defaults(), nil)
	body := `{"sessionId":"independent","done":1}`
	sig := "sha256=dd3bf30344d4a8a6d52c71130e055b7b39cbef94c371e1b8f705ce48f9676b71"
	wantAccepted(t, f.post(body, SignatureHeader, sig), 1, 0)
	wantError(t, f.post(body+" ", SignatureHeader, sig), http.StatusUnauthorized, "signature does not match")
}

func TestEitherSchemeIsEnough(t *testing.T) {
	f := newFixture(t, Config{Secret: testSecret, Bearer: "tok-123"}, broker.Defaults(), nil)
	body := `{"sessionId":"either"}`
	wantAccepted(t, f.post(body), 1, 0) // signed
	wantAccepted(t, f.post(body, SignatureHeader, "", "Authorization", "bearer tok-123"), 1, 0)
	wantAccepted(t, f.post(body, SignatureHeader, "sha256=00", "Authorization", "Bearer tok-123"), 1, 0)
	rep := f.post(body, SignatureHeader, "", "Authorization", "Bearer tok-1234")
	wantError(t, rep, http.StatusUnauthorized, "bearer token does not match; missing X-Relay-Signature header")
	if strings.Contains(rep.body, "tok-123") {
		t.Errorf("answer echoes the token: %s", rep.body)
	}
	wantError(t, f.post(body, SignatureHeader, ""), http.StatusUnauthorized, "missing Authorization: Bearer token")
}

func TestTimestampIsSignedAndBoundsReplay(t *testing.T) {
	clk := newClock()
	f := newFixture(t, Config{TimestampHeader: "X-Relay-Timestamp", Tolerance: time.Minute, Now: clk.Now}, broker.Defaults(), nil)
	body := `{"sessionId":"ts"}`
	signed := func(ts string) []string {
		return []string{"X-Relay-Timestamp", ts, SignatureHeader, sign(testSecret, ts+"."+body)}
	}
	now := strconv.FormatInt(clk.Now().Unix(), 10)
	wantAccepted(t, f.post(body, signed(now)...), 1, 0)

	// A replay within the tolerance passes (the ID field is what drops repeats)...
	clk.advance(59 * time.Second)
	wantAccepted(t, f.post(body, signed(now)...), 1, 0)
	// ...and after it, not.
	clk.advance(2 * time.Second)
	wantError(t, f.post(body, signed(now)...), http.StatusUnauthorized, "is 1m1s away from the relay's clock (tolerance 1m0s)")

	future := strconv.FormatInt(clk.Now().Add(2*time.Minute).Unix(), 10)
	wantError(t, f.post(body, signed(future)...), http.StatusUnauthorized, "2m0s away")

	fresh := strconv.FormatInt(clk.Now().Unix(), 10)
	wantError(t, f.post(body, "X-Relay-Timestamp", fresh), http.StatusUnauthorized, "signature does not match") // body alone signed
	wantError(t, f.post(body, append(signed(now), "X-Relay-Timestamp", fresh)...), http.StatusUnauthorized, "signature does not match")
	wantError(t, f.post(body), http.StatusUnauthorized, "missing X-Relay-Timestamp header")
	wantError(t, f.post(body, signed("soon")...), http.StatusUnauthorized, "must be unix seconds")
}

func TestNewRefusesUnclearAuthentication(t *testing.T) {
	_, err := New(Config{}, broker.NewMemory(broker.Defaults()))
	if !errors.Is(err, ErrNoAuth) {
		t.Fatalf("New without auth: %v, want ErrNoAuth", err)
	}
	for _, word := range []string{`"secret`, `"bearer`, `"insecure"`} {
		if !strings.Contains(err.Error(), word) {
			t.Errorf("error %q does not name %s", err, word)
		}
	}
	pub := broker.NewMemory(broker.Defaults())
	for _, tc := range []struct {
		name string
		cfg  Config
		pub  Publisher
	}{
		{"insecure with secret", Config{Insecure: true, Secret: "x"}, pub},
		{"timestamp without secret", Config{Bearer: "x", TimestampHeader: "X-Ts"}, pub},
		{"negative max body", Config{Secret: "x", MaxBody: -1}, pub},
		{"negative rate", Config{Secret: "x", RatePerSecond: -1}, pub},
		{"no publisher", Config{Secret: "x"}, nil},
	} {
		if _, err := New(tc.cfg, tc.pub); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
}

func TestInsecureAcceptsUnsignedWebhooks(t *testing.T) {
	f := newFixture(t, Config{Insecure: true}, broker.Defaults(), nil)
	wantAccepted(t, f.post(`{"sessionId":"open"}`, SignatureHeader, ""), 1, 0)
}
