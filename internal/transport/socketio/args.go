package socketio

import (
	"errors"
	"fmt"
	"math"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/transport"
)

// registration is what a registerSession call asks for.
type registration struct {
	session string
	after   uint64
	token   string
}

// parseRegistration reads registerSession's arguments: (sessionId) or (sessionId, {after, token}).
// after may be a number or a string of digits; unknown option keys are ignored.
func parseRegistration(args []any) (registration, error) {
	var reg registration
	session, ok := firstString(args)
	if !ok {
		return reg, errors.New("registerSession wants the session ID (a string) as its first argument")
	}
	if err := event.ValidSession(session); err != nil {
		return reg, err
	}
	reg.session = session
	if len(args) < 2 || args[1] == nil {
		return reg, nil
	}
	opts, ok := args[1].(map[string]any)
	if !ok {
		return reg, errors.New("registerSession's second argument must be an object {after, token}")
	}
	if v := opts["after"]; v != nil {
		after, err := parseAfter(v)
		if err != nil {
			return reg, fmt.Errorf("registerSession after: %w", err)
		}
		reg.after = after
	}
	if v := opts["token"]; v != nil {
		if reg.token, ok = v.(string); !ok {
			return reg, errors.New("registerSession token must be a string")
		}
	}
	return reg, nil
}

// maxExactFloat is the largest integer a JSON number from a browser holds exactly.
const maxExactFloat = 1 << 53

func parseAfter(v any) (uint64, error) {
	switch n := v.(type) {
	case float64:
		if n < 0 || n > maxExactFloat || n != math.Trunc(n) {
			return 0, fmt.Errorf("%v is not a sequence number (a non-negative integer)", n)
		}
		return uint64(n), nil
	case string:
		return transport.ParseSeq(n)
	}
	return 0, fmt.Errorf("%v is not a sequence number (a non-negative integer)", v)
}

// firstString returns the first argument when it is a string.
func firstString(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

// splitAck separates the acknowledgement callback, which the library appends as the last
// argument when the client asked for one.
func splitAck(args []any) ([]any, socket.Ack) {
	if n := len(args); n > 0 {
		if ack, ok := args[n-1].(socket.Ack); ok {
			return args[:n-1], ack
		}
	}
	return args, nil
}

// answer acknowledges with v when the client asked for an acknowledgement.
func answer(ack socket.Ack, v map[string]any) {
	if ack != nil {
		ack([]any{v}, nil)
	}
}

// acceptance is registerSession's answer on success: the session's last seq when the registration
// took effect, and done when the client already had the session's terminal event.
func acceptance(last uint64, done bool) map[string]any {
	return map[string]any{"ok": true, "seq": last, "done": done}
}

func refusal(msg string) map[string]any {
	return map[string]any{"ok": false, "error": msg}
}
