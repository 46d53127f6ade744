package broker

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Delivery settings. go-redis pings a silent pub/sub connection every pubsubCheck and reconnects if
// the ping fails, so a dead connection is noticed within seconds; notices wait in a buffer of
// pubsubBuffer while the hub takes the previous ones.
const (
	startTimeout = 5 * time.Second
	pubsubBuffer = 1024
	pubsubCheck  = 3 * time.Second
)

// Start implements Broker: it subscribes this node's one pub/sub connection to the fleet's channel
// and delivers what arrives to sink. It waits up to startTimeout for the first subscription, so that
// subscribers of a freshly started node miss nothing; if Redis is down it goes on, and go-redis
// keeps reconnecting. It also starts the keepalive of watched sessions.
func (r *Redis) Start(sink Sink) error {
	r.sink = sink
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	r.pubsub = r.subClient.Subscribe(ctx)
	if err := r.pubsub.Subscribe(ctx, r.keys.channel()); err != nil {
		r.log.Warn("redis pub/sub: first subscription failed; retrying", zap.Error(err))
	} else if msg, err := r.pubsub.Receive(ctx); err != nil {
		r.log.Warn("redis pub/sub: no subscription confirmation; retrying", zap.Error(err))
	} else {
		r.handle(msg)
	}
	ch := r.pubsub.ChannelWithSubscriptions(redis.WithChannelSize(pubsubBuffer),
		redis.WithChannelHealthCheckInterval(pubsubCheck))
	r.loops.Add(2)
	go r.receive(ch)
	go r.keepalive()
	return nil
}

// receive delivers notices in the order Redis published them, until Close.
func (r *Redis) receive(ch <-chan any) {
	defer r.loops.Done()
	for msg := range ch {
		r.handle(msg)
	}
}

// handle acts on one message of the pub/sub connection.
//
// go-redis reconnects and resubscribes silently; what shows is a new subscription confirmation.
// Notices published while the connection was down are lost, so every confirmation makes the hub
// re-read its watched sessions from the streams (on the first one there is nothing to re-read).
// A notice that cannot be decoded is treated the same way: its events are in the streams.
func (r *Redis) handle(msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		if m.Kind != "subscribe" {
			return
		}
		if r.subscriptions.Add(1) > 1 {
			r.reconnects.Add(1)
			r.log.Info("redis pub/sub: resubscribed; resyncing watched sessions")
		}
		r.sink.Resync()
	case *redis.Message:
		evs, err := decodeNotice(m.Payload, r.watching)
		for _, ev := range evs {
			r.sink.Deliver(ev)
		}
		if err != nil {
			r.errors.Add(1)
			r.log.Error("redis pub/sub: undecodable notice; resyncing watched sessions", zap.Error(err))
			r.sink.Resync()
		}
	}
}
