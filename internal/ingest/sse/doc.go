// Package sse takes Server-Sent Events in from an import backend.
//
// It has three parts:
//   - a parser of the WHATWG event-stream format ("Interpreting an event stream" in the HTML
//     standard), usable as a pull Parser over an io.Reader or a push Decoder fed byte slices;
//   - a Puller, which opens one upstream connection per watched session, publishes what it reads and
//     reconnects with Last-Event-ID, as a browser's EventSource would;
//   - a Tap, whose Tee wraps an http.ResponseWriter to publish the events of an SSE response that
//     another handler (a reverse proxy) streams to a client, without changing or delaying its bytes.
//
// Nothing here knows Caddy: the Caddy glue builds these from its configuration.
package sse
