// Command importbackend is an example import backend for Progress Relay: the kind of service that
// imports users from a CSV into an identity directory and reports progress as it goes.
//
// POST /api/import takes a CSV of users (text/csv, or multipart/form-data with a "file" field)
// or a JSON list, checks every row (missing fields, malformed emails and duplicate users fail
// that row and never the import), imports the rows at -pace into an in-memory directory, and
// reports progress events (processed, total, created, failed, and the row's result), then a
// complete event with a summary, or an error event on a fatal failure. It answers
// {"sessionId", "token"?, "total", "start"?}: with ?start=deferred the import waits for
// POST /api/import/{session}/start, so that a page can subscribe before the first event.
//
// Progress goes out in one of two ways (-report):
//
//	webhook   signed POSTs to the relay (-relay-url; HMAC-SHA256 of the body with -secret or
//	          $PROGRESS_RELAY_SECRET in X-Relay-Signature: sha256=<hex>); configure the relay's
//	          webhook with id_field eventId so that retries are dropped as duplicates
//	sse       a Server-Sent-Events stream at GET /api/import/progress/{session}, for the relay's
//	          upstream_sse pull or tee_sse, as the Node.js backend it replaces did
//
// Run:
//
//	go run ./examples/importbackend -report webhook -relay-url http://127.0.0.1:8080/hooks/progress -secret s3cret
//	curl -T examples/importbackend/testdata/users.csv -H 'Content-Type: text/csv' http://127.0.0.1:9090/api/import
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/progress-relay/progress-relay/tokens"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "importbackend:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:9090", "address to serve the import API on")
	mode := flag.String("report", "webhook", `how progress goes out: "webhook" (POSTs to the relay) or "sse" (a stream at /api/import/progress/{session})`)
	relayURL := flag.String("relay-url", "http://127.0.0.1:8080/hooks/progress", "the relay's webhook URL (-report webhook)")
	secret := flag.String("secret", os.Getenv("PROGRESS_RELAY_SECRET"), "webhook signing secret (default $PROGRESS_RELAY_SECRET); empty sends unsigned webhooks")
	pace := flag.Duration("pace", 50*time.Millisecond, "pause before each row, so that progress is visible (per import: ?pace=<ms>)")
	failAfter := flag.Int("fail-after", 0, "simulate a fatal failure after this many rows; 0 never (per import: ?fail_after=<rows>)")
	maxRows := flag.Int("max-rows", 10000, "rows per import")
	maxBody := flag.Int64("max-body", 10<<20, "bytes per upload")
	capacity := flag.Int("capacity", 1000000, "users the in-memory directory holds; an import that fills it fails")
	keep := flag.Duration("keep", 10*time.Minute, "how long a finished session stays readable (SSE) and a deferred import startable")
	subscriberSecret := flag.String("subscriber-secret", os.Getenv("PROGRESS_RELAY_SUBSCRIBER_SECRET"), "the relay's subscriber_secret (default $PROGRESS_RELAY_SUBSCRIBER_SECRET): POST /api/import then returns a token for the new session")
	tokenTTL := flag.Duration("token-ttl", time.Hour, "how long a subscriber token is valid")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	jobs, cancelJobs := context.WithCancel(context.Background())
	defer cancelJobs()

	s := &server{
		cfg: settings{Pace: *pace, FailAfter: *failAfter, MaxRows: *maxRows, MaxBody: *maxBody, Keep: *keep},
		dir: newDirectory(*capacity), log: log, ctx: jobs, now: time.Now, waiting: map[string]*job{},
	}
	if *subscriberSecret != "" {
		key := []byte(*subscriberSecret)
		s.mintToken = func(session string) (string, error) {
			return tokens.Mint(key, session, time.Now().Add(*tokenTTL)), nil
		}
	}
	var hooks *webhookReporter
	switch *mode {
	case "webhook":
		if *secret == "" {
			log.Warn("no -secret: webhooks go out unsigned; the relay must accept them as insecure")
		}
		hooks = newWebhookReporter(jobs, *relayURL, *secret, log)
		s.out = hooks
	case "sse":
		s.feed = newSSEFeed(*keep)
		s.out = s.feed
	default:
		return fmt.Errorf(`-report %q: want "webhook" or "sse"`, *mode)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	// The address goes to stdout alone, so that scripts starting this with -listen :0 can read it.
	fmt.Printf("importbackend listening on http://%s (progress by %s)\n", ln.Addr(), *mode)
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cancelJobs() // imports stop, SSE streams end with their sessions
	s.abandonAll()
	err = srv.Shutdown(shutdownCtx)
	s.running.Wait()
	if hooks != nil {
		hooks.wait()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
