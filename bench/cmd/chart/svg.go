package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/progress-relay/progress-relay/bench/internal/scenario"
	"github.com/progress-relay/progress-relay/bench/internal/subscriber"
)

// Chart geometry: panels side by side.
const (
	panelW, panelH = 420, 360
	marginL        = 70
	marginR        = 20
	marginT        = 40
	marginB        = 60
)

var colors = map[string]string{
	subscriber.SocketIO:  "#d62728",
	subscriber.WebSocket: "#1f77b4",
	subscriber.SSE:       "#2ca02c",
	subscriber.Poll:      "#9467bd",
}

var targetFill = map[string]string{"relay": "#1f77b4", "peer": "#ff7f0e"}

// chart draws deliveries per server CPU-second (broadcast at a fixed rate, 1,000 subscribers when
// measured), RSS per idle connection, and p99 latency against publish rate for each subscriber
// count of the rate search.
func chart(all []*scenario.Record) []byte {
	rs := records(all)
	var b bytes.Buffer
	var sizes []int // subscriber counts of the rate search, largest first
	for _, r := range rs {
		if r.Scenario == "search" && !slices.Contains(sizes, r.Subscribers) {
			sizes = append(sizes, r.Subscribers)
		}
	}
	slices.Sort(sizes)
	slices.Reverse(sizes)
	panels := 2 + len(sizes)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", panels*panelW, panelH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, n := range sizes {
		latencyPanel(&b, rs, (2+i)*panelW, n)
	}
	x := 0
	subs := 0
	for _, r := range rs {
		if r.Scenario == "broadcast" && (subs == 0 || r.Subscribers == 1000) {
			subs = r.Subscribers
		}
	}
	barPanel(&b, x, fmt.Sprintf("Deliveries per server CPU-s, broadcast to %s", num(float64(subs))), func(target, transport string) float64 {
		if r := rs.last(target, "broadcast", transport, subs); r != nil && r.Deliveries > 0 {
			return r.PerServerCPUSec
		}
		return 0
	}, nil)
	barPanel(&b, x+panelW, "Server RSS per idle connection (KiB)", func(target, transport string) float64 {
		return rssOf(rs.last(target, "idle", transport, -1))
	}, idleTargetKiB)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

type point struct{ x, y float64 }

func latencyPanel(b *bytes.Buffer, rs records, x0, subs int) {
	steps := latestSearches(rs, subs)
	title(b, x0, fmt.Sprintf("p99 publish→receive (ms) against rate, %s subscribers", num(float64(subs))))
	if len(steps) == 0 {
		return
	}
	minX, maxX, minY, maxY := math.Inf(1), 0.0, math.Inf(1), 0.0
	for _, r := range steps {
		minX, maxX = math.Min(minX, r.Rate), math.Max(maxX, r.Rate)
		minY, maxY = math.Min(minY, math.Max(r.P99Ms, 0.1)), math.Max(maxY, r.P99Ms)
	}
	maxY = math.Max(maxY, searchLimitMs*2)
	lx0, lx1 := math.Log10(minX)-0.1, math.Log10(maxX)+0.1
	ly0, ly1 := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
	px := func(v float64) float64 {
		return float64(x0+marginL) + (math.Log10(v)-lx0)/(lx1-lx0)*float64(panelW-marginL-marginR)
	}
	py := func(v float64) float64 {
		v = math.Max(v, math.Pow(10, ly0))
		return float64(panelH-marginB) - (math.Log10(v)-ly0)/(ly1-ly0)*float64(panelH-marginT-marginB)
	}
	axes(b, x0)
	for e := ly0; e <= ly1; e++ {
		y := py(math.Pow(10, e))
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", x0+marginL, y, x0+panelW-marginR, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0+marginL-5, y+4, num(math.Pow(10, e)))
	}
	for e := math.Ceil(lx0); e <= lx1; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if math.Log10(v) < lx0 || math.Log10(v) > lx1 {
				continue
			}
			x := px(v)
			fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", x, marginT, x, panelH-marginB)
			fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, panelH-marginB+15, num(v))
		}
	}
	limit := py(searchLimitMs)
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>`+"\n", x0+marginL, limit, x0+panelW-marginR, limit)
	fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#666">p99 = %d ms</text>`+"\n", x0+marginL+4, limit-4, searchLimitMs)

	legendY := marginT + 10
	for _, target := range []string{"relay", "peer"} {
		for _, t := range subscriber.All {
			var pts []point
			for _, r := range steps {
				if r.Target == target && r.Transport == t {
					pts = append(pts, point{r.Rate, r.P99Ms})
				}
			}
			if len(pts) == 0 {
				continue
			}
			sort.Slice(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
			dash := ""
			if target == "peer" {
				dash = ` stroke-dasharray="5 3"`
			}
			var path bytes.Buffer
			for i, p := range pts {
				cmd := "L"
				if i == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, px(p.x), py(p.y))
			}
			fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", path.String(), colors[t], dash)
			for _, p := range pts {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", px(p.x), py(p.y), colors[t])
			}
			lx := x0 + panelW - marginR - 120
			fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", lx, legendY, lx+20, legendY, colors[t], dash)
			fmt.Fprintf(b, `<text x="%d" y="%d">%s %s</text>`+"\n", lx+25, legendY+4, target, t)
			legendY += 14
		}
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">publish rate (events/s, one session)</text>`+"\n", x0+panelW/2, panelH-marginB+35)
}

