package broker

import (
	"context"
	_ "embed" // the scripts live in .lua files, readable and testable as Lua
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/progress-relay/progress-relay/internal/event"
)

// publishScript sequences a batch. KEYS: the session index, then for each distinct session of the
// batch (in order of first appearance) its state hash, stream and recent-ID set. ARGV: channel,
// now (Unix ms), history, dedup window, idle TTL (ms), session TTL (ms), max sessions, the number
// of sessions and their IDs, then four per input: its session's 1-based position, its source ID,
// "1" if terminal, its encoded tail.
//
// Reply: {0, session count or -1, seq per input (0 for a duplicate)}, {1, position of a finished
// session}, or {2} when a new session would pass max sessions.
//
//go:embed redis_publish.lua
var publishSource string

var publishScript = redis.NewScript(publishSource)

// Script status codes, the first element of its reply.
const (
	publishOK          = 0
	publishFinished    = 1
	publishTooManySess = 2
)

// Publish implements Broker. Nothing is sequenced unless Redis ran the whole script: a batch with an
// event for a finished session returns a *FinishedError, one that would pass MaxSessions (counted
// across the fleet) ErrTooManySessions, and any failure to reach Redis an error wrapping
// ErrUnavailable. Events reach hubs, this node's included, through the pub/sub notice.
func (r *Redis) Publish(ctx context.Context, in []event.Input) (Result, error) {
	if r.closed.Load() {
		return Result{}, ErrClosed
	}
	if len(in) == 0 {
		return Result{}, nil
	}
	call, err := r.preparePublish(in)
	if err != nil {
		return Result{}, err
	}
	reply, err := publishScript.Run(ctx, r.client, call.keys, call.args...).Int64Slice()
	if err != nil {
		return Result{}, r.failed("publish", err)
	}
	r.up.Store(true)
	return r.publishResult(reply, in, call)
}

// publishCall is one run of publishScript and what it takes to read its reply.
type publishCall struct {
	keys     []string
	args     []any
	sessions []string // distinct sessions, in order of first appearance
	terminal []bool   // per input
	now      time.Time
}

func (r *Redis) preparePublish(in []event.Input) (*publishCall, error) {
	o := r.opts.Load()
	c := &publishCall{now: o.Now(), terminal: make([]bool, len(in))}
	position := make(map[string]int, 1)
	for i := range in {
		s := in[i].Session
		if _, ok := position[s]; ok {
			continue
		}
		// The ID becomes a hash tag: a brace in it would address another session's keys.
		if err := event.ValidSession(s); err != nil {
			return nil, fmt.Errorf("redis publish: %w", err)
		}
		c.sessions = append(c.sessions, s)
		position[s] = len(c.sessions)
	}

	c.keys = make([]string, 0, 1+3*len(c.sessions))
	c.keys = append(c.keys, r.keys.index())
	for _, s := range c.sessions {
		c.keys = append(c.keys, r.keys.meta(s), r.keys.stream(s), r.keys.ids(s))
	}
	c.args = make([]any, 0, 8+len(c.sessions)+4*len(in))
	c.args = append(c.args, r.keys.channel(), c.now.UnixMilli(), o.History, o.DedupWindow,
		ttlMillis(r.historyTTL(o)), ttlMillis(o.SessionTTL), o.MaxSessions, len(c.sessions))
	for _, s := range c.sessions {
		c.args = append(c.args, s)
	}
	for i := range in {
		c.terminal[i] = o.IsTerminal(in[i].Type)
		flag := "0"
		if c.terminal[i] {
			flag = "1"
		}
		c.args = append(c.args, position[in[i].Session], in[i].ID, flag, encodeTail(&in[i], c.now, c.terminal[i]))
	}
	return c, nil
}

// publishResult turns the script's reply into a Result or a refusal.
func (r *Redis) publishResult(reply []int64, in []event.Input, c *publishCall) (Result, error) {
	if len(reply) == 0 {
		return Result{}, fmt.Errorf("redis publish: empty reply")
	}
	switch reply[0] {
	case publishFinished:
		if len(reply) != 2 || reply[1] < 1 || int(reply[1]) > len(c.sessions) {
			return Result{}, fmt.Errorf("redis publish: malformed refusal %v", reply)
		}
		return Result{}, &FinishedError{Session: c.sessions[reply[1]-1]}
	case publishTooManySess:
		return Result{}, ErrTooManySessions
	case publishOK:
	default:
		return Result{}, fmt.Errorf("redis publish: unknown status %d", reply[0])
	}
	if len(reply) != 2+len(in) {
		return Result{}, fmt.Errorf("redis publish: %d seqs for %d events", len(reply)-2, len(in))
	}
	if reply[1] >= 0 {
		r.sessions.Store(reply[1])
	}
	res := Result{Events: make([]*event.Event, 0, len(in))}
	for i, seq := range reply[2:] {
		if seq == 0 {
			res.Duplicates++
			continue
		}
		res.Events = append(res.Events, &event.Event{
			Session:  in[i].Session,
			Seq:      uint64(seq),
			Type:     in[i].Type,
			ID:       in[i].ID,
			Data:     in[i].Data,
			Time:     c.now,
			Terminal: c.terminal[i],
		})
	}
	return res, nil
}

// ttlMillis is d for PEXPIRE, at least 1 ms: a zero TTL would delete the keys at once.
func ttlMillis(d time.Duration) int64 { return max(d.Milliseconds(), 1) }
