package caddymodule

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricValue reads one sample from the site's /metrics.
func (r *relay) metricValue(series string) float64 {
	r.t.Helper()
	res, err := http.Get(r.base + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`).FindSubmatch(b)
	if m == nil {
		r.t.Fatalf("%s not in /metrics:\n%s", series, b)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// metricValueOr reads a sample through the registry of the running config, for tests whose site
// has no metrics route.
func (r *relay) metricValueOr(series string) float64 {
	r.t.Helper()
	var total float64
	ch := make(chan prometheus.Metric, 64)
	go func() { metrics.state.Collect(ch); close(ch) }()
	for m := range ch {
		if !strings.Contains(m.Desc().String(), `"`+series+`"`) {
			continue
		}
		var pb dto.Metric
		m.Write(&pb)
		total += pb.GetCounter().GetValue() + pb.GetGauge().GetValue()
	}
	return total
}

func TestMetricsCountTrafficAndKeepCountingAcrossReload(t *testing.T) {
	block := defaultWebhook + "\n\t}\n\thandle /metrics {\n\t\tmetrics\n\t}\n\tprogress_relay {"
	r := startRelay(t, block)
	in := `caddy_progress_relay_events_in_total{source="webhook"}`
	out := `caddy_progress_relay_events_out_total{transport="websocket"}`
	rejected := `caddy_progress_relay_webhook_rejected_total{status="401"}`

	ws := r.dial("/")
	ws.WriteJSON(map[string]any{"sessionId": "m1"})
	waitFor(t, "subscriber", func() bool { return r.subscribers("websocket") == 1 })
	if got := r.metricValue(`caddy_progress_relay_connections{transport="websocket"}`); got != 1 {
		t.Fatalf("connections = %v, want 1", got)
	}
	before := r.metricValue(in)
	r.mustPost(batch(progressEvents("m1", 1, 3)))
	readFrames(t, ws, 3)
	req, _ := http.NewRequest(http.MethodPost, r.base+"/hooks/progress", nil)
	r.do(req) // unsigned: 401
	waitFor(t, "events out", func() bool { return r.metricValue(out) >= 3 })
	if got := r.metricValue(in) - before; got != 3 {
		t.Fatalf("events in grew by %v, want 3", got)
	}
	if got := r.metricValue(rejected); got < 1 {
		t.Fatalf("rejected = %v", got)
	}
	if got := r.metricValue(`caddy_progress_relay_delivery_latency_seconds_count{transport="websocket"}`); got < 3 {
		t.Fatalf("latency histogram count = %v", got)
	}

	r.load(block + "\n\t\thistory 20")
	afterReload := r.metricValue(in)
	if afterReload < before+3 {
		t.Fatalf("events in went from %v to %v across the reload", before+3, afterReload)
	}
	r.mustPost(batch(progressEvents("m1", 4, 2)))
	readFrames(t, ws, 2)
	if got := r.metricValue(in); got != afterReload+2 {
		t.Fatalf("after reload events in = %v, want %v", got, afterReload+2)
	}
}
