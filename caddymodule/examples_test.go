package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// The shipped Caddyfiles (the demo's and each example's) adapt and provision: users copy them.
func TestShippedCaddyfilesAreValid(t *testing.T) {
	t.Setenv("PROGRESS_RELAY_SECRET", "example-secret")
	files, _ := filepath.Glob("../examples/*/Caddyfile*")
	files = append(files, "../Caddyfile")
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": f})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var cfg caddy.Config
		if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := caddy.Validate(&cfg); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
