package socketio

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/hub"
)

// TestNodeClients runs the end-to-end suite in e2e/socketio (real socket.io-client 4.x and 2.x,
// node's test runner) against this package's server behind a Caddy-like writer, with a signed
// webhook. CI points the same suite at the built Caddy through RELAY_URL.
func TestNodeClients(t *testing.T) {
	dir, err := filepath.Abs("../../../e2e/socketio")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Skipf("the Node clients are not installed: run `npm ci` in %s", dir)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed")
	}
	if testing.Short() {
		t.Skip("the Node suite takes a while; not in -short")
	}

	b := broker.NewMemory(broker.Defaults())
	h, err := hub.New(b, hub.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	const secret = "e2e-secret"
	relay := newTestRelayOn(t, h, b, Config{AllowEIO3: true}, secret)
	noEIO3 := newTestRelayOn(t, h, b, Config{}, secret)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"RELAY_URL="+relay.url,
		"RELAY_SECRET="+secret,
		"RELAY_URL_NO_EIO3="+noEIO3.url,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm test in %s: %v\n%s", dir, err, out)
	}
	t.Logf("%s", out)
}
