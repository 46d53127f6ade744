package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed client/progress-relay.js page/test-socket-io.html page/page.css page/page.js
var sources embed.FS

// configMarker is where the library receives the relay's configuration.
const configMarker = "/*@relay-config*/null"

// moduleFooter turns the classic script into an ES module. The code above it defines
// globalThis.ProgressRelay in a module too; the footer exports it and, as document.currentScript
// does for the classic form, makes the origin the module came from the default relay.
const moduleFooter = `
// ES module form of the code above, which has defined globalThis.ProgressRelay.
const ProgressRelay = globalThis.ProgressRelay;
if (!ProgressRelay.defaults.base) {
  ProgressRelay.defaults.base = new URL(import.meta.url).origin;
}
export default ProgressRelay;
export const connect = ProgressRelay.connect;
`

// browserConfig is the JSON the library and the page receive.
type browserConfig struct {
	Paths struct {
		Subscribe string `json:"subscribe"`
		WebSocket string `json:"websocket"`
		SocketIO  string `json:"socketio"`
	} `json:"paths"`
	Transports   []string `json:"transports"`
	Import       string   `json:"import"`
	Health       string   `json:"health"`
	ClientJS     string   `json:"clientJs"`
	ClientModule string   `json:"clientModule"`
}

// rendered is everything built from one Config.
type rendered struct {
	client, module, page []byte
	pagePolicy           string // Content-Security-Policy of the page
}

func render(c Config) (rendered, error) {
	var bc browserConfig
	bc.Paths.Subscribe, bc.Paths.WebSocket, bc.Paths.SocketIO = c.Subscribe, c.WebSocket, c.SocketIO
	bc.Import, bc.Health, bc.ClientJS, bc.ClientModule = c.Import, c.Health, c.ClientJS, c.ClientModule
	bc.Transports = c.Transports
	// json.Marshal escapes <, > and &, so the JSON is safe inside a <script> element.
	cfgJSON, err := json.Marshal(bc)
	if err != nil {
		return rendered{}, fmt.Errorf("encode the browser configuration: %w", err)
	}

	client, err := sources.ReadFile("client/progress-relay.js")
	if err != nil {
		return rendered{}, fmt.Errorf("read the client library: %w", err)
	}
	if n := bytes.Count(client, []byte(configMarker)); n != 1 {
		return rendered{}, fmt.Errorf("client library: want 1 configuration marker %q, found %d", configMarker, n)
	}
	client = bytes.Replace(client, []byte(configMarker), append([]byte("/*@relay-config*/"), cfgJSON...), 1)
	module := append(append([]byte{}, client...), moduleFooter...)

	page, policy, err := renderPage(cfgJSON, client)
	if err != nil {
		return rendered{}, err
	}
	return rendered{client: client, module: module, page: page, pagePolicy: policy}, nil
}

// renderPage inlines the style, the configuration, the library and the page script into the
// page, and returns it with a Content-Security-Policy that allows exactly those inline elements
// and the relay's own origin: the page can load nothing from anywhere else.
func renderPage(cfgJSON, client []byte) ([]byte, string, error) {
	read := func(name string) (string, error) {
		b, err := sources.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", name, err)
		}
		return string(b), nil
	}
	html, err := read("page/test-socket-io.html")
	if err != nil {
		return nil, "", err
	}
	css, err := read("page/page.css")
	if err != nil {
		return nil, "", err
	}
	script, err := read("page/page.js")
	if err != nil {
		return nil, "", err
	}

	inline := []struct {
		marker, open, body, close string
	}{
		{"<!--@style-->", "<style>", css, "</style>"},
		{"<!--@config-->", `<script type="application/json" id="relay-config">`, string(cfgJSON), "</script>"},
		{"<!--@client-->", "<script>", string(client), "</script>"},
		{"<!--@script-->", "<script>", script, "</script>"},
	}
	var scriptHashes []string
	var styleHash string
	for _, in := range inline {
		if n := strings.Count(html, in.marker); n != 1 {
			return nil, "", fmt.Errorf("test page: want 1 marker %s, found %d", in.marker, n)
		}
		// Text that would end the element early, or put a script in its double-escaped state,
		// cannot be inlined.
		lower := strings.ToLower(in.body)
		if strings.Contains(lower, strings.ToLower(in.close[:len(in.close)-1])) || strings.Contains(lower, "<!--") {
			return nil, "", fmt.Errorf("test page: the text for %s contains %q or \"<!--\"", in.marker, in.close)
		}
		html = strings.Replace(html, in.marker, in.open+in.body+in.close, 1)
		sum := sha256.Sum256([]byte(in.body))
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		switch {
		case in.open == "<style>":
			styleHash = hash
		case in.open == "<script>":
			scriptHashes = append(scriptHashes, hash)
		}
	}
	policy := "default-src 'none'; script-src 'self' " + strings.Join(scriptHashes, " ") +
		"; style-src " + styleHash + "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; " +
		"form-action 'none'; frame-ancestors 'none'"
	return []byte(html), policy, nil
}
