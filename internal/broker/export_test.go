package broker

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/progress-relay/progress-relay/internal/event"
)

// Internals the external tests of the redis broker look at.

// PubSubName is the CLIENT SETNAME of r's pub/sub connection.
func PubSubName(r *Redis) string { return r.pubsubName }

// TouchWatched runs one keepalive round now.
func TouchWatched(r *Redis) error { return r.touchWatched() }

// SessionKeys are the keys r keeps for session: state hash, stream, recent IDs.
func SessionKeys(r *Redis, session string) []string {
	return []string{r.keys.meta(session), r.keys.stream(session), r.keys.ids(session)}
}

// QueuePublish queues on pipe the script run that Publish(in) would make, so that a test can put
// it in one MULTI with something else.
func QueuePublish(ctx context.Context, r *Redis, pipe redis.Pipeliner, in []event.Input) error {
	c, err := r.preparePublish(in)
	if err != nil {
		return err
	}
	publishScript.Eval(ctx, pipe, c.keys, c.args...)
	return nil
}
