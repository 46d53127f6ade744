// Package poll answers HTTP long-polls: GET <subscribe path>?after=<seq>&wait=<s> returns the
// events after the cursor as soon as there are any, or an empty list when wait runs out.
package poll

import (
	"net/http"
	"strconv"
	"time"

	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/hub"
	"github.com/progress-relay/progress-relay/internal/reply"
	"github.com/progress-relay/progress-relay/internal/transport"
)

// Limits of the wait parameter.
const (
	DefaultWait = 25 * time.Second
	MaxWait     = 60 * time.Second
)

// Handler serves long-polls.
type Handler struct {
	Hub *hub.Hub
	// Observe, when set, is told of each event answered and its publish-to-write latency.
	Observe func(transport string, ev *event.Event, latency time.Duration)
}

// Serve answers one poll for session.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, session string) {
	q := r.URL.Query()
	after, err := transport.ParseSeq(q.Get("after"))
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "after: "+err.Error())
		return
	}
	wait, err := parseWait(q.Get("wait"))
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "wait: "+err.Error())
		return
	}

	sub, err := h.Hub.Subscribe(r.Context(), session, hub.Options{After: after, Transport: transport.Poll})
	if err != nil {
		transport.RefuseSubscription(w, err)
		return
	}
	defer sub.Close()
	st := sub.State()
	done := st.Finished && st.TerminalSeq <= after

	batch := sub.Next(nil)
	if len(batch) == 0 && !done && wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-sub.Ready():
		case <-sub.Done():
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
		timer.Stop()
		batch = sub.Next(batch)
	}
	h.answer(w, session, after, done, batch)
}

// answer writes {"session","events":[envelope…],"last","done"} from the cached envelopes.
func (h *Handler) answer(w http.ResponseWriter, session string, after uint64, done bool, batch []*event.Event) {
	last := after
	size := 64 + len(session)
	for _, ev := range batch {
		size += len(ev.Envelope()) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"session":"`...)
	b = append(b, session...) // validated to [A-Za-z0-9._:-]: nothing to escape
	b = append(b, `","events":[`...)
	for i, ev := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev.Envelope()...)
		last = ev.Seq
		done = done || ev.Terminal
	}
	b = append(b, `],"last":`...)
	b = strconv.AppendUint(b, last, 10)
	b = append(b, `,"done":`...)
	b = strconv.AppendBool(b, done)
	b = append(b, '}')
	reply.Raw(w, http.StatusOK, b)
	if h.Observe != nil {
		now := time.Now()
		for _, ev := range batch {
			h.Observe(transport.Poll, ev, now.Sub(ev.Time))
		}
	}
}

// parseWait reads wait in seconds (fractions allowed); missing means DefaultWait, and anything
// longer than MaxWait is capped rather than refused, as a client asking for more is harmless.
func parseWait(s string) (time.Duration, error) {
	if s == "" {
		return DefaultWait, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != f {
		return 0, errInvalidWait(s)
	}
	if f >= MaxWait.Seconds() {
		return MaxWait, nil
	}
	return time.Duration(f * float64(time.Second)), nil
}

type errInvalidWait string

func (e errInvalidWait) Error() string {
	return strconv.Quote(string(e)) + " is not a number of seconds"
}
