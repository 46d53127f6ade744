package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// StartPeer runs the Node.js peer (bench/peer-node) on a free loopback port.
func StartPeer(ctx context.Context, dir string, o Options) (*Server, error) {
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		return nil, fmt.Errorf("peer: %s has no node_modules: run (cd %s && npm ci)", dir, dir)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp(o.LogDir, "peer-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", "server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+port, "HOST=127.0.0.1", "HISTORY="+strconv.Itoa(o.History),
		"NODE_ENV=production")
	stop, exited, err := startProcess(cmd, filepath.Join(logDir, "peer.log"))
	if err != nil {
		return nil, err
	}
	s := &Server{Name: "peer", Addr: addr, PID: cmd.Process.Pid, SocketIO: true, stop: stop}
	if err := waitHealthy(ctx, s, exited, 30*time.Second); err != nil {
		stop()
		log, _ := os.ReadFile(filepath.Join(logDir, "peer.log"))
		return nil, fmt.Errorf("%w\n%s", err, tail(log, 2000))
	}
	return s, nil
}
