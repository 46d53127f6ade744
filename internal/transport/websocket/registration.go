package websocket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/gorilla/websocket"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/transport"
)

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
