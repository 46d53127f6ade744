package socketio

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestOriginGate(t *testing.T) {
	tr := newTestRelay(t, Config{})
	cases := []struct {
		origin string
		status int
	}{
		{"", http.StatusOK},     // not a browser, or a same-origin GET
		{tr.url, http.StatusOK}, // the relay's own origin
		{"https://evil.example", http.StatusForbidden},
		{"null", http.StatusForbidden},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.origin != "" {
			h.Set("Origin", c.origin)
		}
		if resp := pollingHandshake(t, tr.url, "4", h); resp.StatusCode != c.status {
			t.Errorf("Origin %q: %d, want %d", c.origin, resp.StatusCode, c.status)
		}
	}

	// A reload can allow another origin; the answer then carries the CORS headers.
	if err := tr.sio.SetConfig(Config{CORSOrigins: []string{"https://app.example"}}); err != nil {
		t.Fatal(err)
	}
	resp := pollingHandshake(t, tr.url, "4", http.Header{"Origin": {"https://app.example"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := pollingHandshake(t, tr.url, "4", http.Header{"Origin": {"https://evil.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("other origin after reload: %d, want 403", resp.StatusCode)
	}

	if err := tr.sio.SetConfig(Config{CORSOrigins: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if resp := pollingHandshake(t, tr.url, "4", http.Header{"Origin": {"https://evil.example"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("any origin with *: %d, want 200", resp.StatusCode)
	}
}

func TestEIO3HandshakeFollowsAllowEIO3(t *testing.T) {
	tr := newTestRelay(t, Config{})
	resp := pollingHandshake(t, tr.url, "3", nil)
	var body struct {
		Code    int
		Message string
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || body.Code != 5 || !strings.Contains(body.Message, "allow_eio3") {
		t.Fatalf("EIO3 refused: %d %+v, want 400 with code 5 naming allow_eio3", resp.StatusCode, body)
	}

	if err := tr.sio.SetConfig(Config{AllowEIO3: true}); err != nil {
		t.Fatal(err)
	}
	resp = pollingHandshake(t, tr.url, "3", nil)
	b, _ := io.ReadAll(resp.Body)
	// An Engine.IO 3 payload: <length>:<packet>, the packet being open (0) with the sid.
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `:0{"`) {
		t.Fatalf("EIO3 allowed: %d %q", resp.StatusCode, b)
	}
}
