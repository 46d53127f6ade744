// Package wire holds the load tool's minimal HTTP/1.1 and WebSocket clients. They are written for
// the benchmark's needs only: no allocation per received frame or line, one goroutine per
// connection, and source addresses spread over 127.0.0.0/8 so that a run can open more
// connections than one address has ephemeral ports.
package wire

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// PortsPerSource is how many connections the dialer opens from one source address before it
// moves to the next: below Linux's default ephemeral range (32768–60999, about 28k ports), with
// room for sockets still in TIME_WAIT from an earlier run.
const PortsPerSource = 20000

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT: with it, binding a source address leaves the
// port to connect(), which can then share a port between different destinations.
const ipBindAddressNoPort = 24

// Dialer opens TCP connections to one server from a rotating set of loopback source addresses.
type Dialer struct {
	Addr    string // host:port of the server
	sources []net.IP
	n       atomic.Uint64
	timeout time.Duration
}

// NewDialer returns a dialer to addr that spreads connections over enough source addresses
// (127.0.0.1, 127.0.0.2, …) for conns connections. A non-loopback addr always uses the default.
func NewDialer(addr string, conns int) (*Dialer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", addr, err)
	}
	d := &Dialer{Addr: addr, timeout: 10 * time.Second}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return d, nil
	}
	k := max(1, (conns+PortsPerSource-1)/PortsPerSource)
	for i := range k {
		d.sources = append(d.sources, net.IPv4(127, 0, 0, byte(1+i)))
	}
	return d, nil
}

// Sources is the number of source addresses in rotation (0: the system's choice).
func (d *Dialer) Sources() int { return len(d.sources) }

// Dial opens one connection.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	if len(d.sources) > 0 {
		i := d.n.Add(1) / PortsPerSource % uint64(len(d.sources))
		nd.LocalAddr = &net.TCPAddr{IP: d.sources[i]}
		nd.Control = bindNoPort
	}
	c, err := nd.DialContext(ctx, "tcp", d.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", d.Addr, err)
	}
	return c, nil
}

func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
