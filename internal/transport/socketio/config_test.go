package socketio

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	st, err := Config{Path: "/rt"}.compile()
	if err != nil {
		t.Fatal(err)
	}
	if st.Path != "/rt/" || st.PingInterval != 25*time.Second || st.PingTimeout != 20*time.Second ||
		st.WriteTimeout != 10*time.Second || st.MaxSessionsPerSocket != 16 || st.AllowEIO3 {
		t.Fatalf("defaults: %+v", st.Config)
	}
	for typ, want := range map[string]string{"progress": "progress", "complete": "complete", "error": "error", "stage": "stage"} {
		if got := st.eventName(typ); got != want {
			t.Errorf("event type %s is emitted as %s, want %s", typ, got, want)
		}
	}
}

func TestConfigRejects(t *testing.T) {
	cases := map[string]Config{
		"must start with /":             {Path: "socket.io/"},
		"reserved by socket.io clients": {EventNames: map[string]string{"progress": "connect"}},
		"must not be empty":             {EventNames: map[string]string{"progress": ""}},
		"want an origin":                {CORSOrigins: []string{"app.example.com"}},
		"must be positive":              {PingTimeout: -time.Second},
	}
	for want, cfg := range cases {
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want an error containing %q", cfg, err, want)
		}
	}
	for _, origin := range []string{"https://app.example.com", "http://localhost:3000", "https://app.example.com/", "*"} {
		if err := (Config{CORSOrigins: []string{origin}}).Validate(); err != nil {
			t.Errorf("origin %q: %v", origin, err)
		}
	}
}

func TestEventNames(t *testing.T) {
	st, err := Config{EventNames: map[string]string{"error": "importError", "complete": "done"}}.compile()
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]string{
		"error": "importError", "complete": "done", "progress": "progress",
		"disconnect": "relay:disconnect", // a payload's type must not pose as a lifecycle event
	} {
		if got := st.eventName(typ); got != want {
			t.Errorf("type %s: emitted as %s, want %s", typ, got, want)
		}
	}
}
