package tokens

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

var (
	secret = []byte("subscriber-secret")
	now    = time.Unix(1_800_000_000, 0)
)

func TestMintedTokenGrantsItsSessionUntilExpiry(t *testing.T) {
	tok := Mint(secret, "import-42", now.Add(time.Hour))
	if err := Verify(secret, tok, "import-42", now); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	if err := Verify(secret, tok, "import-42", now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
}

func TestRefusals(t *testing.T) {
	good := Mint(secret, "s1", now.Add(time.Minute))
	p, s, _ := strings.Cut(good, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"sid":"s2","exp":1900000000}`)) + "." + s
	flipped := p + "." + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, s[:1]) + s[1:]
	for _, tc := range []struct {
		name, token, session string
		secret               []byte
		want                 error
	}{
		{"missing", "", "s1", secret, ErrMissing},
		{"no dot", "abc", "s1", secret, ErrMalformed},
		{"bad base64 signature", p + ".!!!", "s1", secret, ErrMalformed},
		{"other secret", good, "s1", []byte("other"), ErrBadSignature},
		{"payload swapped", forged, "s2", secret, ErrBadSignature},
		{"signature altered", flipped, "s1", secret, ErrBadSignature},
		{"wrong session", good, "s2", secret, ErrWrongSession},
	} {
		if err := Verify(tc.secret, tc.token, tc.session, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSignedGarbagePayloadIsMalformed(t *testing.T) {
	p := base64.RawURLEncoding.EncodeToString([]byte(`not json`))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(p))
	tok := p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	if err := Verify(secret, tok, "s1", now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("%v, want ErrMalformed", err)
	}
}

// The README shows how a Node.js backend mints a token; this runs that very snippet.
func TestNodeMintedTokenVerifies(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	script := `
const crypto = require('crypto');
function mintToken(secret, sessionId, ttlSeconds) {
  const payload = Buffer.from(JSON.stringify({ sid: sessionId, exp: Math.floor(Date.now() / 1000) + ttlSeconds })).toString('base64url');
  const sig = crypto.createHmac('sha256', secret).update(payload).digest('base64url');
  return payload + '.' + sig;
}
process.stdout.write(mintToken('subscriber-secret', 'import-7', 600));
`
	out, err := exec.Command(node, "-e", script).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	if err := Verify(secret, string(out), "import-7", time.Now()); err != nil {
		t.Fatalf("Node-minted token %q refused: %v", out, err)
	}
}
