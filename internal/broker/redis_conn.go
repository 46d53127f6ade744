package broker

import (
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"
)

// defaultClientName names the relay's connections in CLIENT LIST when the URL names none.
const defaultClientName = "progress-relay"

// newRedisClients builds, from one URL, the client for commands and scripts and the client that
// holds this node's pub/sub connection. They are separate so that the pub/sub connection carries its
// own name (operators and tests find it in CLIENT LIST) and never competes with the command pool.
//
// URL forms (go-redis's):
//   - redis://[[user]:password@]host[:port][/db][?options]; rediss:// for TLS; unix:///path.sock?db=N
//   - Sentinel: redis://[[user]:password@]sentinel-host[:port][/db]?master_name=NAME[&addr=other-sentinel…],
//     the credentials being the sentinels' (the master's come as ?username=…&password=… if they differ:
//     see redis.ParseFailoverURL)
//
// Cluster is not offered: a batch may span sessions, and one script cannot touch keys in several
// slots, so Publish would lose its all-or-nothing guarantee; the fleet-wide session index is a single
// key as well. The keys are tagged per session so that History and single-session publishes would work
// unchanged on a Cluster.
func newRedisClients(rawURL, node string) (cmd, sub *redis.Client, pubsubName string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, "", fmt.Errorf("redis URL: %w", err)
	}
	if u.Query().Has("master_name") {
		fo, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, nil, "", fmt.Errorf("redis sentinel URL: %w", err)
		}
		name := tuneFailover(fo)
		pubsubName = name + ":pubsub:" + node
		so := *fo
		so.ClientName = pubsubName
		return redis.NewFailoverClient(fo), redis.NewFailoverClient(&so), pubsubName, nil
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, nil, "", fmt.Errorf("redis URL: %w", err)
	}
	name := tune(o)
	pubsubName = name + ":pubsub:" + node
	so := *o
	so.ClientName = pubsubName
	return redis.NewClient(o), redis.NewClient(&so), pubsubName, nil
}

// tune applies what the broker relies on and returns the connections' name.
//
// Retries are off: go-redis would resend a script whose reply was lost, which sequences an event
// without a source ID twice. A failed Publish answers 503 instead and the source decides; events
// with IDs are deduplicated whatever it does. Context deadlines bound every call, so a webhook's
// own deadline applies to Redis as well.
func tune(o *redis.Options) string {
	o.MaxRetries = -1
	o.ContextTimeoutEnabled = true
	if o.ClientName == "" {
		o.ClientName = defaultClientName
	}
	return o.ClientName
}

// tuneFailover is tune for Sentinel options.
func tuneFailover(o *redis.FailoverOptions) string {
	o.MaxRetries = -1
	o.ContextTimeoutEnabled = true
	if o.ClientName == "" {
		o.ClientName = defaultClientName
	}
	return o.ClientName
}
