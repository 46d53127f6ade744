package subscriber

import (
	"context"
	"fmt"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// wsClient speaks the seed protocol: connect, send {"sessionId": id}, then every text frame is
// one event's JSON.
type wsClient struct {
	stream *wire.Stream
}

func openWebSocket(ctx context.Context, d *wire.Dialer, p Paths, session string) (*wsClient, error) {
	ws, err := wire.DialWS(ctx, d, p.WebSocket)
	if err != nil {
		return nil, err
	}
	if err := ws.WriteTextString(`{"sessionId":"` + session + `"}`); err != nil {
		ws.Close()
		return nil, fmt.Errorf("websocket registration: %w", err)
	}
	s, err := ws.Detach()
	if err != nil {
		ws.Close()
		return nil, err
	}
	return &wsClient{stream: s}, nil
}

func (c *wsClient) Run(r *Receiver) error {
	err := c.stream.Start(wire.WSParser(c.stream, func(p []byte, now time.Time) error {
		r.Event(p, 0, now)
		return nil
	}))
	if err != nil {
		return err
	}
	if err := c.stream.Wait(); err != nil {
		return fmt.Errorf("websocket: %w", err)
	}
	return nil
}

func (c *wsClient) Close() { c.stream.Close() }
