package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	wstransport "github.com/progress-relay/progress-relay/internal/transport/websocket"
	"github.com/progress-relay/progress-relay/tokens"
)

// wantError checks a JSON error answer.
func wantError(t *testing.T, what string, status int, body string, wantStatus int, wantText string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d %s, want %d", what, status, body, wantStatus)
	}
	m := mustJSON(t, body)
	msg, _ := m["error"].(string)
	if !strings.Contains(strings.ToLower(msg), strings.ToLower(wantText)) {
		t.Fatalf("%s: error %q, want it to mention %q", what, msg, wantText)
	}
}

func TestWebhookRefusalsAndNothingAcceptedIsLost(t *testing.T) {
	r := startRelay(t, `
		webhook /hooks/progress {
			secret `+testSecret+`
			id_field eventId
			max_body 2KiB
			rate 1000 1000
		}
		webhook /hooks/limited {
			secret `+testSecret+`
			rate 1 2
		}
		max_sessions 3`)
	r.mustPost(`{"sessionId":"keep","type":"progress","eventId":"k1"}`)

	post := func(path, body, sig string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, r.base+path, strings.NewReader(body))
		if sig != "" {
			req.Header.Set("X-Relay-Signature", sig)
		}
		return r.do(req)
	}
	notJSON := `{"sessionId": "keep",`
	status, body := post("/hooks/progress", notJSON, sign([]byte(notJSON)))
	wantError(t, "not JSON", status, body, 400, "JSON")

	status, body = post("/hooks/progress", `{"sessionId":"keep"}`, "sha256=00")
	wantError(t, "bad signature", status, body, 401, "signature")
	status, body = post("/hooks/progress", `{"sessionId":"keep"}`, "")
	wantError(t, "missing signature", status, body, 401, "signature")

	big := `{"sessionId":"keep","pad":"` + strings.Repeat("x", 4096) + `"}`
	status, body = post("/hooks/progress", big, sign([]byte(big)))
	wantError(t, "too large", status, body, 413, "")

	noSession := `{"type":"progress"}`
	status, body = post("/hooks/progress", noSession, sign([]byte(noSession)))
	wantError(t, "no session", status, body, 422, "session")

	badSession := `{"sessionId":"a/b"}`
	status, body = post("/hooks/progress", badSession, sign([]byte(badSession)))
	wantError(t, "bad session", status, body, 400, "session")

	r.mustPost(`{"sessionId":"ended","type":"complete","eventId":"c1"}`)
	late := batch([]string{`{"sessionId":"keep","type":"progress","eventId":"k2"}`, `{"sessionId":"ended","type":"progress"}`})
	status, body = r.post(late)
	wantError(t, "event after terminal", status, body, 409, "ended")
	// A retry of the terminal event is a duplicate, not a conflict.
	if status, body := r.post(`{"sessionId":"ended","type":"complete","eventId":"c1"}`); status != 202 || !strings.Contains(body, `"duplicates":1`) {
		t.Fatalf("terminal retry: %d %s", status, body)
	}

	r.mustPost(`{"sessionId":"third","type":"progress"}`)
	status, body = r.post(`{"sessionId":"fourth","type":"progress"}`)
	wantError(t, "max sessions", status, body, 503, "sessions")

	one := `{"sessionId":"keep","type":"progress"}`
	limited := 0
	for i := 0; i < 10 && limited == 0; i++ {
		if status, body := post("/hooks/limited", one, sign([]byte(one))); status == 429 {
			wantError(t, "rate", status, body, 429, "")
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("rate limit never answered 429")
	}

	// Nothing accepted was lost, and the refused batch left nothing behind: session keep holds
	// exactly k1 and the rate-limited posts that got through, in order.
	_, a := r.poll("keep", 0, "0")
	if len(a.Events) == 0 || string(a.Events[0].Data) != `{"sessionId":"keep","type":"progress","eventId":"k1"}` {
		t.Fatalf("accepted event lost: %+v", a)
	}
	for _, e := range a.Events {
		if strings.Contains(string(e.Data), "k2") {
			t.Fatalf("an event of the refused batch was delivered: %s", e.Data)
		}
	}
}

func TestSubscribeRefusals(t *testing.T) {
	r := startRelay(t, defaultWebhook+`
		max_subscribers 1
		allowed_origins https://app.example.com`)
	get := func(path string, hdr ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return r.do(req)
	}
	status, body := get("/api/import/progress/" + strings.Repeat("x", 129))
	wantError(t, "long session", status, body, 400, "longer than 128")
	status, body = get("/api/import/progress/..")
	if status == 200 {
		t.Fatalf("session .. answered 200 %s", body)
	}
	status, body = get("/api/import/progress/a%20b")
	wantError(t, "space in session", status, body, 400, "session")
	status, body = get("/api/import/progress/s1?after=x")
	wantError(t, "bad after", status, body, 400, "after")
	status, body = get("/api/import/progress/s1?wait=forever")
	wantError(t, "bad wait", status, body, 400, "wait")
	status, body = get("/api/import/progress/s1?wait=0", "Origin", "https://evil.example")
	wantError(t, "foreign origin", status, body, 403, "allowed_origins")

	req, _ := http.NewRequest(http.MethodPost, r.base+"/api/import/progress/s1", nil)
	status, body = r.do(req)
	wantError(t, "POST", status, body, 405, "GET")

	// A listed origin gets CORS headers and a preflight answer.
	req, _ = http.NewRequest(http.MethodOptions, r.base+"/api/import/progress/s1", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}

	// The one allowed subscriber holds the node's capacity: the next one gets 503.
	held := make(chan struct{})
	go func() {
		defer close(held)
		r.poll("s1", 0, "3")
	}()
	waitFor(t, "the first subscriber", func() bool { return r.subscribers("poll") == 1 })
	status, body = get("/api/import/progress/s2?wait=0")
	wantError(t, "max subscribers", status, body, 503, "too many subscribers")
	<-held
}

