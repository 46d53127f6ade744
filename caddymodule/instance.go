package caddymodule

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/transport/socketio"
	"github.com/progress-relay/progress-relay/internal/transport/websocket"
	"github.com/progress-relay/progress-relay/tokens"
)

// instances holds the relay state that must outlive a config reload: sessions, subscriptions and
// open connections. A reload provisions the new handler (taking a reference) before it cleans up
// the old one (dropping one), so the instance, and every connection on it, carries over.
var instances = caddy.NewUsagePool()

// configurableBroker is a broker whose options a reload can change in place.
type configurableBroker interface {
	broker.Broker
	SetOptions(broker.Options)
}

// instance is one relay: a broker, the hub over it, and what owns long-lived connections.
type instance struct {
	broker configurableBroker
	hub    *hub.Hub
	ws     *websocket.Handler
	sio    *socketio.Server
	pull   *pullSwitch

	ctx    context.Context // ends when the instance is destroyed; bounds background publishing
	cancel context.CancelFunc

	mu       sync.Mutex // guards handlers and serialises configure
	handlers []*Relay   // the live handlers using the instance, oldest first

	stopOnce sync.Once
}

// instanceKey names the broker an instance is built on: handlers that name the same broker share
// sessions, and a reload keeps them.
func instanceKey(r *Relay) string {
	if r.Broker == nil || r.Broker.Type == "memory" {
		return "progress_relay:memory"
	}
	return fmt.Sprintf("progress_relay:redis:%s:%s", r.Broker.URL, r.Broker.Prefix)
}

// loadInstance returns the shared instance for r's broker, creating it on first use.
func loadInstance(ctx caddy.Context, r *Relay) (*instance, string, error) {
	key := instanceKey(r)
	v, _, err := instances.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newInstance(ctx, r)
	})
	if err != nil {
		return nil, "", err
	}
	return v.(*instance), key, nil
}

func newInstance(ctx caddy.Context, r *Relay) (*instance, error) {
	var b configurableBroker
	if r.Broker == nil || r.Broker.Type == "memory" {
		b = broker.NewMemory(r.brokerOptions())
	} else {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		rb, err := broker.NewRedis(rctx, broker.RedisOptions{
			URL:        r.Broker.URL,
			Prefix:     r.Broker.Prefix,
			HistoryTTL: time.Duration(r.Broker.HistoryTTL),
			Logger:     r.logger.Named("redis"),
		}, r.brokerOptions())
		if err != nil {
			return nil, fmt.Errorf("broker redis: %w", err)
		}
		b = rb
	}
	h, err := hub.New(b, r.hubConfig())
	if err != nil {
		b.Close()
		return nil, err
	}
	sio, err := socketio.New(h, r.socketIOConfig(), r.logger.Named("socketio"))
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("socketio: %w", err)
	}
	ictx, cancel := context.WithCancel(context.Background())
	inst := &instance{broker: b, hub: h, ws: websocket.New(h, r.websocketConfig()), sio: sio,
		pull: newPullSwitch(), ctx: ictx, cancel: cancel}
	h.AddWatcher(inst.pull)
	return inst, nil
}

// attach registers r as a live handler of the instance and applies the settings. Node-wide
// settings (history, TTLs, queues, limits, Socket.IO timings) come from the newest handler: on a
// reload that is the new configuration. upstream_sse comes from the newest handler that has one,
// so that a site without it does not switch off another site's pull in the same configuration.
func (i *instance) attach(r *Relay) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.handlers = append(i.handlers, r)
	return i.apply()
}

// detach forgets r when its configuration is unloaded, and applies what remains.
func (i *instance) detach(r *Relay) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if j := slices.Index(i.handlers, r); j >= 0 {
		i.handlers = slices.Delete(i.handlers, j, j+1)
	}
	if len(i.handlers) > 0 {
		if err := i.apply(); err != nil {
			r.logger.Error("re-applying settings after unload", zap.Error(err))
		}
	}
}

// socketIOAuthorize is the token rule of the one Socket.IO server all sites share: a socket's
// registrations are not tied to the site that accepted its handshake, so the rule is never weaker
// than any site's. When any live site sets subscriber_secret, a token signed with one of the
// configured secrets is required. i.mu is held.
func (i *instance) socketIOAuthorize() func(session, token string) error {
	var secrets [][]byte
	for _, h := range i.handlers {
		if h.SubscriberSecret != "" {
			secrets = append(secrets, []byte(h.SubscriberSecret))
		}
	}
	if len(secrets) == 0 {
		return nil
	}
	return func(session, token string) error {
		var err error
		for _, secret := range secrets {
			if err = tokens.Verify(secret, token, session, now()); err == nil {
				return nil
			}
		}
		return err
	}
}

// apply sets the instance up from its live handlers. i.mu is held.
func (i *instance) apply() error {
	newest := i.handlers[len(i.handlers)-1]
	i.broker.SetOptions(newest.brokerOptions())
	i.hub.SetConfig(newest.hubConfig())
	i.ws.SetConfig(newest.websocketConfig())
	sc := newest.socketIOConfig()
	sc.Authorize = i.socketIOAuthorize()
	if err := i.sio.SetConfig(sc); err != nil {
		return fmt.Errorf("socketio: %w", err)
	}
	puller := newest
	for j := len(i.handlers) - 1; j >= 0; j-- {
		if i.handlers[j].UpstreamSSE != nil {
			puller = i.handlers[j]
			break
		}
	}
	return i.pull.configure(puller, i.broker)
}

// shutdownWait bounds how long exit waits for WebSocket clients to answer the close frame.
const shutdownWait = time.Second

// shutdown ends every subscription and connection; used on exit and by Destruct.
func (i *instance) shutdown() {
	i.stopOnce.Do(func() {
		i.hub.Shutdown()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			i.sio.Close()
		}()
		i.ws.Shutdown(shutdownWait)
		wg.Wait()
	})
}

// Destruct implements caddy.Destructor: the last config using the instance is gone.
func (i *instance) Destruct() error {
	i.shutdown()
	i.pull.close()
	i.cancel()
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
	c.MaxPerSession = r.MaxSubscribersPerSession
	return c
}

func (r *Relay) websocketConfig() websocket.Config {
	c := websocket.DefaultConfig()
	c.WriteTimeout = time.Duration(r.WriteTimeout)
	c.Observe = observeDelivery
	c.Log = r.logger.With(zap.String("transport", "websocket"))
	return c
}
