package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

var caddyfile = template.Must(template.New("Caddyfile").Parse(`{
	admin off
	persist_config off
	auto_https off
	log {
		level ERROR
	}
}

http://{{.Addr}} {
	progress_relay {
		webhook /hooks/progress {
			insecure
			max_events 10000
			max_body 64MiB
		}
{{- if .SocketIO}}
		socketio /socket.io/
{{- end}}
		history {{.History}}
		queue_size {{.Queue}}
		write_timeout 30s
		max_sessions 1000000
		max_subscribers 1000000
	}
}
`))

// RelayCaddyfile is the relay's benchmark configuration on addr.
func RelayCaddyfile(addr string, o Options) []byte {
	var b bytes.Buffer
	err := caddyfile.Execute(&b, struct {
		Addr string
		Options
	}{addr, o})
	if err != nil {
		panic("Caddyfile template: " + err.Error()) // the template is fixed
	}
	return b.Bytes()
}

// noSocketIO recognises a relay built before the socketio subdirective existed.
func noSocketIO(msg string) bool {
	return strings.Contains(msg, "unknown subdirective") && strings.Contains(msg, "socketio")
}

// StartRelay runs the Caddy binary at caddyPath with the relay on a free loopback port. When the
// binary has no Socket.IO support yet, the relay runs without it and SocketIO is false.
func StartRelay(ctx context.Context, caddyPath string, o Options) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.LogDir, "relay-")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "Caddyfile")
	s := &Server{Name: "relay", Addr: addr, SocketIO: o.SocketIO}
	if o.SocketIO {
		if err := os.WriteFile(conf, RelayCaddyfile(addr, o), 0o644); err != nil {
			return nil, err
		}
		out, err := exec.CommandContext(ctx, caddyPath, "adapt", "--config", conf, "--adapter", "caddyfile").CombinedOutput()
		if err != nil {
			if !noSocketIO(string(out)) {
				return nil, fmt.Errorf("caddy adapt: %v: %s", err, out)
			}
			s.SocketIO, o.SocketIO = false, false
			s.Note = "this relay build has no socketio subdirective"
		}
	}
	if err := os.WriteFile(conf, RelayCaddyfile(addr, o), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(caddyPath, "run", "--config", conf, "--adapter", "caddyfile")
	// Caddy's data and config directories go to the scratch directory, not the user's.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	stop, exited, err := startProcess(cmd, filepath.Join(dir, "caddy.log"))
	if err != nil {
		return nil, err
	}
	s.PID, s.stop = cmd.Process.Pid, stop
	if err := waitHealthy(ctx, s, exited, 30*time.Second); err != nil {
		stop()
		log, _ := os.ReadFile(filepath.Join(dir, "caddy.log"))
		return nil, fmt.Errorf("%w\n%s", err, tail(log, 2000))
	}
	return s, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
