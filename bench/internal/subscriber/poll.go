package subscriber

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// pollClient long-polls GET <subscribe><session>?after=<seq>&wait=<s> on one keep-alive
// connection and reads {"session","events":[{"seq",…,"data"}],"last","done"}.
type pollClient struct {
	hc      *wire.HTTPConn
	path    string
	target  []byte
	closed  atomic.Bool
	headers []wire.Header
}

// pollWait is the wait each long-poll asks for, in seconds.
const pollWait = "25"

func openPoll(ctx context.Context, d *wire.Dialer, p Paths, session string) (*pollClient, error) {
	hc, err := wire.DialHTTP(ctx, d)
	if err != nil {
		return nil, err
	}
	return &pollClient{hc: hc, path: p.Subscribe + session,
		headers: []wire.Header{{Name: "Accept", Value: "application/json"}}}, nil
}

var keyLast = []byte(`"last":`)

func (c *pollClient) Run(r *Receiver) error {
	var after uint64
	for {
		c.target = append(c.target[:0], c.path...)
		c.target = append(c.target, "?after="...)
		c.target = strconv.AppendUint(c.target, after, 10)
		c.target = append(c.target, "&wait="+pollWait...)
		status, body, err := c.hc.Do("GET", string(c.target), c.headers, nil)
		if err != nil {
			if c.closed.Load() {
				return nil
			}
			return fmt.Errorf("poll: %w", err)
		}
		if status != 200 {
			return fmt.Errorf("poll: status %d: %.200s", status, body)
		}
		now := time.Now()
		after = c.events(body, after, r, now)
	}
}

// events hands every envelope in body to r and returns the new cursor.
func (c *pollClient) events(body []byte, after uint64, r *Receiver, now time.Time) uint64 {
	end := bytes.LastIndex(body, keyLast)
	if end < 0 {
		end = len(body)
	}
	rest := body[:end]
	for {
		i := bytes.Index(rest, keySeq)
		if i < 0 {
			break
		}
		seq, _, ok := fieldUint(rest[i:], keySeq)
		if !ok {
			break
		}
		ev := rest[i+len(keySeq):]
		next := bytes.Index(ev, keySeq)
		if next >= 0 {
			ev = ev[:next]
		}
		r.Event(ev, seq, now)
		after = max(after, seq)
		if next < 0 {
			break
		}
		rest = rest[i+len(keySeq)+next:]
	}
	if last, _, ok := fieldUint(body[end:], keyLast); ok {
		after = max(after, last)
	}
	return after
}

func (c *pollClient) Close() {
	c.closed.Store(true)
	c.hc.Close()
}
