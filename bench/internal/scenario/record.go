// Package scenario runs the benchmark's scenarios against one system under test and reports
// each measurement as a Record.
package scenario

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Record is one measurement, written as one JSON line. Durations are in milliseconds, memory in
// MiB or KiB as named, CPU in seconds.
type Record struct {
	Target      string  `json:"target"`    // relay, peer
	Scenario    string  `json:"scenario"`  // broadcast, search, search-max, imports, idle, ingest, ci
	Transport   string  `json:"transport"` // socketio, websocket, sse, poll, mixed, or "" for ingest
	Subscribers int     `json:"subscribers"`
	Sessions    int     `json:"sessions"`
	Rate        float64 `json:"rate"` // target publish rate, events/s (0: as fast as accepted)
	Batch       int     `json:"batch"`
	Seconds     float64 `json:"seconds"` // measurement window

	Published     uint64  `json:"published"`    // events accepted by the webhook
	PublishRate   float64 `json:"publish_rate"` // achieved, events/s
	PublishErrors uint64  `json:"publish_errors"`
	PublishError  string  `json:"publish_error,omitempty"`

	Expected         uint64                     `json:"expected"`   // deliveries due: Σ over subscribers of their session's events
	Deliveries       uint64                     `json:"deliveries"` // distinct events received
	DeliveriesPerSec float64                    `json:"deliveries_per_s"`
	Lost             uint64                     `json:"lost"` // by n: expected but never received
	Dup              uint64                     `json:"dup"`  // by n: received more than once
	SeqGaps          uint64                     `json:"seq_gaps"`
	SeqDups          uint64                     `json:"seq_dups"`
	Unreadable       uint64                     `json:"unreadable,omitempty"`
	Drained          bool                       `json:"drained"` // every due delivery arrived before the drain limit
	SubscriberErrors uint64                     `json:"subscriber_errors"`
	SubscriberError  string                     `json:"subscriber_error,omitempty"`
	Collapsed        *uint64                    `json:"collapsed,omitempty"` // when the server reports it
	P50Ms            float64                    `json:"p50_ms"`
	P99Ms            float64                    `json:"p99_ms"`
	P999Ms           float64                    `json:"p999_ms"`
	MaxMs            float64                    `json:"max_ms"`
	ServerCPUSec     float64                    `json:"server_cpu_s"`
	PerServerCPUSec  float64                    `json:"per_server_cpu_s"` // deliveries (ingest: accepted events) per server CPU-second
	ClientCPUSec     float64                    `json:"client_cpu_s"`
	ServerRSSMiB     float64                    `json:"server_rss_mib"`
	ServerPeakRSSMiB float64                    `json:"server_peak_rss_mib"`
	Conns            int                        `json:"conns,omitempty"`
	RSSPerConnKiB    float64                    `json:"rss_per_conn_kib,omitempty"`
	SustainedRate    float64                    `json:"sustained_rate,omitempty"` // search-max: highest rate with p99 ≤ limit
	PerTransport     map[string]*TransportStats `json:"per_transport,omitempty"`
	OK               bool                       `json:"ok"`
	Note             string                     `json:"note,omitempty"`
	Time             string                     `json:"time"`
}

// TransportStats is one transport's share of a mixed measurement.
type TransportStats struct {
	Subscribers int     `json:"subscribers"`
	Expected    uint64  `json:"expected"`
	Deliveries  uint64  `json:"deliveries"`
	Lost        uint64  `json:"lost"`
	Dup         uint64  `json:"dup"`
	SeqGaps     uint64  `json:"seq_gaps"`
	SeqDups     uint64  `json:"seq_dups"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
}

// Clean reports whether the measurement lost, duplicated or misordered nothing.
func (r *Record) Clean() bool {
	return r.Lost == 0 && r.Dup == 0 && r.SeqGaps == 0 && r.SeqDups == 0 && r.Unreadable == 0 &&
		r.PublishErrors == 0 && r.SubscriberErrors == 0
}

// Sink receives records: a JSON-lines file and a one-line summary for people.
type Sink struct {
	mu   sync.Mutex
	json io.Writer
	text io.Writer
}

// NewSink writes JSON lines to jsonOut (nil: none) and summaries to textOut.
func NewSink(jsonOut, textOut io.Writer) *Sink { return &Sink{json: jsonOut, text: textOut} }

// Emit writes r.
func (s *Sink) Emit(r *Record) {
	r.Time = time.Now().UTC().Format(time.RFC3339)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.json != nil {
		b, _ := json.Marshal(r) // a Record always marshals
		s.json.Write(append(b, '\n'))
	}
	fmt.Fprintln(s.text, r.Summary())
}

// Summary is one line for a terminal.
func (r *Record) Summary() string {
	status := "ok"
	if !r.OK {
		status = "FAIL"
	}
	s := fmt.Sprintf("%-5s %-10s %-9s subs=%-5d sess=%-4d", r.Target, r.Scenario, r.Transport, r.Subscribers, r.Sessions)
	switch r.Scenario {
	case "idle":
		s += fmt.Sprintf(" conns=%d rss/conn=%.1fKiB rss=%.1fMiB", r.Conns, r.RSSPerConnKiB, r.ServerRSSMiB)
	case "ingest":
		s += fmt.Sprintf(" batch=%d accepted/s=%.0f per-cpu-s=%.0f cpu=%.2fs client-cpu=%.2fs", r.Batch, r.PublishRate, r.PerServerCPUSec, r.ServerCPUSec, r.ClientCPUSec)
	case "search-max":
		s += fmt.Sprintf(" sustained=%.0f ev/s (p99 ≤ 50ms)", r.SustainedRate)
	default:
		s += fmt.Sprintf(" rate=%.0f/%.0f deliv/s=%.0f per-cpu-s=%.0f p50=%.2fms p99=%.2fms p99.9=%.2fms lost=%d dup=%d gaps=%d cpu=%.2fs client-cpu=%.2fs peak=%.0fMiB",
			r.PublishRate, r.Rate, r.DeliveriesPerSec, r.PerServerCPUSec, r.P50Ms, r.P99Ms, r.P999Ms, r.Lost, r.Dup, r.SeqGaps, r.ServerCPUSec, r.ClientCPUSec, r.ServerPeakRSSMiB)
	}
	if r.Note != "" {
		s += " (" + r.Note + ")"
	}
	return status + " " + s
}
