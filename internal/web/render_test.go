package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// inlineElement finds the inline scripts and styles of the page; the JSON block is data.
var inlineElement = regexp.MustCompile(`(?s)<(script|style)([^>]*)>(.*?)</(?:script|style)>`)

func TestPagePolicyAllowsExactlyItsInlineCode(t *testing.T) {
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	policy := a.page.policy
	var scripts, styles int
	for _, m := range inlineElement.FindAllStringSubmatch(string(a.TestPage()), -1) {
		tag, attrs, body := m[1], m[2], m[3]
		if strings.Contains(attrs, "src=") {
			t.Errorf("the page loads a script file: <%s%s>", tag, attrs)
		}
		if strings.Contains(attrs, "application/json") {
			continue
		}
		sum := sha256.Sum256([]byte(body))
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(policy, hash) {
			t.Errorf("inline <%s> %d bytes: hash %s not in the policy", tag, len(body), hash)
		}
		if tag == "script" {
			scripts++
		} else {
			styles++
		}
	}
	if scripts != 2 || styles != 1 {
		t.Fatalf("found %d inline scripts and %d styles, want 2 and 1", scripts, styles)
	}
	for _, directive := range []string{"default-src 'none'", "connect-src 'self'", "script-src 'self' "} {
		if !strings.Contains(policy, directive) {
			t.Errorf("policy %q lacks %q", policy, directive)
		}
	}
}

// externalURL matches an absolute URL to a host, which the page must never load.
var externalURL = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9-]+\.[a-z]`)

func TestPageAndLibraryReferenceNoOtherHost(t *testing.T) {
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"page": a.TestPage(), "library": a.ClientJS()} {
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") || strings.HasPrefix(strings.TrimSpace(line), "*") {
				continue // comments
			}
			if m := externalURL.FindString(line); m != "" && !strings.Contains(line, "@example.com") {
				t.Errorf("%s refers to another host: %q in %q", name, m, strings.TrimSpace(line))
			}
		}
	}
}

func TestConfigurationReachesTheLibraryAndThePage(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Subscribe = "/events/{session}"
	cfg.WebSocket = ""
	cfg.SocketIO = "/rt"
	cfg.ClientJS = "/static/relay.js"
	cfg.ClientModule = ""
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"paths":{"subscribe":"/events/{session}","websocket":"","socketio":"/rt/"},` +
		`"transports":["socketio","websocket","sse","poll"],"import":"/api/import",` +
		`"health":"/relay/health","clientJs":"/static/relay.js","clientModule":"/static/relay.mjs"}`
	if !strings.Contains(string(a.ClientJS()), "var served = /*@relay-config*/"+want+";") {
		t.Error("the library does not carry the configuration")
	}
	if !strings.Contains(string(a.TestPage()), `<script type="application/json" id="relay-config">`+want+`</script>`) {
		t.Error("the page does not carry the configuration")
	}
	if !strings.HasPrefix(string(a.ClientModule()), string(a.ClientJS())) || !strings.HasSuffix(string(a.ClientModule()), "export const connect = ProgressRelay.connect;\n") {
		t.Error("the module is not the library followed by its exports")
	}
	if !json.Valid([]byte(want)) {
		t.Fatal("test expectation is not JSON")
	}
}

func TestTransportsFollowThePathsUnlessGiven(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SocketIO, cfg.WebSocket = "", ""
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"transports":["websocket","sse","poll"]`; !strings.Contains(string(a.ClientJS()), want) {
		t.Errorf("without Socket.IO and the seed WebSocket, the library is not told %s", want)
	}
	cfg.Transports = []string{"poll"}
	if a, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if want := `"transports":["poll"]`; !strings.Contains(string(a.ClientJS()), want) {
		t.Errorf("the library is not told %s", want)
	}
}

func TestConfigurationIsEscapedForScriptElements(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Import = "/api/</script><script>alert(1)</script>"
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(a.TestPage()), "alert(1)</script>") {
		t.Fatal("a path with </script> was inlined as it is")
	}
}

func TestBadConfigurationIsRefused(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"relative path":        func(c *Config) { c.Import = "api/import" },
		"absolute URL":         func(c *Config) { c.Health = "https://elsewhere.example/health" },
		"subscribe no session": func(c *Config) { c.Subscribe = "/api/import/progress" },
		"module = script":      func(c *Config) { c.ClientJS = "/relay"; c.ClientModule = "/relay" },
		"unknown transport":    func(c *Config) { c.Transports = []string{"sse", "carrier-pigeon"} },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLibraryParsesAsAClassicScriptAndAsAModule compiles both forms with Node.js, which parses
// JavaScript as browsers do.
func TestLibraryParsesAsAClassicScriptAndAsAModule(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := string(a.TestPage())
	pageScript := inlineElement.FindAllStringSubmatch(page, -1)
	files := map[string][]byte{
		"progress-relay.js":  a.ClientJS(),
		"progress-relay.mjs": a.ClientModule(),
		"page.js":            []byte(pageScript[len(pageScript)-1][3]),
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(node, "--check", path).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", name, err, out)
		}
	}
}
