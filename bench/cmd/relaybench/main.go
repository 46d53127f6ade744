// Command relaybench drives the relay (or the Node.js peer it replaces) over loopback with
// subscribers on every browser transport and a webhook publisher, and reports deliveries per
// second, publish→receive latency, loss and duplicates, and the server's CPU time and memory.
//
//	go run ./bench/cmd/relaybench -mode ci                          # correctness, in-process relay, < 30 s
//	go run ./bench/cmd/relaybench -mode short -target relay,peer -caddy ./caddy -out bench/results/raw.jsonl
//	go run ./bench/cmd/relaybench -mode full  -target relay,peer -caddy ./caddy -out bench/results/raw.jsonl
//	go run ./bench/cmd/relaybench -mode custom -scenario broadcast -transports websocket -subs 1000 -rate 200
//
// Every scenario starts a fresh server, so that CPU seconds and peak RSS are the scenario's own.
// bench/run.sh runs the short or full mode against both and renders the results.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/progress-relay/progress-relay/bench/internal/metrics"
	"github.com/progress-relay/progress-relay/bench/internal/scenario"
	"github.com/progress-relay/progress-relay/bench/internal/server"
	"github.com/progress-relay/progress-relay/bench/internal/subscriber"
)

func main() {
	os.Exit(run())
}

// plan is what a mode runs.
type plan struct {
	scenarios        []string
	transports       []string
	broadcastSubs    []int
	deliveriesPerSec float64 // broadcast rate = this / subscribers
	duration         time.Duration
	searchTransports []string
	searchSubs       []int
	searchStart      float64
	searchStep       time.Duration
	searchRefine     int
	importSessions   int
	importRate       float64
	importDuration   time.Duration
	idle             map[string]int
	ingestBatches    []int
	ingestDuration   time.Duration
}

// plans are the modes. Rates are modest because on the 2-core machine the load tool and the
// server share the cores, and every write and read is a syscall that costs tens of microseconds in
// its VM: 20,000 deliveries/s keep the client well clear of saturating; the rate search finds
// each server's limit.
var plans = map[string]plan{
	"short": {
		scenarios:  []string{"broadcast", "search", "imports", "idle", "ingest"},
		transports: subscriber.All, broadcastSubs: []int{1000}, deliveriesPerSec: 20000, duration: 3 * time.Second,
		searchTransports: []string{subscriber.WebSocket, subscriber.SocketIO}, searchSubs: []int{1000},
		searchStart: 10, searchStep: 2 * time.Second, searchRefine: 1,
		importSessions: 200, importRate: 10, importDuration: 4 * time.Second,
		idle:          map[string]int{subscriber.WebSocket: 2000, subscriber.SSE: 2000, subscriber.SocketIO: 500},
		ingestBatches: []int{1, 100}, ingestDuration: 3 * time.Second,
	},
	"full": {
		scenarios:  []string{"broadcast", "search", "imports", "idle", "ingest"},
		transports: subscriber.All, broadcastSubs: []int{1000, 5000}, deliveriesPerSec: 20000, duration: 10 * time.Second,
		searchTransports: subscriber.All, searchSubs: []int{1000, 100},
		searchStart: 10, searchStep: 4 * time.Second, searchRefine: 2,
		importSessions: 2000, importRate: 10, importDuration: 20 * time.Second,
		idle:          map[string]int{subscriber.WebSocket: 10000, subscriber.SSE: 10000, subscriber.SocketIO: 2000},
		ingestBatches: []int{1, 100}, ingestDuration: 10 * time.Second,
	},
}

