package caddymodule

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/transport/socketio"
	"github.com/progress-relay/progress-relay/internal/transport/websocket"
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

// configure applies r's settings to the shared instance; a reload changes them in place.
func (i *instance) configure(r *Relay) error {
	i.broker.SetOptions(r.brokerOptions())
	i.hub.SetConfig(r.hubConfig())
	i.ws.SetConfig(r.websocketConfig())
	if err := i.sio.SetConfig(r.socketIOConfig()); err != nil {
		return fmt.Errorf("socketio: %w", err)
	}
	return i.pull.configure(r, i.broker)
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
	c.Authorize = r.authorize
	c.Observe = observeDelivery
	c.Log = r.logger.With(zap.String("transport", "websocket"))
	return c
}
