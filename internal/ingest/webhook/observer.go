package webhook

import "net/http"

// Observer hears what the handler did with each webhook, so that the caller can count and log.
// Methods are called on the request's goroutine and must be safe for concurrent use. Reasons
// never contain the secret, the bearer token or a signature.
type Observer interface {
	// Accepted reports a published webhook: events newly sequenced and duplicates dropped.
	Accepted(r *http.Request, accepted, duplicates int)
	// Rejected reports a refused webhook with the status answered and why. For a 500 the reason
	// holds the internal detail that the client was not shown.
	Rejected(r *http.Request, status int, reason string)
}

type nopObserver struct{}

func (nopObserver) Accepted(*http.Request, int, int)    {}
func (nopObserver) Rejected(*http.Request, int, string) {}
