package caddymodule

import (
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/transport/websocket"
)

// instances holds the relay state that must outlive a config reload: sessions, subscriptions and
// open connections. A reload provisions the new handler (taking a reference) before it cleans up
// the old one (dropping one), so the instance, and every connection on it, carries over.
var instances = caddy.NewUsagePool()

// instance is one relay: a broker, the hub over it, and the connection-owning transports.
type instance struct {
	broker *broker.Memory
	hub    *hub.Hub
	ws     *websocket.Handler

	stopOnce sync.Once
}

// loadInstance returns the shared instance for r's broker, creating it on first use.
func loadInstance(r *Relay) (*instance, string, error) {
	const key = "progress_relay:memory"
	v, _, err := instances.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newInstance(r)
	})
	if err != nil {
		return nil, "", err
	}
	return v.(*instance), key, nil
}

func newInstance(r *Relay) (*instance, error) {
	b := broker.NewMemory(r.brokerOptions())
	h, err := hub.New(b, r.hubConfig())
	if err != nil {
		return nil, err
	}
	return &instance{broker: b, hub: h, ws: websocket.New(h, r.websocketConfig())}, nil
}

// configure applies r's settings to the shared instance; a reload changes them in place.
func (i *instance) configure(r *Relay) {
	i.broker.SetOptions(r.brokerOptions())
	i.hub.SetConfig(r.hubConfig())
	i.ws.SetConfig(r.websocketConfig())
}

// shutdownWait bounds how long exit waits for WebSocket clients to answer the close frame.
const shutdownWait = time.Second

// shutdown ends every subscription and connection; used on exit and by Destruct.
func (i *instance) shutdown() {
	i.stopOnce.Do(func() {
		i.hub.Shutdown()
		i.ws.Shutdown(shutdownWait)
	})
}

// Destruct implements caddy.Destructor: the last config using the instance is gone.
func (i *instance) Destruct() error {
	i.shutdown()
	return i.hub.Close()
}

func (r *Relay) brokerOptions() broker.Options {
	o := broker.Defaults()
	o.History = r.History
	o.SessionTTL = time.Duration(r.SessionTTL)
	o.IdleTTL = time.Duration(r.IdleTTL)
	o.Terminal = r.Terminal
	o.MaxSessions = r.MaxSessions
	return o
}

func (r *Relay) hubConfig() hub.Config {
	c := hub.DefaultConfig()
	c.QueueSize = r.QueueSize
	c.MaxSubscribers = r.MaxSubscribers
	return c
}

func (r *Relay) websocketConfig() websocket.Config {
	c := websocket.DefaultConfig()
	c.WriteTimeout = time.Duration(r.WriteTimeout)
	c.Log = r.logger
	return c
}
