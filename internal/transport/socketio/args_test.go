package socketio

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/progress-relay/progress-relay/internal/event"
)

func TestParseRegistration(t *testing.T) {
	ok := []struct {
		args []any
		want registration
	}{
		{[]any{"imp-1"}, registration{session: "imp-1"}},
		{[]any{"imp-1", nil}, registration{session: "imp-1"}},
		{[]any{"imp-1", map[string]any{"after": 12.0, "token": "t", "other": true}}, registration{"imp-1", 12, "t"}},
		{[]any{"imp-1", map[string]any{"after": "12"}}, registration{session: "imp-1", after: 12}},
	}
	for _, c := range ok {
		got, err := parseRegistration(c.args)
		if err != nil || got != c.want {
			t.Errorf("%v: got %+v, %v; want %+v", c.args, got, err, c.want)
		}
	}
	bad := map[string][]any{
		"as its first argument": {},
		"a string":              {7.0},
		"invalid session ID":    {".."},
		"must be an object":     {"s", "after=3"},
		"not a sequence number": {"s", map[string]any{"after": 1.5}},
		"token must be":         {"s", map[string]any{"token": 5.0}},
	}
	for want, args := range bad {
		if _, err := parseRegistration(args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: got %v, want an error containing %q", args, err, want)
		}
	}
}

// FuzzRegisterArgs feeds registerSession payloads, decoded as the socket.io parser decodes them
// (encoding/json into any), with or without an acknowledgement callback, to splitAck and
// parseRegistration. An accepted registration has a valid session ID taken from the first
// argument, an after read only from a whole number (at most 2^53) or a string of decimal digits,
// and a token only from a string; everything else is refused with a reason.
//
//	go test -run '^$' -fuzz '^FuzzRegisterArgs$' -fuzztime 10s ./internal/transport/socketio
func FuzzRegisterArgs(f *testing.F) {
	for _, seed := range []string{
		`["imp-1"]`, `["imp-1",null]`, `["imp-1",{"after":12,"token":"t","other":true}]`,
		`["imp-1",{"after":"12"}]`, `["imp-1",{"after":""}]`, `[]`, `[7]`, `[".."]`, `[""]`,
		`["s","after=3"]`, `["s",{"after":1.5}]`, `["s",{"after":-1}]`, `["s",{"after":9007199254740993}]`,
		`["s",{"after":"18446744073709551616"}]`, `["s",{"after":"+5"}]`, `["s",{"after":true}]`,
		`["s",{"token":5}]`, `["a:b.c_d-1",{"after":1e3}]`, `["s",{"after":[1]}]`, `["s",[]]`,
		`["` + strings.Repeat("a", 128) + `"]`, `["` + strings.Repeat("a", 129) + `"]`, `["s\u0000"]`,
		`{"0":"s"}`, `"s"`, `["s"] trailing`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, withAck bool) {
		var decoded any
		if json.NewDecoder(bytes.NewReader(payload)).Decode(&decoded) != nil {
			return
		}
		args, isArray := decoded.([]any)
		if !isArray {
			return // the parser refuses an event whose payload is not an array
		}
		in := args
		if withAck {
			in = append(slices.Clone(args), socket.Ack(func([]any, error) {}))
		}
		rest, ack := splitAck(in)
		if (ack != nil) != withAck || len(rest) != len(args) {
			t.Fatalf("splitAck(%s, ack %v): %d arguments, ack %v", payload, withAck, len(rest), ack != nil)
		}

		reg, err := parseRegistration(rest)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%s refused without a reason", payload)
			}
			if wantAccepted(args) {
				t.Fatalf("%s refused: %v", payload, err)
			}
			return
		}
		if !wantAccepted(args) {
			t.Fatalf("%s accepted as %+v", payload, reg)
		}
		if err := event.ValidSession(reg.session); err != nil || reg.session != args[0] {
			t.Fatalf("%s accepted session %q: %v", payload, reg.session, err)
		}
		var opts map[string]any
		if len(args) > 1 {
			opts, _ = args[1].(map[string]any)
		}
		if want, _ := wantAfter(opts["after"]); reg.after != want {
			t.Fatalf("%s: after %d, want %d", payload, reg.after, want)
		}
		if want, _ := opts["token"].(string); reg.token != want {
			t.Fatalf("%s: token %q, want %q", payload, reg.token, want)
		}
	})
}

// wantAccepted is the contract parseRegistration implements, restated: a valid session ID first,
// then nothing, null or an object whose after and token, when present, are usable.
func wantAccepted(args []any) bool {
	if len(args) == 0 {
		return false
	}
	if s, ok := args[0].(string); !ok || event.ValidSession(s) != nil {
		return false
	}
	if len(args) < 2 || args[1] == nil {
		return true
	}
	opts, ok := args[1].(map[string]any)
	if !ok {
		return false
	}
	if _, ok := wantAfter(opts["after"]); !ok {
		return false
	}
	_, isString := opts["token"].(string)
	return opts["token"] == nil || isString
}

// wantAfter is the sequence number a client's after stands for: nothing, a whole number up to
// 2^53, or decimal digits that fit in 64 bits.
func wantAfter(v any) (uint64, bool) {
	switch a := v.(type) {
	case nil:
		return 0, true
	case float64:
		if a >= 0 && a <= 1<<53 && a == math.Floor(a) {
			return uint64(a), true
		}
	case string:
		if a == "" {
			return 0, true
		}
		for _, c := range a {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseUint(a, 10, 64)
		return n, err == nil
	}
	return 0, false
}
