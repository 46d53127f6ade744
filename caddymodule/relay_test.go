package caddymodule

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

const testSecret = "test-secret"

// relay is a real Caddy, running in this process with the module, on a free loopback port.
type relay struct {
	t    *testing.T
	base string
	port int
}

// freePort finds a loopback port; Caddy then binds it. Another process could take it in between,
// which on a test machine is rare enough to accept.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRelay loads a Caddyfile in which {PORT} stands for the listening port and {RELAY} for
// the body of the progress_relay block.
func startRelay(t *testing.T, relayBlock string) *relay {
	t.Helper()
	r := &relay{t: t, port: freePort(t)}
	r.base = fmt.Sprintf("http://127.0.0.1:%d", r.port)
	r.load(relayBlock)
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
	return r
}

// load adapts and loads a config: the first call starts Caddy, later ones are reloads.
func (r *relay) load(relayBlock string) {
	r.t.Helper()
	cf := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:%d {
	progress_relay {
%s
	}
	respond "next handler" 200
}
`, r.port, relayBlock)
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		r.t.Fatalf("adapting Caddyfile: %v\n%s", err, cf)
	}
	for _, w := range warnings {
		r.t.Logf("caddyfile warning: %s", w.String())
	}
	if err := caddy.Load(cfg, true); err != nil {
		r.t.Fatalf("loading config: %v", err)
	}
	// The old server closes its idle keep-alive connections; a POST sent on one would fail with EOF
	// (Go retries only idempotent requests), as it would for any client across a reload.
	http.DefaultClient.CloseIdleConnections()
}

const defaultWebhook = `
		webhook /hooks/progress {
			secret ` + testSecret + `
			id_field eventId
		}`

func sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// post sends a signed webhook and returns the status and body. Like a real backend, it retries a
// request that failed at the connection level: a connection accepted while a reload swaps servers
// can be reset, and the event IDs make the retry safe.
func (r *relay) post(body string) (int, string) {
	r.t.Helper()
	for attempt := 1; ; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, r.base+"/hooks/progress", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Relay-Signature", sign([]byte(body)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			if attempt < 3 {
				r.t.Logf("webhook attempt %d: %v; retrying", attempt, err)
				continue
			}
			r.t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
}

func (r *relay) do(req *http.Request) (int, string) {
	r.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (r *relay) mustPost(body string) {
	r.t.Helper()
	if status, resp := r.post(body); status != http.StatusAccepted {
		r.t.Fatalf("webhook answered %d %s for %s", status, resp, body)
	}
}

// progressEvents returns n progress payloads for session, numbered from first.
func progressEvents(session string, first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"sessionId":%q,"type":"progress","eventId":"e%d","processed":%d}`, session, first+i, first+i)
	}
	return out
}

// sseEvent is one event read from an SSE stream.
type sseEvent struct {
	id   string
	data string
}

// readSSE reads n events from an SSE body, or every event until it ends when n < 0.
func readSSE(t *testing.T, body io.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	err := scanSSE(body, func(ev sseEvent) bool {
		out = append(out, ev)
		return n < 0 || len(out) < n // n < 0: until the stream ends
	})
	if errors.Is(err, errEventLine) {
		t.Fatal(err)
	}
	return out
}

// errEventLine: the relay never writes an event: line, so that a browser's onmessage fires.
var errEventLine = errors.New("SSE stream carried an event: line")

// scanSSE hands each event of an SSE body to each until it returns false or the body ends.
func scanSSE(body io.Reader, each func(sseEvent) bool) error {
	var cur sseEvent
	var data []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				cur.data = strings.Join(data, "\n")
				if !each(cur) {
					return nil
				}
			}
			cur, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		case strings.HasPrefix(line, "event:"):
			return fmt.Errorf("%w: %q", errEventLine, line)
		}
	}
	return sc.Err()
}

type envelope struct {
	Seq     uint64          `json:"seq"`
	Type    string          `json:"type"`
	Session string          `json:"session"`
	Data    json.RawMessage `json:"data"`
}

type pollAnswer struct {
	Session string     `json:"session"`
	Events  []envelope `json:"events"`
	Last    uint64     `json:"last"`
	Done    bool       `json:"done"`
}

func (r *relay) poll(session string, after uint64, wait string) (int, pollAnswer) {
	r.t.Helper()
	res, err := http.Get(r.base + "/api/import/progress/" + session + "?after=" + strconv.FormatUint(after, 10) + "&wait=" + wait)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	var a pollAnswer
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &a); err != nil {
			r.t.Fatalf("poll answer %s: %v", b, err)
		}
	}
	return res.StatusCode, a
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%q is not a JSON object: %v", s, err)
	}
	return m
}

func batch(events []string) string {
	return "[" + strings.Join(events, ",") + "]"
}

func ndjson(events []string) string {
	var b bytes.Buffer
	for _, e := range events {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}
