package websocket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/transport"
)

// readLoop reads until the connection ends: registrations in the seed protocol, and in every case
// pongs and the client's close frame, which gorilla only processes while someone reads.
func (c *conn) readLoop(seed bool) {
	reason := "client gone"
	defer func() { c.end(reason) }()
	cfg := c.cfg
	alive := cfg.PingInterval + cfg.PongTimeout
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(alive))
	})
	c.startKeepalive()
	if seed {
		c.ws.SetReadDeadline(time.Now().Add(cfg.RegisterTimeout))
	} else {
		c.ws.SetReadDeadline(time.Now().Add(alive))
	}
	registered := false
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			var ne interface{ Timeout() bool }
			var ce *websocket.CloseError
			switch {
			case seed && !registered && errors.As(err, &ne) && ne.Timeout():
				c.closeWith(websocket.ClosePolicyViolation,
					fmt.Sprintf("no registration message within %s", cfg.RegisterTimeout))
				c.waitClosed()
			case errors.As(err, &ne) && ne.Timeout():
				reason = "no answer to keepalive pings"
			case errors.As(err, &ce):
				reason = fmt.Sprintf("client closed (%d %s)", ce.Code, ce.Text)
			default:
				reason = "connection lost: " + err.Error()
			}
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(alive))
		if !seed || c.isClosing() {
			continue // the by-URL form needs nothing from the client
		}
		if typ != websocket.TextMessage {
			c.closeWith(websocket.CloseUnsupportedData, "registration must be a JSON text message")
			continue
		}
		reg, code, why := c.parseRegistration(msg)
		if code != 0 {
			c.closeWith(code, why)
			continue
		}
		if c.subscribe(reg.session, reg.after, reg.envelope) {
			registered = true
		}
	}
}

// waitClosed gives the writer a moment to put the close frame on the wire before the socket goes.
func (c *conn) waitClosed() {
	deadline := time.Now().Add(c.cfg.WriteTimeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		busy := c.writing
		c.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// startKeepalive pings the client every PingInterval from a timer, not a goroutine, so that an
// idle connection costs no stack. gorilla allows WriteControl concurrently with other writes.
func (c *conn) startKeepalive() {
	interval := c.cfg.PingInterval
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ping = time.AfterFunc(interval, func() {
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
			c.end("keepalive ping failed: " + err.Error())
			return
		}
		c.mu.Lock()
		if !c.ended {
			c.ping.Reset(interval)
		}
		c.mu.Unlock()
	})
}

type parsedRegistration struct {
	session  string
	after    uint64
	envelope bool
}

// parseRegistration reads a seed-protocol message. A failure returns the close code and reason:
// 1007 for a message that is not JSON, 1008 for JSON without a usable session, 4401 for a token
// that does not grant the session.
func (c *conn) parseRegistration(msg []byte) (parsedRegistration, int, string) {
	if !json.Valid(msg) {
		return parsedRegistration{}, websocket.CloseInvalidFramePayloadData, "registration is not valid JSON"
	}
	var reg registration
	if err := json.Unmarshal(msg, &reg); err != nil {
		return parsedRegistration{}, websocket.ClosePolicyViolation,
			`registration must be an object like {"sessionId": "<id>"}: ` + err.Error()
	}
	session, err := sessionField(reg.SessionID)
	if err != nil {
		return parsedRegistration{}, websocket.ClosePolicyViolation, err.Error()
	}
	after, err := afterField(reg.After)
	if err != nil {
		return parsedRegistration{}, websocket.ClosePolicyViolation, "after: " + err.Error()
	}
	if c.access.Authorize != nil {
		token := reg.Token
		if token == "" {
			token = c.access.HandshakeToken
		}
		if err := c.access.Authorize(session, token); err != nil {
			return parsedRegistration{}, CloseUnauthorized, err.Error()
		}
	}
	return parsedRegistration{session: session, after: after, envelope: reg.Envelope}, 0, ""
}

// sessionField accepts a string, or a number as the Node.js server did when a page sent one.
func sessionField(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", errors.New(`sessionId missing: send {"sessionId": "<id>"}`)
	}
	var id string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", fmt.Errorf("sessionId: %w", err)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		id = string(raw)
	default:
		return "", errors.New("sessionId must be a string")
	}
	if err := event.ValidSession(id); err != nil {
		return "", err
	}
	return id, nil
}

// afterField accepts a number or a numeric string.
func afterField(raw json.RawMessage) (uint64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return transport.ParseSeq(s)
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a sequence number", raw)
	}
	return n, nil
}
