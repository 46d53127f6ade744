package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/progress-relay/progress-relay/bench/internal/scenario"
	"github.com/progress-relay/progress-relay/bench/internal/subscriber"
)

// Targets of issue 8, on 2 cores.
const (
	targetWSvsPeer   = 3.3 // WebSocket deliveries per server CPU-second, relay ÷ Node peer
	centrifugoWS     = 590000
	targetSIOvsPeer  = 2.0
	targetRateVsPeer = 3.0
	searchLimitMs    = 50
)

var idleTargetKiB = map[string]float64{subscriber.WebSocket: 8, subscriber.SSE: 8, subscriber.SocketIO: 24}

// records indexes the records of one run.
type records []*scenario.Record

// last returns the last record matching, or nil.
func (rs records) last(target, sc, transport string, subs int) *scenario.Record {
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if r.Target == target && r.Scenario == sc && (transport == "*" || r.Transport == transport) &&
			(subs < 0 || r.Subscribers == subs) {
			return r
		}
	}
	return nil
}

func (rs records) where(f func(*scenario.Record) bool) records {
	var out records
	for _, r := range rs {
		if f(r) {
			out = append(out, r)
		}
	}
	return out
}

func report(all []*scenario.Record, machine, cmd string) string {
	rs := records(all)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Progress Relay benchmark: the relay against the Node.js stack it replaces\n\n")
	w("- Machine: %s\n", machine)
	if cmd != "" {
		w("- Command: `%s`\n", cmd)
	}
	w("- Records: `raw.jsonl`, %d measurements from %s to %s. Each scenario ran on a freshly started server; "+
		"load tool and servers share the same cores.\n", len(rs), rs[0].Time, rs[len(rs)-1].Time)
	w("- Relay: `./caddy` built by `./xcaddy.sh`, memory broker, queues sized so that nothing collapses. " +
		"Peer: `bench/peer-node` (Express 5, socket.io 4, ws 8) on Node.js, one process.\n\n")
	w("![p99 latency against publish rate, deliveries per CPU-second, memory per idle connection](chart.svg)\n\n")

	targets(&b, rs)
	broadcast(&b, rs)
	search(&b, rs)
	imports(&b, rs)
	idle(&b, rs)
	ingest(&b, rs)
	clean(&b, rs)
	return b.String()
}

func targets(b *strings.Builder, rs records) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Targets (issue 8), as measured in this run\n\n")
	w("The advantage column is relay ÷ peer for throughput and rates, peer ÷ relay for memory: above 1 favours the relay.\n\n")
	w("| target | relay | Node peer | advantage | verdict |\n|---|---|---|---|---|\n")
	for _, t := range []struct {
		transport string
		want      float64
		extra     string
	}{{subscriber.WebSocket, targetWSvsPeer, fmt.Sprintf(" (Centrifugo with history, per the issue: %s)", num(centrifugoWS))},
		{subscriber.SocketIO, targetSIOvsPeer, ""}} {
		rel, peer := bestPerCPU(rs, "relay", t.transport), bestPerCPU(rs, "peer", t.transport)
		w("| %s deliveries per server CPU-second ≥ %.1f× the peer%s | %s | %s | %s | %s |\n", t.transport, t.want, t.extra,
			perCPUCell(rel), perCPUCell(peer), ratioOf(val(rel), val(peer)), verdict(val(rel), val(peer), t.want))
	}
	for _, subs := range subsList(rs, "search-max") {
		for _, t := range subscriber.All {
			rel, peer := rs.last("relay", "search-max", t, subs), rs.last("peer", "search-max", t, subs)
			if rel == nil && peer == nil {
				continue
			}
			w("| %s: highest publish rate with p99 ≤ %d ms (1 session, %s subscribers) ≥ %.0f× the peer | %s | %s | %s | %s |\n",
				t, searchLimitMs, num(float64(subs)), targetRateVsPeer, rateCell(rel), rateCell(peer),
				ratioOf(sustained(rel), sustained(peer)), verdict(sustained(rel), sustained(peer), targetRateVsPeer))
		}
	}
	for _, t := range []string{subscriber.WebSocket, subscriber.SSE, subscriber.SocketIO} {
		rel, peer := rs.last("relay", "idle", t, -1), rs.last("peer", "idle", t, -1)
		if rel == nil || rel.Conns == 0 {
			continue
		}
		v := "missed"
		if rel.RSSPerConnKiB <= idleTargetKiB[t] {
			v = "met"
		}
		w("| RSS per idle %s connection ≤ %.0f KiB | %.1f KiB | %s | %s | %s |\n", t, idleTargetKiB[t], rel.RSSPerConnKiB,
			kib(peer), ratioOf(rssOf(peer), rel.RSSPerConnKiB), v)
	}
	bad := rs.where(func(r *scenario.Record) bool { return streaming(r) && !r.Clean() })
	v := "met"
	if len(bad) > 0 {
		v = fmt.Sprintf("missed in %d measurement(s), listed at the end", len(bad))
	}
	w("| zero events lost or duplicated in every scenario | %s | %s | | %s |\n\n",
		cleanCell(rs, "relay"), cleanCell(rs, "peer"), v)
	w("Deliveries per CPU-second are the best of the broadcast run and the rate-search steps that " +
		"met the latency bound (a server packs more events per write as the rate rises); the cell says where it was measured.\n\n")
}