func run() int {
	var (
		mode       = flag.String("mode", "short", "ci, short, full, or custom (the flags below choose)")
		targets    = flag.String("target", "relay", "systems to measure, comma-separated: relay, peer")
		caddyPath  = flag.String("caddy", "./caddy", "Caddy binary with the relay (from ./xcaddy.sh); \"inproc\" runs the relay from this checkout inside the tool")
		peerDir    = flag.String("peer-dir", "bench/peer-node", "the Node.js peer (npm ci done)")
		addr       = flag.String("addr", "", "measure an already running server at host:port instead of starting one (with -pid)")
		pid        = flag.Int("pid", 0, "process to read CPU and memory from, with -addr")
		out        = flag.String("out", "", "append JSON-lines records to this file")
		history    = flag.Int("history", 5000, "events kept per session in streaming scenarios (relay history, peer poll backlog)")
		scenarios  = flag.String("scenario", "", "custom: broadcast, search, imports, idle, ingest (comma-separated)")
		transports = flag.String("transports", strings.Join(subscriber.All, ","), "custom: transports for broadcast, search and idle")
		subs       = flag.Int("subs", 1000, "custom: subscribers per transport (broadcast, search), connections (idle)")
		rate       = flag.Float64("rate", 100, "custom: broadcast events/s; search start rate")
		batch      = flag.Int("batch", 1, "custom: events per webhook (broadcast, ingest)")
		duration   = flag.Duration("duration", 5*time.Second, "custom: measurement length (search: per step)")
		sessions   = flag.Int("sessions", 2000, "custom: imports sessions")
		limit      = flag.Duration("limit", 90*time.Minute, "stop everything after this long")
		cpuProfile = flag.String("cpuprofile", "", "write the tool's own CPU profile here (with -caddy inproc it includes the relay)")
		heapProf   = flag.String("heapprofile", "", "write the tool's heap profile to <this>.<transport> in the idle scenario with every connection open, and to <this>.imports after the imports load (with -caddy inproc it includes the relay)")
	)
	flag.Parse()

	if *heapProf != "" {
		runtime.MemProfileRate = 4096 // per-connection structures are a few hundred bytes
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	ctx, cancelLimit := context.WithTimeout(ctx, *limit)
	defer cancelLimit()

	logDir, err := os.MkdirTemp("", "relaybench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(logDir)

	var jsonOut io.Writer
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer f.Close()
		jsonOut = f
	}
	sink := scenario.NewSink(jsonOut, os.Stdout)

	if *mode == "ci" {
		// The relay from this checkout, in this process, unless a Caddy binary is named.
		ciCaddy := "inproc"
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "caddy" {
				ciCaddy = f.Value.String()
			}
		})
		return runCI(ctx, sink, ciCaddy, *history, logDir)
	}
	p, ok := plans[*mode]
	if *mode == "custom" {
		p, ok = customPlan(*scenarios, *transports, *subs, *rate, *duration, *sessions, *batch), true
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown mode %q: ci, short, full or custom\n", *mode)
		return 2
	}
	var envs []*scenario.Env
	for _, target := range strings.Split(*targets, ",") {
		env := &scenario.Env{Target: target, Paths: subscriber.DefaultPaths, Hook: "/hooks/progress",
			Sink: sink, Log: os.Stdout, History: *history, HeapProfile: *heapProf}
		switch {
		case *addr != "":
			env.Start = attached(target, *addr, *pid)
		case target == "relay" && *caddyPath == "inproc":
			env.Start = server.StartRelayInProcess
		case target == "relay":
			env.Start = func(ctx context.Context, o server.Options) (*server.Server, error) {
				o.LogDir = logDir
				return server.StartRelay(ctx, *caddyPath, o)
			}
		case target == "peer":
			env.Start = func(ctx context.Context, o server.Options) (*server.Server, error) {
				o.LogDir = logDir
				return server.StartPeer(ctx, *peerDir, o)
			}
		default:
			fmt.Fprintf(os.Stderr, "unknown target %q: relay or peer\n", target)
			return 2
		}
		envs = append(envs, env)
	}
	start := time.Now()
	c0 := metrics.SelfCPU()
	runPlan(ctx, envs, p, *batch)
	fmt.Printf("# done in %s; the tool used %.1f CPU-seconds, peak RSS %.0f MiB\n",
		time.Since(start).Round(time.Second), (metrics.SelfCPU() - c0).Seconds(), float64(metrics.SelfPeakRSS())/(1<<20))
	return 0
}

