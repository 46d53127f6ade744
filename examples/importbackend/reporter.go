package main

// reporter carries a session's events out of the backend, in the order they are reported.
type reporter interface {
	// open prepares a session before its first event, so that subscribers may attach early.
	open(session string)
	// report passes on the next event of session; it must not wait on the network.
	report(ev emitted, session string)
	// finish says no event follows in session (after its terminal event, or at shutdown).
	finish(session string)
}