// barPanel draws relay and peer bars per transport; targets, when given, are drawn as ticks.
func barPanel(b *bytes.Buffer, x0 int, name string, value func(target, transport string) float64, targets map[string]float64) {
	title(b, x0, name)
	axes(b, x0)
	maxV := 0.0
	for _, t := range subscriber.All {
		for _, target := range []string{"relay", "peer"} {
			maxV = math.Max(maxV, value(target, t))
		}
		maxV = math.Max(maxV, targets[t])
	}
	if maxV == 0 {
		return
	}
	maxV *= 1.15
	plotH := float64(panelH - marginT - marginB)
	py := func(v float64) float64 { return float64(panelH-marginB) - v/maxV*plotH }
	for i := 0; i <= 4; i++ {
		v := maxV * float64(i) / 4
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", x0+marginL, py(v), x0+panelW-marginR, py(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0+marginL-5, py(v)+4, num(v))
	}
	slot := float64(panelW-marginL-marginR) / float64(len(subscriber.All))
	barW := slot / 3
	for i, t := range subscriber.All {
		sx := float64(x0+marginL) + float64(i)*slot
		for j, target := range []string{"relay", "peer"} {
			v := value(target, t)
			if v == 0 {
				continue
			}
			x := sx + slot/6 + float64(j)*barW
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, py(v), barW-2, py(0)-py(v), targetFill[target])
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x+barW/2, py(v)-3, num(v))
		}
		if tv, ok := targets[t]; ok {
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-dasharray="3 2"/>`+"\n", sx+slot/8, py(tv), sx+slot*7/8, py(tv))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", sx+slot/2, panelH-marginB+15, t)
	}
	ly := panelH - marginB + 35
	for j, target := range []string{"relay", "peer"} {
		lx := x0 + marginL + j*90
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx, ly-10, targetFill[target], lx+16, ly, target)
	}
	if targets != nil {
		lx := x0 + marginL + 180
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black" stroke-dasharray="3 2"/><text x="%d" y="%d">target</text>`+"\n", lx, ly-4, lx+20, ly-4, lx+24, ly)
	}
}

func title(b *bytes.Buffer, x0 int, s string) {
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n", x0+panelW/2, marginT-15, s)
}

func axes(b *bytes.Buffer, x0 int) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0+marginL, panelH-marginB, x0+panelW-marginR, panelH-marginB)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0+marginL, marginT, x0+marginL, panelH-marginB)
}

// latestSearches returns the steps of the last search of each target and transport with subs
// subscribers: a search that was run again replaces the earlier one.
func latestSearches(rs records, subs int) records {
	type key struct{ target, transport string }
	runs := map[key]records{}
	ended := map[key]bool{}
	for _, r := range rs {
		if r.Subscribers != subs && r.Scenario == "search" {
			continue
		}
		k := key{r.Target, r.Transport}
		switch r.Scenario {
		case "search":
			if ended[k] {
				runs[k], ended[k] = nil, false
			}
			if r.Deliveries > 0 {
				runs[k] = append(runs[k], r)
			}
		case "search-max":
			if r.Subscribers == subs {
				ended[k] = true
			}
		}
	}
	var out records
	for _, steps := range runs {
		out = append(out, steps...)
	}
	return out
}