// perCPU is a deliveries-per-CPU-second figure and where it came from.
type perCPU struct {
	v     float64
	where string
}

// bestPerCPU is the highest deliveries per server CPU-second of a target on a transport among
// clean measurements with p99 within the search bound.
func bestPerCPU(rs records, target, transport string) *perCPU {
	var best *perCPU
	for _, r := range rs {
		if r.Target != target || r.Transport != transport || (r.Scenario != "broadcast" && r.Scenario != "search") {
			continue
		}
		if !r.OK || r.P99Ms > searchLimitMs || r.ServerCPUSec < 0.05 || (r.Scenario == "search" && r.Note != "") {
			continue
		}
		if best == nil || r.PerServerCPUSec > best.v {
			best = &perCPU{v: r.PerServerCPUSec, where: fmt.Sprintf("%s, %d subs, %s ev/s", r.Scenario, r.Subscribers, num(r.Rate))}
		}
	}
	return best
}

func val(p *perCPU) float64 {
	if p == nil {
		return 0
	}
	return p.v
}

func perCPUCell(p *perCPU) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s (%s)", num(p.v), p.where)
}

func sustained(r *scenario.Record) float64 {
	if r == nil {
		return 0
	}
	return r.SustainedRate
}

func rateCell(r *scenario.Record) string {
	if r == nil {
		return "n/a"
	}
	if r.Note != "" && r.SustainedRate == 0 {
		return "n/a (" + r.Note + ")"
	}
	return num(r.SustainedRate) + " ev/s"
}

func rssOf(r *scenario.Record) float64 {
	if r == nil {
		return 0
	}
	return r.RSSPerConnKiB
}

func kib(r *scenario.Record) string {
	if r == nil || r.Conns == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f KiB", r.RSSPerConnKiB)
}

func verdict(rel, peer, want float64) string {
	switch {
	case rel == 0 || peer == 0:
		return "not measured"
	case rel >= want*peer:
		return "met"
	}
	return "missed"
}

