package sse

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// Tee is an http.ResponseWriter that passes a response through unchanged and, when it is an
// uncompressed SSE response (200, text/event-stream, no Content-Encoding), parses it on the way and
// publishes its events. Every byte reaches the client as written, flushed at once; publishing is
// handed to another goroutine, so the client waits for a parse at most.
//
// Make one with Tap.Wrap for each response, hand it to the next handler, and Close it when that
// handler returns. Like any ResponseWriter it is used by one goroutine.
type Tee struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	tap     *Tap
	session string

	decided bool
	teeing  bool          // an uncompressed SSE response: flushed after every write and parsed
	dec     *Decoder      // nil when not teeing, or after the stream broke the size limit
	queue   *publishQueue // set when teeing
	closed  bool
}

// Wrap returns a Tee around w for a response of session. The caller must Close it, also when the
// next handler panics (reverse_proxy aborts a broken response that way): defer tee.Close().
func (tp *Tap) Wrap(w http.ResponseWriter, session string) *Tee {
	return &Tee{w: w, rc: http.NewResponseController(w), tap: tp, session: session}
}

// Header implements http.ResponseWriter.
func (t *Tee) Header() http.Header { return t.w.Header() }

// WriteHeader implements http.ResponseWriter. The final status and the headers set by then decide
// whether the response is teed.
func (t *Tee) WriteHeader(code int) {
	if !t.decided && (code >= 200 || code == http.StatusSwitchingProtocols) {
		t.decide(code)
	}
	t.w.WriteHeader(code)
}

// Write implements http.ResponseWriter: p goes to the client and is flushed before it is parsed.
func (t *Tee) Write(p []byte) (int, error) {
	if !t.decided {
		t.decide(http.StatusOK)
	}
	n, err := t.w.Write(p)
	if !t.teeing {
		return n, err
	}
	if err == nil {
		if ferr := t.rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
			err = ferr
		}
	}
	t.parse(p[:n])
	return n, err
}

// ReadFrom lets io.Copy write through the Tee rather than straight to the underlying writer. A
// response that is not teed keeps the underlying writer's own ReadFrom (sendfile).
func (t *Tee) ReadFrom(r io.Reader) (int64, error) {
	if !t.decided {
		t.decide(http.StatusOK)
	}
	if !t.teeing {
		if rf, ok := t.w.(io.ReaderFrom); ok {
			return rf.ReadFrom(r)
		}
		return io.Copy(writerOnly{t.w}, r)
	}
	return io.Copy(writerOnly{t}, r)
}

// writerOnly hides every method but Write, so that io.Copy does not call ReadFrom again.
type writerOnly struct{ io.Writer }

// FlushError flushes the response; http.ResponseController.Flush calls it.
func (t *Tee) FlushError() error { return t.rc.Flush() }

// Flush implements http.Flusher for handlers that assert it rather than use a ResponseController.
func (t *Tee) Flush() { _ = t.FlushError() } // a failed flush shows in the next write

// Unwrap returns the underlying writer, so that http.ResponseController reaches its Hijack,
// SetWriteDeadline and EnableFullDuplex.
func (t *Tee) Unwrap() http.ResponseWriter { return t.w }

// Close ends the tee: an event not finished by a blank line is discarded, as at the end of any
// stream, and events already parsed are still published. It is safe to call more than once.
func (t *Tee) Close() {
	if t.closed {
		return
	}
	t.closed = true
	if t.teeing {
		t.queue.close()
		t.tap.resign(t.session, t)
		t.tap.streams.Add(-1)
	}
}

// decide looks at the response as it is about to be sent and decides whether to tee it.
func (t *Tee) decide(status int) {
	t.decided = true
	h := t.w.Header()
	if status != http.StatusOK || !isEventStream(h.Get("Content-Type")) {
		return
	}
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		t.tap.notTeeable(t.session, enc)
		return
	}
	t.teeing = true
	t.dec = NewDecoder(t.tap.cfg.MaxEvent, t.enqueue)
	t.queue = newPublishQueue(t.tap, t.session)
	t.tap.streams.Add(1)
	go t.queue.run()
}

func (t *Tee) parse(p []byte) {
	if t.dec == nil {
		return
	}
	if err := t.dec.Feed(p); err != nil {
		// The client's stream goes on untouched; only the relay stops reading it.
		t.dec = nil
		t.tap.log.Warn("SSE response no longer teed", zap.String("session", t.session), zap.Error(err))
	}
}

// enqueue queues a parsed event for publishing.
func (t *Tee) enqueue(ev Event) {
	in := input(t.session, ev, t.tap.cfg.TypePath)
	if in.ID == "" && !t.tap.lead(t.session, t) {
		return
	}
	t.queue.push(in)
}
