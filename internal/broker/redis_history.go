package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/progress-relay/progress-relay/internal/event"
)

// History implements Broker: the session's stream after the seq after, and its state, read in one
// MULTI so that they agree.
func (r *Redis) History(ctx context.Context, session string, after uint64) ([]*event.Event, State, error) {
	if r.closed.Load() {
		return nil, State{}, ErrClosed
	}
	if err := event.ValidSession(session); err != nil {
		return nil, State{}, fmt.Errorf("redis history: %w", err)
	}
	var meta *redis.SliceCmd
	var entries *redis.XMessageSliceCmd
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		meta = p.HMGet(ctx, r.keys.meta(session), "last", "fin")
		// Stream IDs are "<seq>-0"; "(" makes the start exclusive, so after may be any uint64.
		entries = p.XRange(ctx, r.keys.stream(session), "("+strconv.FormatUint(after, 10)+"-0", "+")
		return nil
	})
	if err != nil {
		return nil, State{}, r.failed("history", err)
	}
	r.up.Store(true)
	st, err := parseState(meta.Val())
	if err != nil {
		return nil, State{}, fmt.Errorf("redis history of %s: %w", session, err)
	}
	evs := make([]*event.Event, 0, len(entries.Val()))
	for _, m := range entries.Val() {
		ev, err := decodeEntry(m)
		if err != nil {
			r.errors.Add(1)
			return nil, State{}, fmt.Errorf("redis history of %s: entry %s: %w", session, m.ID, err)
		}
		evs = append(evs, ev)
	}
	return evs, st, nil
}

// parseState reads HMGET last fin.
func parseState(vals []any) (State, error) {
	var st State
	if len(vals) != 2 || vals[0] == nil {
		return st, nil
	}
	last, err := parseSeq(vals[0])
	if err != nil {
		return st, fmt.Errorf("last: %w", err)
	}
	st.Last = last
	if vals[1] != nil {
		fin, err := parseSeq(vals[1])
		if err != nil {
			return st, fmt.Errorf("fin: %w", err)
		}
		st.Finished, st.TerminalSeq = true, fin
	}
	return st, nil
}

func parseSeq(v any) (uint64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%w: %T", errBadEncoding, v)
	}
	return strconv.ParseUint(s, 10, 64)
}

// decodeEntry reads one stream entry: its ID carries the seq, its field "e" the tail.
func decodeEntry(m redis.XMessage) (*event.Event, error) {
	ms, _, _ := strings.Cut(m.ID, "-")
	seq, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: stream ID %q", errBadEncoding, m.ID)
	}
	tail, ok := m.Values["e"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: no field e", errBadEncoding)
	}
	return decodeTail(&fieldReader{rest: tail}, seq)
}