func ratioOf(a, b float64) string {
	if a == 0 || b == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func streaming(r *scenario.Record) bool {
	switch r.Scenario {
	case "broadcast", "imports", "ci", "search":
		return true
	}
	return false
}

func cleanCell(rs records, target string) string {
	mine := rs.where(func(r *scenario.Record) bool { return r.Target == target && streaming(r) })
	var lost, dup uint64
	for _, r := range mine {
		lost += r.Lost
		dup += r.Dup
	}
	return fmt.Sprintf("%d lost, %d duplicated (by n) over %d measurements", lost, dup, len(mine))
}

func broadcast(b *strings.Builder, rs records) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## (a) Broadcast: one session, N subscribers of one transport\n\n")
	w("Fixed publish rate (single-event webhooks); latency is publish → receive, stamped in the payload.\n\n")
	w("| transport | subs | rate ev/s | deliveries/s relay / peer | p50 / p99 / p99.9 ms relay | p50 / p99 / p99.9 ms peer | deliveries per server CPU-s relay / peer | ratio | lost+dup relay / peer | server CPU s relay / peer | client CPU s relay / peer | peak RSS MiB relay / peer |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, subs := range subsList(rs, "broadcast") {
		for _, t := range subscriber.All {
			rel, peer := rs.last("relay", "broadcast", t, subs), rs.last("peer", "broadcast", t, subs)
			if rel == nil && peer == nil {
				continue
			}
			w("| %s | %s | %s | %s / %s | %s | %s | %s / %s | %s | %s / %s | %s / %s | %s / %s | %s / %s |\n",
				t, num(float64(subs)), num(rateOf(rel, peer)), f(rel, dps), f(peer, dps), lat(rel), lat(peer),
				f(rel, pcs), f(peer, pcs), ratio(rel, peer, pcs), lostDup(rel), lostDup(peer),
				f(rel, cpu), f(peer, cpu), f(rel, ccpu), f(peer, ccpu), f(rel, peak), f(peer, peak))
		}
	}
	w("\n")
}

func subsList(rs records, sc string) []int {
	var out []int
	for _, r := range rs {
		if r.Scenario == sc && r.Subscribers > 0 && !slices.Contains(out, r.Subscribers) {
			out = append(out, r.Subscribers)
		}
	}
	slices.Sort(out)
	return out
}

func rateOf(rs ...*scenario.Record) float64 {
	for _, r := range rs {
		if r != nil {
			return r.Rate
		}
	}
	return 0
}

func dps(r *scenario.Record) float64  { return r.DeliveriesPerSec }
func pcs(r *scenario.Record) float64  { return r.PerServerCPUSec }
func cpu(r *scenario.Record) float64  { return r.ServerCPUSec }
func ccpu(r *scenario.Record) float64 { return r.ClientCPUSec }
func peak(r *scenario.Record) float64 { return r.ServerPeakRSSMiB }

func f(r *scenario.Record, get func(*scenario.Record) float64) string {
	if r == nil {
		return "n/a"
	}
	if r.Note != "" && r.Published == 0 && r.Conns == 0 {
		return "n/a"
	}
	return num(get(r))
}

func ratio(a, b *scenario.Record, get func(*scenario.Record) float64) string {
	if a == nil || b == nil {
		return ""
	}
	return ratioOf(get(a), get(b))
}

func lat(r *scenario.Record) string {
	if r == nil || r.Deliveries == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s / %s", ms(r.P50Ms), ms(r.P99Ms), ms(r.P999Ms))
}

func lostDup(r *scenario.Record) string {
	if r == nil {
		return "n/a"
	}
	s := fmt.Sprint(r.Lost + r.Dup + r.SeqGaps + r.SeqDups)
	if !r.Drained && r.Published > 0 {
		s += " (not drained)"
	}
	return s
}

