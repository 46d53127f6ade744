package socketio

import (
	"strings"
	"testing"
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