// runPlan runs every scenario of p; each measurement runs on every target in turn, so that
// a change in the machine's background load affects both alike.
func runPlan(ctx context.Context, envs []*scenario.Env, p plan, batch int) {
	each := func(f func(*scenario.Env)) {
		for _, e := range envs {
			if ctx.Err() == nil {
				f(e)
			}
		}
	}
	for _, sc := range p.scenarios {
		switch sc {
		case "broadcast":
			for _, n := range p.broadcastSubs {
				for _, t := range p.transports {
					each(func(e *scenario.Env) { e.Broadcast(ctx, t, n, p.deliveriesPerSec/float64(n), batch, p.duration) })
				}
			}
		case "search":
			for _, n := range p.searchSubs {
				for _, t := range p.searchTransports {
					each(func(e *scenario.Env) { e.Search(ctx, t, n, p.searchStart, p.searchStep, p.searchRefine, 14) })
				}
			}
		case "imports":
			each(func(e *scenario.Env) { e.Imports(ctx, p.importSessions, p.importRate, p.importDuration) })
		case "idle":
			for _, t := range subscriber.All {
				if n := p.idle[t]; n > 0 {
					each(func(e *scenario.Env) { e.Idle(ctx, t, n) })
				}
			}
		case "ingest":
			for _, b := range p.ingestBatches {
				each(func(e *scenario.Env) { e.Ingest(ctx, b, p.ingestDuration) })
			}
		default:
			fmt.Fprintf(os.Stderr, "unknown scenario %q\n", sc)
		}
	}
}

func customPlan(scenarios, transports string, subs int, rate float64, d time.Duration, sessions, batch int) plan {
	ts := strings.Split(transports, ",")
	idle := map[string]int{}
	for _, t := range ts {
		idle[t] = subs
	}
	return plan{
		scenarios: strings.Split(scenarios, ","), transports: ts,
		broadcastSubs: []int{subs}, deliveriesPerSec: rate * float64(subs), duration: d,
		searchTransports: ts, searchSubs: []int{subs}, searchStart: rate, searchStep: d, searchRefine: 2,
		importSessions: sessions, importRate: 10, importDuration: d,
		idle: idle, ingestBatches: []int{batch}, ingestDuration: d,
	}
}

// attached measures a server someone else started: every scenario reuses it.
func attached(name, addr string, pid int) func(context.Context, server.Options) (*server.Server, error) {
	return func(context.Context, server.Options) (*server.Server, error) {
		if pid == 0 {
			return nil, fmt.Errorf("-addr needs -pid, the server's process ID")
		}
		return &server.Server{Name: name, Addr: addr, PID: pid, SocketIO: true,
			Note: "attached to pid " + strconv.Itoa(pid)}, nil
	}
}

// runCI checks loss and duplicates on a tiny load, with the relay in this process unless a Caddy
// binary is named, and prints a closing "N passed, N failed" line.
func runCI(ctx context.Context, sink *scenario.Sink, caddyPath string, history int, logDir string) int {
	env := &scenario.Env{Target: "relay", Paths: subscriber.DefaultPaths, Hook: "/hooks/progress",
		Sink: sink, Log: os.Stdout, History: history}
	env.Start = server.StartRelayInProcess
	if caddyPath != "inproc" {
		env.Start = func(ctx context.Context, o server.Options) (*server.Server, error) {
			o.LogDir = logDir
			return server.StartRelay(ctx, caddyPath, o)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	start := time.Now()
	passed, failed := env.CI(ctx, 24, 3, 100)
	fmt.Printf("# ci finished in %s\n", time.Since(start).Round(time.Millisecond))
	fmt.Printf("relaybench: %d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		return 1
	}
	return 0
}
