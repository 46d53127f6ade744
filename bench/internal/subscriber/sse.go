package subscriber

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// sseClient reads an event stream: "id: <seq>" (the relay; the Node peer sends none), one
// "data:" line per event, a blank line between events, comments for heartbeats.
type sseClient struct {
	stream  *wire.Stream
	chunked bool
}

func openSSE(ctx context.Context, d *wire.Dialer, p Paths, session string) (*sseClient, error) {
	hc, err := wire.DialHTTP(ctx, d)
	if err != nil {
		return nil, err
	}
	hc.Conn().SetDeadline(time.Now().Add(30 * time.Second))
	err = hc.WriteRequest("GET", p.Subscribe+session, []wire.Header{{Name: "Accept", Value: "text/event-stream"}}, nil)
	if err != nil {
		hc.Close()
		return nil, err
	}
	resp, err := hc.ReadHeader()
	if err != nil {
		hc.Close()
		return nil, fmt.Errorf("sse: %w", err)
	}
	if resp.Status != 200 {
		hc.Close()
		return nil, fmt.Errorf("sse: status %d", resp.Status)
	}
	hc.Conn().SetDeadline(time.Time{})
	s, err := hc.Detach()
	if err != nil {
		hc.Close()
		return nil, err
	}
	return &sseClient{stream: s, chunked: resp.Chunked}, nil
}

var (
	prefixID   = []byte("id:")
	prefixData = []byte("data:")
)

func (c *sseClient) Run(r *Receiver) error {
	var seq uint64
	var data []byte
	onLine := func(line []byte, now time.Time) {
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				r.Event(data, seq, now)
			}
			data, seq = data[:0], 0
		case bytes.HasPrefix(line, prefixData):
			// One line per event here: the payloads hold no newline. Copied, because the line
			// lives in the stream's buffer.
			data = append(data[:0], bytes.TrimPrefix(line[len(prefixData):], []byte{' '})...)
		case bytes.HasPrefix(line, prefixID):
			seq, _ = strconv.ParseUint(string(bytes.TrimSpace(line[len(prefixID):])), 10, 64)
		}
	}
	if err := c.stream.Start(wire.LineParser(c.chunked, onLine)); err != nil {
		return err
	}
	if err := c.stream.Wait(); err != nil {
		return fmt.Errorf("sse: %w", err)
	}
	return nil
}

func (c *sseClient) Close() { c.stream.Close() }
