package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// signatureHeader carries the HMAC-SHA256 of the body, as the relay's webhook expects.
const signatureHeader = "X-Relay-Signature"

// maxBatch bounds the events sent in one webhook; the relay accepts a JSON array as one batch.
const maxBatch = 100

// webhookReporter POSTs each session's events to the relay, signed, in order. Events that queue
// up while a request is in flight go out together as one JSON array. Failed sends are retried
// with the same event IDs, so the relay drops any it already has.
type webhookReporter struct {
	url    string
	secret []byte // nil: unsigned (the relay must be configured "insecure")
	client *http.Client
	log    *slog.Logger
	retry  retryPolicy
	ctx    context.Context // ends retries at shutdown

	mu     sync.Mutex // guards queues
	queues map[string]*webhookQueue
	wg     sync.WaitGroup // one per sender
}

// retryPolicy paces retries of a failed webhook.
type retryPolicy struct {
	initial, max time.Duration // backoff between attempts
	giveUp       time.Duration // a batch still failing after this long is dropped
}

// webhookQueue is one session's events waiting to be sent; its sender goroutine drains it.
type webhookQueue struct {
	mu      sync.Mutex // guards pending and closed
	pending []emitted
	closed  bool
	wake    chan struct{} // capacity 1: a send means "look again"
}

func newWebhookReporter(ctx context.Context, url string, secret string, log *slog.Logger) *webhookReporter {
	w := &webhookReporter{
		url:    url,
		client: &http.Client{Timeout: 15 * time.Second},
		log:    log,
		retry:  retryPolicy{initial: 200 * time.Millisecond, max: 5 * time.Second, giveUp: time.Minute},
		ctx:    ctx,
		queues: map[string]*webhookQueue{},
	}
	if secret != "" {
		w.secret = []byte(secret)
	}
	return w
}

func (w *webhookReporter) open(session string) {
	q := &webhookQueue{wake: make(chan struct{}, 1)}
	w.mu.Lock()
	w.queues[session] = q
	w.mu.Unlock()
	w.wg.Add(1)
	go w.send(session, q)
}

func (w *webhookReporter) report(ev emitted, session string) {
	if q := w.queue(session); q != nil {
		q.mu.Lock()
		q.pending = append(q.pending, ev)
		q.mu.Unlock()
		q.poke()
	}
}

func (w *webhookReporter) finish(session string) {
	q := w.queue(session)
	if q == nil {
		return
	}
	w.mu.Lock()
	delete(w.queues, session)
	w.mu.Unlock()
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.poke()
}

// wait blocks until every sender has delivered or given up.
func (w *webhookReporter) wait() { w.wg.Wait() }

func (w *webhookReporter) queue(session string) *webhookQueue {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queues[session]
}

func (q *webhookQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes up to maxBatch events, and says whether the queue is closed and empty.
func (q *webhookQueue) take() ([]emitted, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pending), maxBatch)
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	return batch, q.closed && len(q.pending) == 0
}

// send is the session's sender: it posts batches in order until the session is finished.
func (w *webhookReporter) send(session string, q *webhookQueue) {
	defer w.wg.Done()
	for {
		batch, last := q.take()
		if len(batch) > 0 {
			if stop := w.deliver(session, batch); stop {
				return
			}
		}
		if last {
			return
		}
		if len(batch) == 0 {
			select {
			case <-q.wake:
			case <-w.ctx.Done():
				return
			}
		}
	}
}

// deliver posts one batch, retrying what may succeed later. It reports true when nothing more
// should be sent for the session (the relay says it has finished, or the backend is stopping).
func (w *webhookReporter) deliver(session string, batch []emitted) bool {
	body := encodeBatch(batch)
	delay := w.retry.initial
	deadline := time.Now().Add(w.retry.giveUp)
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := w.post(body)
		switch {
		case err == nil && status/100 == 2:
			return false
		case err == nil && status == http.StatusConflict:
			w.log.Warn("relay says the session has already finished; dropping its remaining events", "session", session)
			return true
		case err == nil && status != http.StatusTooManyRequests && status < 500:
			w.log.Error("relay refused a webhook; dropping it", "session", session, "status", status, "events", len(batch))
			return false
		}
		if err == nil {
			err = fmt.Errorf("relay answered %d", status)
		}
		if time.Now().After(deadline) {
			w.log.Error("webhook still failing; dropping it", "session", session, "attempts", attempt, "events", len(batch), "err", err)
			return false
		}
		wait := max(delay, retryAfter)
		w.log.Warn("webhook failed; retrying", "session", session, "attempt", attempt, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-w.ctx.Done():
			return true
		}
		delay = min(delay*2, w.retry.max)
	}
}

// post sends body once and returns the status and any Retry-After the relay asked for.
func (w *webhookReporter) post(body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("webhook request to %s: %w", w.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if w.secret != nil {
		req.Header.Set(signatureHeader, sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("webhook to %s: %w", w.url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = min(time.Duration(s)*time.Second, w.retry.max)
	}
	return resp.StatusCode, retryAfter, nil
}

// sign is the X-Relay-Signature value for body: sha256=<hex of HMAC-SHA256(secret, body)>.
func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// encodeBatch joins events into a JSON array, or sends a lone event as an object, which is what
// a relay configured for single events expects.
func encodeBatch(batch []emitted) []byte {
	if len(batch) == 1 {
		return batch[0].JSON
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, ev := range batch {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(ev.JSON)
	}
	b.WriteByte(']')
	return b.Bytes()
}