func search(b *strings.Builder, rs records) {
	steps := rs.where(func(r *scenario.Record) bool { return r.Scenario == "search" })
	if len(steps) == 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Latency against publish rate (scenario (a): one session)\n\n")
	w("The rate doubles until a step misses p99 ≤ %d ms, loses an event or falls behind schedule (halving while the first steps fail), then bisects. ", searchLimitMs)
	w("Per-CPU figures at each target's own highest sustained rate.\n\n")
	w("| transport | subs | relay max ev/s | peer max ev/s | ratio | relay deliveries per CPU-s there | peer deliveries per CPU-s there |\n|---|---|---|---|---|---|---|\n")
	for _, subs := range subsList(rs, "search-max") {
		for _, t := range subscriber.All {
			rel, peer := rs.last("relay", "search-max", t, subs), rs.last("peer", "search-max", t, subs)
			if rel == nil && peer == nil {
				continue
			}
			w("| %s | %s | %s | %s | %s | %s | %s |\n", t, num(float64(subs)), rateCell(rel), rateCell(peer),
				ratioOf(sustained(rel), sustained(peer)), stepPerCPU(steps, "relay", t, subs, sustained(rel)),
				stepPerCPU(steps, "peer", t, subs, sustained(peer)))
		}
	}
	w("\n<details><summary>Every step</summary>\n\n| target | transport | subs | rate ev/s | achieved | p50 / p99 / p99.9 ms | deliveries/s | per server CPU-s | server CPU s | client CPU s | lost+dup | sustained |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range steps {
		ok := "yes"
		if r.Note != "" {
			ok = "no"
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Target, r.Transport, num(float64(r.Subscribers)), num(r.Rate), num(r.PublishRate),
			lat(r), num(r.DeliveriesPerSec), num(r.PerServerCPUSec), num(r.ServerCPUSec), num(r.ClientCPUSec), lostDup(r), ok)
	}
	w("\n</details>\n\n")
}

func stepPerCPU(steps records, target, transport string, subs int, rate float64) string {
	for i := len(steps) - 1; i >= 0; i-- {
		r := steps[i]
		if r.Target == target && r.Transport == transport && r.Subscribers == subs && r.Rate == rate && rate > 0 {
			return num(r.PerServerCPUSec)
		}
	}
	return "n/a"
}

func imports(b *strings.Builder, rs records) {
	rel, peer := rs.last("relay", "imports", "*", -1), rs.last("peer", "imports", "*", -1)
	if rel == nil && peer == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	first := rel
	if first == nil {
		first = peer
	}
	w("## (b) Many imports: %s sessions × 2 subscribers, 10 events/s each\n\n", num(float64(first.Sessions)))
	w("Subscribers take the transports in turn; every event is its own webhook.\n\n| | relay | Node peer | ratio |\n|---|---|---|---|\n")
	row := func(name string, get func(*scenario.Record) string, ratioGet func(*scenario.Record) float64) {
		rv, pv, ra := "n/a", "n/a", ""
		if rel != nil {
			rv = get(rel)
		}
		if peer != nil {
			pv = get(peer)
		}
		if ratioGet != nil && rel != nil && peer != nil {
			ra = ratioOf(ratioGet(rel), ratioGet(peer))
		}
		w("| %s | %s | %s | %s |\n", name, rv, pv, ra)
	}
	row("publish rate, target / achieved ev/s", func(r *scenario.Record) string {
		return num(r.Rate) + " / " + num(r.PublishRate)
	}, func(r *scenario.Record) float64 { return r.PublishRate })
	row("deliveries/s", func(r *scenario.Record) string { return num(r.DeliveriesPerSec) }, dps)
	row("p50 / p99 / p99.9 ms", lat, nil)
	for _, t := range subscriber.All {
		row("p99 ms, "+t, func(r *scenario.Record) string {
			if st := r.PerTransport[t]; st != nil {
				return ms(st.P99Ms)
			}
			return "n/a"
		}, nil)
	}
	row("lost + duplicated", lostDup, nil)
	row("server CPU s", func(r *scenario.Record) string { return num(r.ServerCPUSec) }, nil)
	row("deliveries per server CPU-s", func(r *scenario.Record) string { return num(r.PerServerCPUSec) }, pcs)
	row("server peak RSS MiB", func(r *scenario.Record) string { return num(r.ServerPeakRSSMiB) }, nil)
	row("client CPU s", func(r *scenario.Record) string { return num(r.ClientCPUSec) }, nil)
	w("\n")
}

