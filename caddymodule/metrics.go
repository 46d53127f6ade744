package caddymodule

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/event"
	"github.com/progress-relay/progress-relay/internal/transport"
)

const metricsNamespace, metricsSubsystem = "caddy", "progress_relay"

// metrics are created once per process and registered with each config's registry, so that
// counts carry on across reloads.
var metrics = struct {
	once            sync.Once
	eventsIn        *prometheus.CounterVec
	eventsOut       *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	webhookRejected *prometheus.CounterVec
	refused         *prometheus.CounterVec
	reconnects      prometheus.Counter
	state           stateCollector
	out             map[string]deliveryObserver // per transport, resolved once
}{}

// deliveryObserver holds the resolved children of one transport's delivery metrics.
type deliveryObserver struct {
	events  prometheus.Counter
	latency prometheus.Observer
}

func initMetrics() {
	m := &metrics
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	m.eventsIn = prometheus.NewCounterVec(prometheus.CounterOpts(opts("events_in_total",
		"Events sequenced, by source (webhook, sse_pull, sse_tee).")), []string{"source"})
	m.eventsOut = prometheus.NewCounterVec(prometheus.CounterOpts(opts("events_out_total",
		"Events written to subscribers, by transport.")), []string{"transport"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "delivery_latency_seconds",
		Help:    "Time from an event's sequencing to its write to a subscriber, by transport.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"transport"})
	m.webhookRejected = prometheus.NewCounterVec(prometheus.CounterOpts(opts("webhook_rejected_total",
		"Webhooks refused, by HTTP status.")), []string{"status"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts(opts("subscriptions_refused_total",
		"Subscriptions refused before reaching the hub, by reason (session_id, origin, token).")), []string{"reason"})
	m.reconnects = prometheus.NewCounter(prometheus.CounterOpts(opts("upstream_reconnects_total",
		"Reconnections to upstream SSE endpoints.")))
	m.state = newStateCollector()
	// Zero series from the start, so that rate() works before the first event of each kind.
	for _, src := range []string{"webhook", "sse_pull", "sse_tee"} {
		m.eventsIn.WithLabelValues(src)
	}
	for _, reason := range []string{"session_id", "origin", "token"} {
		m.refused.WithLabelValues(reason)
	}
	m.out = map[string]deliveryObserver{}
	for _, t := range []string{transport.WebSocket, transport.SSE, transport.Poll, transport.SocketIO} {
		m.out[t] = deliveryObserver{events: m.eventsOut.WithLabelValues(t), latency: m.latency.WithLabelValues(t)}
	}
}

// registerMetrics registers the relay's collectors with a config's registry.
func registerMetrics(reg *prometheus.Registry) error {
	metrics.once.Do(initMetrics)
	for _, c := range []prometheus.Collector{metrics.eventsIn, metrics.eventsOut, metrics.latency,
		metrics.webhookRejected, metrics.refused, metrics.reconnects, metrics.state} {
		if err := reg.Register(c); err != nil {
			// Several progress_relay handlers in one config register the same collectors.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// observeDelivery is the transports' hook: one event written, with its publish-to-write latency.
func observeDelivery(transportName string, _ *event.Event, latency time.Duration) {
	o, ok := metrics.out[transportName]
	if !ok {
		return
	}
	o.events.Inc()
	o.latency.Observe(latency.Seconds())
}

func countEventsIn(source string) func(int) {
	return func(n int) { metrics.eventsIn.WithLabelValues(source).Add(float64(n)) }
}

func countWebhookRejected(status int) {
	metrics.webhookRejected.WithLabelValues(strconv.Itoa(status)).Inc()
}

func countRefused(reason string) { metrics.refused.WithLabelValues(reason).Inc() }

// stateCollector reads what the relay instances hold at scrape time: open subscriptions, sessions,
// and the hub's and broker's own running totals (they live as long as their instance).
type stateCollector struct {
	connections, sessions, watched, upstreams, brokerUp                 *prometheus.Desc
	collapsed, dropped, gapFills, overLimit, brokerErrors, brokerReconn *prometheus.Desc
}

func newStateCollector() stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, name), help, labels, nil)
	}
	return stateCollector{
		connections:  d("connections", "Open subscriptions, by transport.", "transport"),
		sessions:     d("sessions", "Sessions held by the broker (for redis: the fleet's, as last read)."),
		watched:      d("sessions_watched", "Sessions with subscribers on this node."),
		upstreams:    d("upstream_connections", "Open upstream SSE connections."),
		brokerUp:     d("broker_up", "1 when the broker can publish."),
		collapsed:    d("collapsed_total", "Progress events dropped from slow subscribers' queues in favour of a later one."),
		dropped:      d("slow_subscribers_dropped_total", "Subscribers disconnected for not keeping up."),
		gapFills:     d("gap_fills_total", "History reads made to fill a gap in a session's events."),
		overLimit:    d("subscriptions_over_limit_total", "Subscriptions refused for the node's or a session's subscriber limit."),
		brokerErrors: d("broker_errors_total", "Broker operations that failed."),
		brokerReconn: d("broker_reconnects_total", "Reconnections of the broker's subscription."),
	}
}

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.sessions, c.watched, c.upstreams, c.brokerUp,
		c.collapsed, c.dropped, c.gapFills, c.overLimit, c.brokerErrors, c.brokerReconn} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	conns := map[string]float64{}
	var sessions, watched, upstreams, up, collapsed, dropped, gapFills, overLimit, brokerErrors, brokerReconn float64
	instances.Range(func(_, v any) bool {
		inst := v.(*instance)
		st := inst.hub.Stats()
		for t, n := range st.Subscribers {
			conns[t] += float64(n)
		}
		sessions += float64(inst.broker.Sessions())
		watched += float64(st.Sessions)
		upstreams += float64(inst.pull.stats().Open)
		collapsed += float64(st.Collapsed)
		dropped += float64(st.Kicked)
		gapFills += float64(st.GapFills)
		overLimit += float64(st.Refused)
		up++
		if rb, ok := inst.broker.(*broker.Redis); ok {
			rs := rb.Stats()
			if !rs.Up {
				up--
			}
			brokerErrors += float64(rs.Errors)
			brokerReconn += float64(rs.Reconnects)
		}
		return true
	})
	for _, t := range []string{transport.WebSocket, transport.SSE, transport.Poll, transport.SocketIO} {
		ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, conns[t], t)
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.sessions, sessions)
	gauge(c.watched, watched)
	gauge(c.upstreams, upstreams)
	gauge(c.brokerUp, up)
	counter(c.collapsed, collapsed)
	counter(c.dropped, dropped)
	counter(c.gapFills, gapFills)
	counter(c.overLimit, overLimit)
	counter(c.brokerErrors, brokerErrors)
	counter(c.brokerReconn, brokerReconn)
}