func TestWebSocketRegistrationRefusals(t *testing.T) {
	r := startRelay(t, defaultWebhook+`
		subscriber_secret sub-secret`)
	for _, tc := range []struct {
		msg  string
		code int
		why  string
	}{
		{`{"sessionId": `, websocket.CloseInvalidFramePayloadData, "not valid JSON"},
		{`{"session": "s1"}`, websocket.ClosePolicyViolation, "sessionId missing"},
		{`{"sessionId": "a b"}`, websocket.ClosePolicyViolation, "invalid session ID"},
		{`["s1"]`, websocket.ClosePolicyViolation, "object"},
		{`{"sessionId": "s1"}`, wstransport.CloseUnauthorized, "token missing"},
		{`{"sessionId": "s1", "token": "x.y"}`, wstransport.CloseUnauthorized, "token"},
	} {
		c := r.dial("/")
		c.WriteMessage(websocket.TextMessage, []byte(tc.msg))
		_, closed := readFrames(t, c, -1)
		if closed == nil || closed.Code != tc.code || !strings.Contains(closed.Text, tc.why) {
			t.Errorf("%s: closed with %v, want %d mentioning %q", tc.msg, closed, tc.code, tc.why)
		}
	}

	// A valid token subscribes, on every transport.
	tok := tokens.Mint([]byte("sub-secret"), "s1", time.Now().Add(time.Minute))
	r.mustPost(`{"sessionId":"s1","type":"progress","n":1}`)
	c := r.dial("/")
	c.WriteJSON(map[string]any{"sessionId": "s1", "token": tok})
	if frames, _ := readFrames(t, c, 1); len(frames) != 1 {
		t.Fatal("token-bearing WebSocket got nothing")
	}
	if status, _ := r.poll("s1", 0, "0"); status != 401 {
		t.Fatalf("poll without token: %d, want 401", status)
	}
	req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/s1?wait=0&token="+tok, nil)
	if status, body := r.do(req); status != 200 {
		t.Fatalf("poll with ?token=: %d %s", status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, r.base+"/api/import/progress/s1?wait=0", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if status, body := r.do(req); status != 200 {
		t.Fatalf("poll with bearer: %d %s", status, body)
	}
	other := tokens.Mint([]byte("sub-secret"), "s2", time.Now().Add(time.Minute))
	req, _ = http.NewRequest(http.MethodGet, r.base+"/api/import/progress/s1?wait=0", nil)
	req.AddCookie(&http.Cookie{Name: TokenCookie, Value: other})
	status, body := r.do(req)
	wantError(t, "token of another session", status, body, 401, "another session")
}

func TestWebSocketOriginCheck(t *testing.T) {
	r := startRelay(t, defaultWebhook)
	hdr := http.Header{"Origin": {"https://evil.example"}}
	_, res, err := websocket.DefaultDialer.Dial(r.wsURL("/"), hdr)
	if err == nil || res == nil || res.StatusCode != 403 {
		t.Fatalf("foreign origin: err %v, response %v", err, res)
	}
	hdr = http.Header{"Origin": {r.base}}
	c, _, err := websocket.DefaultDialer.Dial(r.wsURL("/"), hdr)
	if err != nil {
		t.Fatalf("same origin refused: %v", err)
	}
	c.Close()
}

func TestConnectionLimits(t *testing.T) {
	r := startRelay(t, defaultWebhook+`
		max_subscribers_per_session 2`)

	// Subscribers per session: the third on one session gets 503, another session still works.
	a, b := r.dial("/api/import/progress/full"), r.dial("/api/import/progress/full")
	defer a.Close()
	defer b.Close()
	waitFor(t, "two subscribers", func() bool { return r.subscribers("websocket") == 2 })
	req, _ := http.NewRequest(http.MethodGet, r.base+"/api/import/progress/full?wait=0", nil)
	status, body := r.do(req)
	wantError(t, "third subscriber of a session", status, body, 503, "too many subscribers for this session")
	if status, _ := r.poll("other", 0, "0"); status != 200 {
		t.Fatalf("another session: %d", status)
	}

	// Sessions per seed-protocol connection: 16, the 17th registration closes it with 1008.
	c := r.dial("/")
	for i := 0; i < 16; i++ {
		c.WriteJSON(map[string]any{"sessionId": fmt.Sprintf("many-%d", i)})
	}
	waitFor(t, "16 subscriptions", func() bool { return r.subscribers("websocket") == 18 })
	c.WriteJSON(map[string]any{"sessionId": "many-16"})
	if _, closed := readFrames(t, c, -1); closed == nil || closed.Code != websocket.ClosePolicyViolation ||
		!strings.Contains(closed.Text, "too many sessions") {
		t.Fatalf("17th registration: closed with %v", closed)
	}

	// Incoming message size: more than 4 KiB closes with 1009, and nothing breaks for others.
	big := r.dial("/")
	big.WriteMessage(websocket.TextMessage, []byte(`{"sessionId":"s1","pad":"`+strings.Repeat("x", 8192)+`"}`))
	if _, closed := readFrames(t, big, -1); closed == nil || closed.Code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized message: closed with %v", closed)
	}
}
