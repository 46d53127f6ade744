package caddymodule

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func parse(t *testing.T, input string) (*Relay, error) {
	t.Helper()
	r := new(Relay)
	err := r.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return r, err
}

func TestCaddyfileEverySubdirective(t *testing.T) {
	r, err := parse(t, `progress_relay {
		websocket   /ws
		subscribe   /progress/{session}
		health      off
		webhook     /hooks/a {
			secret           s1
			bearer           b1
			session_field    data.session
			type_field       kind
			id_field         eventId
			max_body         64KiB
			max_events       50
			timestamp_header X-Relay-Timestamp
			rate             20 40
			forward
		}
		webhook /hooks/{session} {
			insecure
		}
		history         10
		session_ttl     2m
		idle_ttl        30m
		terminal        done failed
		queue_size      16
		write_timeout   3s
		max_sessions    5
		max_subscribers 7
		max_subscribers_per_session 3
		allowed_origins https://app.example.com http://localhost:3000
		subscriber_secret sub-secret
		broker redis redis://127.0.0.1:6379/2 {
			prefix      test:
			history_ttl 2h
		}
		upstream_sse http://backend/api/progress/{session} {
			header    Authorization "Bearer up"
			header    X-Env test
			idle      10s
			max_event 2MiB
			type_field kind
			retry     500ms
			max_retry 10s
		}
		tee_sse /api/stream/{session} {
			max_event 512KiB
			type_field kind
		}
		socketio /sio/ {
			allow_eio3 off
			event_names error=import_error progress=update
			ping_interval 10s
			ping_timeout 5s
			cors_origins https://app.example.com
			max_sessions_per_socket 4
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	want := &Relay{
		WebSocket: "/ws", Subscribe: "/progress/{session}", Health: "off",
		Webhooks: []*Webhook{{
			Path: "/hooks/a", Secret: "s1", Bearer: "b1", SessionField: "data.session", TypeField: "kind",
			IDField: "eventId", MaxBody: 64 << 10, MaxEvents: 50, TimestampHeader: "X-Relay-Timestamp",
			Rate: 20, Burst: 40, Forward: true,
		}, {Path: "/hooks/{session}", Insecure: true}},
		History: 10, SessionTTL: caddy.Duration(2 * time.Minute), IdleTTL: caddy.Duration(30 * time.Minute),
		Terminal: []string{"done", "failed"}, QueueSize: 16, WriteTimeout: caddy.Duration(3 * time.Second),
		MaxSessions: 5, MaxSubscribers: 7, MaxSubscribersPerSession: 3,
		AllowedOrigins:   []string{"https://app.example.com", "http://localhost:3000"},
		SubscriberSecret: "sub-secret",
		Broker:           &BrokerConfig{Type: "redis", URL: "redis://127.0.0.1:6379/2", Prefix: "test:", HistoryTTL: caddy.Duration(2 * time.Hour)},
		UpstreamSSE: &UpstreamSSE{
			URL:    "http://backend/api/progress/{session}",
			Header: http.Header{"Authorization": {"Bearer up"}, "X-Env": {"test"}},
			Idle:   caddy.Duration(10 * time.Second), MaxEvent: 2 << 20, TypeField: "kind",
			Retry: caddy.Duration(500 * time.Millisecond), MaxRetry: caddy.Duration(10 * time.Second),
		},
		TeeSSE: &TeeSSE{Path: "/api/stream/{session}", MaxEvent: 512 << 10, TypeField: "kind"},
		SocketIO: &SocketIO{Path: "/sio/", AllowEIO3: new(bool),
			EventNames:   map[string]string{"error": "import_error", "progress": "update"},
			PingInterval: caddy.Duration(10 * time.Second), PingTimeout: caddy.Duration(5 * time.Second),
			CORSOrigins: []string{"https://app.example.com"}, MaxSessionsPerSocket: 4},
	}
	if !reflect.DeepEqual(r, want) {
		got, _ := json.MarshalIndent(r, "", "  ")
		exp, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("parsed:\n%s\nwant:\n%s", got, exp)
	}
}

func TestCaddyfileDefaultsAreFilledAtProvision(t *testing.T) {
	r, err := parse(t, `progress_relay`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, &Relay{}) {
		t.Fatalf("a bare directive should leave everything to the defaults, got %+v", r)
	}
	r.applyDefaults()
	if r.WebSocket != "/" || r.Subscribe != "/api/import/progress/{session}" || r.Health != "/relay/health" ||
		r.History != 100 || time.Duration(r.SessionTTL) != 10*time.Minute || time.Duration(r.IdleTTL) != time.Hour ||
		!reflect.DeepEqual(r.Terminal, []string{"complete", "error"}) || r.QueueSize != 256 ||
		r.SocketIO.Path != "/socket.io/" || !*r.SocketIO.AllowEIO3 || r.SSE != "on" || r.Poll != "on" ||
		r.TestPage != "/test-socket-io.html" || r.ClientJS != "/progress-relay.js" ||
		time.Duration(r.WriteTimeout) != 10*time.Second || r.MaxSessions != 100000 || r.MaxSubscribers != 100000 {
		t.Fatalf("defaults: %+v", r)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestCaddyfileErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"progress_relay {\n\tbogus 1\n}", `unknown subdirective "bogus", at Testfile:2`},
		{"progress_relay {\n\n\thistory zero\n}", "at Testfile:3"},
		{"progress_relay {\n\thistory 0\n}", "not a whole number of at least 1"},
		{"progress_relay {\n\tsession_ttl soon\n}", "not a positive duration"},
		{"progress_relay {\n\twebsocket ws\n}", "must start with /"},
		{"progress_relay {\n\thistory 1\n\thistory 2\n}", "history given more than once, at Testfile:3"},
		{"progress_relay {\n\twebhook /h\n}", `webhook /h has no authentication: add "secret <shared secret>" or "bearer <token>" to its block, or "insecure" to accept unsigned webhooks on purpose, at Testfile:2`},
		{"progress_relay {\n\twebhook /h {\n\t\tinsecure\n\t\tsecret x\n\t}\n}", "insecure cannot be combined"},
		{"progress_relay {\n\twebhook /h {\n\t\tsecret x\n\t\tmax_body lots\n\t}\n}", "at Testfile:4"},
		{"progress_relay {\n\twebhook /h {\n\t\tsecret x\n\t\tfrobnicate\n\t}\n}", `unknown webhook subdirective "frobnicate"`},
		{"progress_relay {\n\twebhook /h {\n\t\tsecret x\n\t\trate fast\n\t}\n}", "not a positive number"},
		{"progress_relay {\n\tallowed_origins example.com\n}", "is not an origin"},
		{"progress_relay {\n\tterminal\n}", "terminal needs at least one"},
		{"progress_relay {\n\tbroker mysql x\n}", `broker "mysql" is not memory or redis`},
		{"progress_relay {\n\tbroker redis\n}", "broker redis needs a URL"},
		{"progress_relay {\n\tbroker redis redis://x {\n\t\tcolor blue\n\t}\n}", `unknown broker option "color", at Testfile:3`},
		{"progress_relay {\n\tupstream_sse http://b/progress\n}", "needs {session}"},
		{"progress_relay {\n\ttee_sse /stream\n}", "needs {session}"},
		{"progress_relay {\n\tsubscribe /a/{session}/{session}\n}", "more than one {session}"},
		{"progress_relay extra", "wrong argument count"},
		{"progress_relay {\n\tsocketio off {\n\t\tallow_eio3 on\n\t}\n}", "socketio off takes no options"},
		{"progress_relay {\n\tsocketio {\n\t\tevent_names progress\n\t}\n}", `"progress" is not <type>=<name>`},
		{"progress_relay {\n\tsocketio {\n\t\tallow_eio3 maybe\n\t}\n}", "not on or off, at Testfile:3"},
		{"progress_relay {\n\tsse maybe\n}", "not on or off"},
	} {
		_, err := parse(t, tc.input)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.input, err, tc.want)
		}
	}
}

func TestCaddyfileAdaptsToJSON(t *testing.T) {
	cf := `{
	order progress_relay before respond
}
:8080 {
	progress_relay {
		webhook /hooks/progress {
			secret s
			id_field eventId
		}
		history 50
		terminal complete error cancelled
		allowed_origins https://app.example.com
	}
}`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	handle := string(cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0])
	want := `{"allowed_origins":["https://app.example.com"],"handler":"progress_relay","history":50,"terminal":["complete","error","cancelled"],"webhooks":[{"id_field":"eventId","path":"/hooks/progress","secret":"s"}]}`
	if handle != want {
		t.Fatalf("adapted handler:\n%s\nwant:\n%s", handle, want)
	}
}

func TestDirectiveNeedsNoGlobalOrder(t *testing.T) {
	cf := ":8080 {\n\treverse_proxy 127.0.0.1:9\n\tprogress_relay {\n\t\twebhook /h {\n\t\t\tinsecure\n\t\t}\n\t}\n\tencode\n}"
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	enc, relay, proxy := strings.Index(s, `"encode"`), strings.Index(s, `"progress_relay"`), strings.Index(s, `"reverse_proxy"`)
	if enc < 0 || relay < 0 || proxy < 0 || !(enc < relay && relay < proxy) {
		t.Fatalf("want encode, then progress_relay, then reverse_proxy; got %s", s)
	}
}
