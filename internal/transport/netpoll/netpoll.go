// Package netpoll tells connections when their peers have sent something, from one epoll
// instance and one goroutine for the whole process, so that a connection that is mostly idle
// (a subscriber whose client sends nothing but pongs) needs no goroutine blocked in a read.
// Go's runtime keeps the sockets in its own epoll set as well; a socket may be in several.
package netpoll

import "errors"

// ErrNothing is what Read returns when the socket had nothing to read after all.
var ErrNothing = errors.New("netpoll: nothing to read")
