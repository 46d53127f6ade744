package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The cluster tests run real nodes: each is the built Caddy (CADDY_BIN) in a process of its own,
// with its own Redis connections, as in a fleet. The Redis is the shared one at 127.0.0.1:6379,
// under a prefix of each test's own, or a redis-server the test starts when it must go down.

const sharedRedisAddr = "127.0.0.1:6379"

// caddyBinary returns CADDY_BIN, or skips t.
func caddyBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("CADDY_BIN")
	if bin == "" {
		t.Skip("SKIP: the cluster tests run two Caddy processes: set CADDY_BIN to Caddy built with the module (make test does)")
	}
	return bin
}

// sharedRedis returns a client of the shared Redis, or skips t when there is none.
func sharedRedis(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: sharedRedisAddr})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Skipf("SKIP: the cluster tests need Redis at %s: %v", sharedRedisAddr, err)
	}
	return c
}

// clusterPrefix returns a key prefix of t's own and deletes its keys when t ends. Call it before
// starting the nodes, so that they have stopped writing by then.
func clusterPrefix(t *testing.T, c *redis.Client) string {
	t.Helper()
	prefix := "relaytest:cluster:" + rand.Text()[:10] + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("listing the keys of %s: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				t.Errorf("deleting the keys of %s: %v", prefix, err)
			}
		}
	})
	return prefix
}

// node is one relay of the fleet: a Caddy process and the relay helpers pointed at it.
type node struct {
	*relay
	name string
	cmd  *exec.Cmd
	log  *tail
}

// cluster is two nodes on one Redis and prefix.
type cluster struct {
	a, b *node
}

// startCluster starts node A on redisURLA and node B on redisURLB (the same Redis; B may log in
// as another user), both with prefix, and waits until both are healthy.
func startCluster(t *testing.T, redisURLA, redisURLB, prefix string) *cluster {
	t.Helper()
	bin := caddyBinary(t)
	return &cluster{
		a: startNode(t, bin, "A", redisURLA, prefix),
		b: startNode(t, bin, "B", redisURLB, prefix),
	}
}

// startNode runs Caddy with the relay on a free port, its broker on redisURL, and waits until it
// answers health checks.
func startNode(t *testing.T, bin, name, redisURL, prefix string) *node {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	config := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:%d {
	handle /metrics {
		metrics
	}
	progress_relay {
		broker redis %s {
			prefix %s
		}
%s
	}
	respond "next handler" 200
}
`, port, redisURL, prefix, defaultWebhook)
	if err := os.WriteFile(cf, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{
		relay: &relay{t: t, port: port, base: fmt.Sprintf("http://127.0.0.1:%d", port)},
		name:  name,
		log:   &tail{max: 32 << 10},
	}
	n.cmd = exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
	// Caddy's storage and config folders, which it creates even with auto_https off, stay in
	// the test's own directory.
	n.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	n.cmd.Stdout = n.log
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("starting node %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		n.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// Go's client may have dialed a spare connection that never carried a request; the
		// server's graceful shutdown waits up to 5 s for such a connection (net/http counts it
		// idle only after 5 s in StateNew), which is not what this bound measures.
		http.DefaultClient.CloseIdleConnections()
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Errorf("node %s did not exit within 5 s of SIGTERM", name)
			n.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("--- node %s's last log lines ---\n%s", name, n.log.String())
		}
	})
	waitFor(t, "node "+name+" to serve", func() bool {
		select {
		case <-exited:
			t.Fatalf("node %s exited:\n%s", name, n.log.String())
		default:
		}
		status, _ := n.health()
		return status == http.StatusOK
	})
	return n
}

// health returns the status and answer of the node's health endpoint (0 if it did not answer).
func (n *node) health() (int, health) {
	var h health
	res, err := http.Get(n.base + "/relay/health")
	if err != nil {
		return 0, h
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		return 0, h
	}
	return res.StatusCode, h
}

// postUntilAccepted sends a signed webhook to n until it is answered 202, as a backend retries
// a 503: the events' IDs make the retries safe. It returns the 202 answer.
func (n *node) postUntilAccepted(body string) map[string]any {
	n.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, resp := n.post(body)
		switch {
		case status == http.StatusAccepted:
			return mustJSON(n.t, resp)
		case status != http.StatusServiceUnavailable:
			n.t.Fatalf("node %s answered the webhook %d %s", n.name, status, resp)
		case time.Now().After(deadline):
			n.t.Fatalf("node %s still answers 503 after 20 s: %s", n.name, resp)
		}
		time.Sleep(50 * time.Millisecond) // a backend's retry interval
	}
}

// pubsubConn is a connection in Redis's CLIENT LIST.
type pubsubConn struct {
	id   int64
	name string
}

// pubsubConnOf finds the pub/sub connection that the broker opened as user: the broker names it
// progress-relay:pubsub:<node>. Only one node logs in as user, so at most one matches.
func pubsubConnOf(t *testing.T, c *redis.Client, user string) (pubsubConn, bool) {
	t.Helper()
	list, err := c.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(list, "\n") {
		var conn pubsubConn
		ours := false
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				conn.id, _ = strconv.ParseInt(v, 10, 64)
			case "name":
				conn.name = v
			case "user":
				ours = v == user
			}
		}
		if ours && strings.HasPrefix(conn.name, "progress-relay:pubsub:") {
			return conn, true
		}
	}
	return pubsubConn{}, false
}

// tail keeps the last max bytes written to it: a node's log, shown when a test fails.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (l *tail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if over := len(l.b) - l.max; over > 0 {
		l.b = l.b[over:]
	}
	return len(p), nil
}

func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
