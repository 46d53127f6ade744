package socketio

import (
	"encoding/json"
	"testing"

	"github.com/progress-relay/progress-relay/internal/event"
)

func TestPacketCarriesDataAsJSONAndMeta(t *testing.T) {
	st, _ := Config{EventNames: map[string]string{"complete": `done "now"`}}.compile()
	cases := []struct {
		ev       *event.Event
		name     string
		wantData string
	}{
		{&event.Event{Session: "s", Seq: 7, Type: "progress", Data: json.RawMessage(`{"pct": 50}`)}, "progress", `{"pct": 50}`},
		{&event.Event{Session: "s", Seq: 8, Type: "complete", Data: json.RawMessage(`[1,2]`)}, `done "now"`, `[1,2]`},
		{&event.Event{Session: "s", Seq: 9, Type: "progress"}, "progress", `null`},
		{&event.Event{Session: "s", Seq: 10, Type: "progress", Data: json.RawMessage(`50% done`)}, "progress", `"50% done"`},
	}
	for _, c := range cases {
		p := st.packet(c.ev)
		if p[0] != '2' {
			t.Fatalf("%q is not an EVENT packet", p)
		}
		var args []json.RawMessage
		if err := json.Unmarshal([]byte(p[1:]), &args); err != nil || len(args) != 3 {
			t.Fatalf("%q: %v", p, err)
		}
		var name string
		var m meta
		json.Unmarshal(args[0], &name)
		json.Unmarshal(args[2], &m)
		if name != c.name || string(args[1]) != c.wantData || m != (meta{Seq: c.ev.Seq, Type: c.ev.Type, Session: "s"}) {
			t.Errorf("%q: name %q data %s meta %+v", p, name, args[1], m)
		}
		if again := st.packet(c.ev); again != p {
			t.Errorf("second encoding differs: %q", again)
		}
	}
}

func TestPacketFollowsRenamesOfCachedEvents(t *testing.T) {
	ev := &event.Event{Session: "s", Seq: 1, Type: "progress", Data: json.RawMessage(`{}`)}
	before, _ := Config{}.compile()
	after, _ := Config{EventNames: map[string]string{"progress": "importProgress"}}.compile()
	before.packet(ev)
	if p := after.packet(ev); p != `2["importProgress",{},{"seq":1,"type":"progress","session":"s"}]` {
		t.Fatalf("after a rename: %q", p)
	}
}