func idle(b *strings.Builder, rs records) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if len(rs.where(func(r *scenario.Record) bool { return r.Scenario == "idle" })) == 0 {
		return
	}
	w("## (c) Idle connections: server RSS growth per connection\n\n")
	w("Each transport on its own fresh server (the sandbox allows 20,000 descriptors per process): RSS after " +
		"the connections are registered and the RSS has settled, less RSS after 100 warm-up connections, divided by the count.\n\n")
	w("| transport | connections | relay KiB/conn | peer KiB/conn | peer ÷ relay | target | relay RSS MiB | peer RSS MiB |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range subscriber.All {
		rel, peer := rs.last("relay", "idle", t, -1), rs.last("peer", "idle", t, -1)
		if rel == nil && peer == nil {
			continue
		}
		target := "–"
		if v, ok := idleTargetKiB[t]; ok {
			target = fmt.Sprintf("≤ %.0f KiB", v)
		}
		conns := 0
		for _, r := range []*scenario.Record{rel, peer} {
			if r != nil && r.Conns > 0 {
				conns = r.Conns
			}
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", t, num(float64(conns)), kib(rel), kib(peer),
			ratioOf(rssOf(peer), rssOf(rel)), target, f(rel, func(r *scenario.Record) float64 { return r.ServerRSSMiB }),
			f(peer, func(r *scenario.Record) float64 { return r.ServerRSSMiB }))
	}
	w("\n")
}

func ingest(b *strings.Builder, rs records) {
	recs := rs.where(func(r *scenario.Record) bool { return r.Scenario == "ingest" })
	if len(recs) == 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## (d) Ingest: webhook events accepted per second, no subscribers\n\n")
	w("| events per webhook | relay ev/s | peer ev/s | ratio | relay ev per server CPU-s | peer ev per server CPU-s | ratio | client CPU s relay / peer |\n|---|---|---|---|---|---|---|---|\n")
	var batches []int
	for _, r := range recs {
		if !slices.Contains(batches, r.Batch) {
			batches = append(batches, r.Batch)
		}
	}
	slices.Sort(batches)
	for _, batch := range batches {
		var rel, peer *scenario.Record
		for _, r := range recs {
			if r.Batch == batch && r.Target == "relay" {
				rel = r
			}
			if r.Batch == batch && r.Target == "peer" {
				peer = r
			}
		}
		pr := func(r *scenario.Record) float64 { return r.PublishRate }
		w("| %d | %s | %s | %s | %s | %s | %s | %s / %s |\n", batch, f(rel, pr), f(peer, pr), ratio(rel, peer, pr),
			f(rel, pcs), f(peer, pcs), ratio(rel, peer, pcs), f(rel, ccpu), f(peer, ccpu))
	}
	w("\n")
}

func clean(b *strings.Builder, rs records) {
	bad := rs.where(func(r *scenario.Record) bool { return !r.OK })
	if len(bad) == 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Measurements that did not pass\n\nA search step that misses the latency bound is expected; the others are findings.\n\n")
	w("| target | scenario | transport | subs | rate | lost | dup | seq gaps | seq dups | publish errors | subscriber errors | drained | note |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range bad {
		w("| %s | %s | %s | %d | %s | %d | %d | %d | %d | %d | %d | %v | %s |\n", r.Target, r.Scenario, r.Transport,
			r.Subscribers, num(r.Rate), r.Lost, r.Dup, r.SeqGaps, r.SeqDups, r.PublishErrors, r.SubscriberErrors, r.Drained,
			strings.ReplaceAll(firstNonEmpty(r.Note, r.PublishError, r.SubscriberError), "|", "/"))
	}
	w("\n")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// num prints a figure with three significant digits and a k/M suffix.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return fmt.Sprintf("%.3g", v/1e6) + "M"
	case a >= 1e4:
		return fmt.Sprintf("%.3g", v/1e3) + "k"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.3g", v)
	case a == 0:
		return "0"
	}
	return fmt.Sprintf("%.2g", v)
}

func ms(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
