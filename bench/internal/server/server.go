// Package server starts the systems under test (the relay as a Caddy process or in this process,
// the Node.js peer) and talks to their health endpoints.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Options configure a server for one scenario.
type Options struct {
	History  int  // events kept per session (relay history; the peer's long-poll backlog)
	Queue    int  // relay queue per subscriber: big enough that nothing collapses
	SocketIO bool // serve Socket.IO
	LogDir   string
}

// Server is a running system under test.
type Server struct {
	Name     string // "relay" or "peer"
	Addr     string // host:port
	PID      int    // the process to measure
	SocketIO bool   // it serves Socket.IO
	Note     string // anything the report should say about how it runs
	stop     func() error
}

// Stop ends the server.
func (s *Server) Stop() error {
	if s.stop == nil {
		return nil
	}
	err := s.stop()
	s.stop = nil
	return err
}

// Health is the part of /relay/health the tool reads.
type Health struct {
	Subscribers map[string]int `json:"subscribers"`
	Collapsed   *uint64        `json:"collapsed,omitempty"` // when the relay reports it
}

var healthClient = &http.Client{Timeout: 5 * time.Second}

// Health reads the server's health endpoint.
func (s *Server) Health(ctx context.Context) (Health, error) {
	var h Health
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr+"/relay/health", nil)
	if err != nil {
		return h, err
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return h, err
	}
	if resp.StatusCode != 200 {
		return h, fmt.Errorf("health: status %d: %.200s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return h, fmt.Errorf("health: %w", err)
	}
	return h, nil
}

// WaitSubscribers waits until the server counts at least want[transport] subscribers for each
// transport, or limit passes.
func (s *Server) WaitSubscribers(ctx context.Context, want map[string]int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last Health
	for {
		h, err := s.Health(ctx)
		if err == nil {
			last = h
			ok := true
			for t, n := range want {
				if h.Subscribers[t] < n {
					ok = false
				}
			}
			if ok {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: subscribers %v after %s, want %v (last error: %v)", s.Name, last.Subscribers, limit, want, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitHealthy waits for the health endpoint to answer, or the process to exit.
func waitHealthy(ctx context.Context, s *Server, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := s.Health(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer on %s within %s: %w", s.Name, s.Addr, limit, err)
		}
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited: %v", s.Name, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startProcess runs cmd with its output in logPath and returns a stop function that interrupts it
// and waits (killing it after a grace period), and a channel that reports an early exit.
func startProcess(cmd *exec.Cmd, logPath string) (func() error, <-chan error, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close(); close(exited) }()
	stop := func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
			return nil
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%s did not stop within 10s: killed", cmd.Path)
		}
	}
	return stop, exited, nil
}
