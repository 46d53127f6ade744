package subscriber

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/wire"
)

// sioClient is a minimal Socket.IO v5 client over Engine.IO v4's WebSocket transport, written
// here rather than taken from a library so that it costs the tool no goroutine and no allocation
// per event: open packet "0{…}", connect "40", registerSession as "42[…]", events
// "42["name",data,meta]", and the server's heartbeat "2" answered with "3".
type sioClient struct {
	stream *wire.Stream
}

func openSocketIO(ctx context.Context, d *wire.Dialer, p Paths, session string) (*sioClient, error) {
	ws, err := wire.DialWS(ctx, d, p.SocketIO+"?EIO=4&transport=websocket")
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) (*sioClient, error) {
		ws.Close()
		return nil, fmt.Errorf("socket.io: "+format, args...)
	}
	ws.Conn().SetDeadline(time.Now().Add(30 * time.Second))
	if _, msg, err := ws.ReadFrame(); err != nil || len(msg) == 0 || msg[0] != '0' {
		return fail("no open packet (%v): %q", err, msg)
	}
	if err := ws.WriteTextString("40"); err != nil {
		return fail("connect: %v", err)
	}
	for {
		_, msg, err := ws.ReadFrame()
		if err != nil {
			return fail("connect: %v", err)
		}
		if bytes.HasPrefix(msg, []byte("40")) {
			break
		}
		if bytes.HasPrefix(msg, []byte("44")) {
			return fail("connect refused: %s", msg)
		}
		if bytes.Equal(msg, []byte("2")) {
			if err := ws.WriteTextString("3"); err != nil {
				return fail("pong: %v", err)
			}
		}
	}
	if err := ws.WriteTextString(`42["registerSession","` + session + `"]`); err != nil {
		return fail("registerSession: %v", err)
	}
	ws.Conn().SetDeadline(time.Time{})
	s, err := ws.Detach()
	if err != nil {
		return fail("%v", err)
	}
	return &sioClient{stream: s}, nil
}

var prefixEvent = []byte(`42[`)

func (c *sioClient) Run(r *Receiver) error {
	var out []byte
	parse := wire.WSParser(c.stream, func(msg []byte, now time.Time) error {
		switch {
		case bytes.HasPrefix(msg, prefixEvent):
			// 42["progress",{data},{"seq":…}]: the relay's meta carries seq; the peer sends none.
			seq, _, _ := fieldUint(msg, keySeq)
			r.Event(msg, seq, now)
		case len(msg) == 1 && msg[0] == '2':
			var err error
			out, err = wire.WriteWSText(c.stream, out, "3")
			return err
		case len(msg) > 0 && msg[0] == '1':
			return fmt.Errorf("server closed the Engine.IO session")
		}
		return nil
	})
	if err := c.stream.Start(parse); err != nil {
		return err
	}
	if err := c.stream.Wait(); err != nil {
		return fmt.Errorf("socket.io: %w", err)
	}
	return nil
}

func (c *sioClient) Close() { c.stream.Close() }
