package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
)

// Config holds the Socket.IO transport's settings. Zero fields take the defaults below; a reload
// may replace the whole Config with Server.SetConfig while sockets stay connected.
type Config struct {
	// Path is the URL prefix of the Engine.IO endpoint and of the client script, with a trailing
	// slash. Default "/socket.io/".
	Path string
	// AllowEIO3 also serves socket.io-client 2.x, which speaks Engine.IO 3. Off, a 2.x client's
	// handshake is answered 400 with a message that says so.
	AllowEIO3 bool
	// EventNames maps a hub event type to the Socket.IO event name it is emitted under. Types not
	// listed are emitted under their own name, so the default is progress, complete and error.
	EventNames map[string]string
	// PingInterval and PingTimeout are Engine.IO's heartbeat. Defaults 25s and 20s. A change made
	// by SetConfig applies to sockets that connect afterwards.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// CORSOrigins are the origins allowed besides the relay's own, e.g. "https://app.example.com".
	// Empty means same-origin only; "*" allows any origin and must be given explicitly.
	CORSOrigins []string
	// WriteTimeout is how long a socket's transport may send nothing while events wait for it
	// before the socket is disconnected (the client reconnects and resumes by seq). Default 10s.
	WriteTimeout time.Duration
	// MaxSessionsPerSocket bounds how many sessions one socket may register. Default 16.
	MaxSessionsPerSocket int
	// Authorize, when set, decides whether token lets a socket watch session; its error is sent to
	// the client in the registerSession acknowledgement. Nil allows every registration.
	Authorize func(session, token string) error
	// Observe, when set, is told of each event handed to a socket's Engine.IO session, with its
	// publish-to-write latency, for metrics. It must be safe for concurrent use.
	Observe func(transport string, ev *event.Event, latency time.Duration)
}

// Defaults of the zero fields of Config.
const (
	DefaultPath                 = "/socket.io/"
	DefaultPingInterval         = 25 * time.Second
	DefaultPingTimeout          = 20 * time.Second
	DefaultWriteTimeout         = 10 * time.Second
	DefaultMaxSessionsPerSocket = 16
)

// reservedNames are event names that socket.io clients keep for themselves: the server library
// refuses to emit them and a client would mistake them for its own lifecycle events.
var reservedNames = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true,
}

// reservedPrefix is put before an event type from a payload that happens to be a reserved name,
// so that the event is still delivered and cannot be mistaken for a lifecycle event.
const reservedPrefix = "relay:"

// settings is a validated Config with what the hot path needs precomputed. It is immutable.
type settings struct {
	Config
	anyOrigin bool
	origins   map[string]bool // lower-cased "scheme://host[:port]"
	prefixes  map[string]string
}

// Validate reports the first problem with c, naming the setting.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

func (c Config) compile() (*settings, error) {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, fmt.Errorf("socketio path %q: must start with /", c.Path)
	}
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxSessionsPerSocket == 0 {
		c.MaxSessionsPerSocket = DefaultMaxSessionsPerSocket
	}
	switch {
	case c.PingInterval < 0 || c.PingTimeout < 0 || c.WriteTimeout < 0:
		return nil, errors.New("socketio ping_interval, ping_timeout and write_timeout must be positive")
	case c.MaxSessionsPerSocket < 0:
		return nil, errors.New("socketio max sessions per socket must be positive")
	}

	st := &settings{Config: c, origins: map[string]bool{}, prefixes: map[string]string{}}
	for typ, name := range c.EventNames {
		if typ == "" || name == "" {
			return nil, fmt.Errorf("socketio event_names %q=%q: type and name must not be empty", typ, name)
		}
		if reservedNames[name] {
			return nil, fmt.Errorf("socketio event_names %s=%s: %q is reserved by socket.io clients", typ, name, name)
		}
		st.prefixes[name] = packetPrefix(name)
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			st.anyOrigin = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("socketio cors_origins %q: want an origin like https://app.example.com, or *", o)
		}
		st.origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	return st, nil
}

// eventName is the Socket.IO event name a hub event type is emitted under.
func (st *settings) eventName(typ string) string {
	if name, ok := st.EventNames[typ]; ok {
		return name
	}
	if reservedNames[typ] {
		return reservedPrefix + typ
	}
	return typ
}

// prefix is the start of an event packet for name, up to its first argument.
func (st *settings) prefix(name string) string {
	if p, ok := st.prefixes[name]; ok {
		return p
	}
	return packetPrefix(name)
}

// packetPrefix starts a Socket.IO EVENT packet for the default namespace: 2["name",
func packetPrefix(name string) string {
	q, _ := json.Marshal(name) // a string always marshals
	return `2[` + string(q) + `,`
}
