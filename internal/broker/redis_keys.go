package broker

import (
	"fmt"
	"strings"
)

// redisKeys names everything the redis broker stores under its prefix.
//
// Each session's keys share the hash tag {session}, so that they live in one Cluster slot and one
// script may touch them all; session IDs cannot contain braces (event.ValidSession), and the prefix
// is checked for them, so the tag is always the session ID.
type redisKeys struct {
	prefix string
}

func newRedisKeys(prefix string) (redisKeys, error) {
	if strings.ContainsAny(prefix, "{}") {
		return redisKeys{}, fmt.Errorf("redis prefix %q: braces would change the keys' hash tags", prefix)
	}
	return redisKeys{prefix: prefix}, nil
}

// channel is the one pub/sub channel of the fleet: every node hears every event on it.
func (k redisKeys) channel() string { return k.prefix + "events" }

// index is a sorted set of every session, scored by the Unix millisecond at which its keys expire:
// it gives the fleet-wide session count that max_sessions limits.
func (k redisKeys) index() string { return k.prefix + "sessions" }

// meta is a session's state hash: "last" (highest seq) and, once finished, "fin" (the terminal seq).
func (k redisKeys) meta(session string) string { return k.prefix + "{" + session + "}:m" }

// stream is a session's history: one entry per event, with ID "<seq>-0" and one field "e".
func (k redisKeys) stream(session string) string { return k.prefix + "{" + session + "}:h" }

// ids is a session's recent source IDs, scored by seq, trimmed to the dedup window.
func (k redisKeys) ids(session string) string { return k.prefix + "{" + session + "}:d" }
