package gateway

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's Prometheus metrics, in a registry of their own.
type Metrics struct {
	reg         *prometheus.Registry
	received    *prometheus.CounterVec
	sent        *prometheus.CounterVec
	refused     *prometheus.CounterVec
	failed      *prometheus.CounterVec
	retries     *prometheus.CounterVec
	duplicates  *prometheus.CounterVec
	fallback    prometheus.Counter
	storeErrors prometheus.Counter
	relay       *prometheus.HistogramVec
	guard       *prometheus.CounterVec
	// storeErr reports the queue's last commit failure, for the
	// kakehashi_store_ok gauge; set by the gateway using these metrics.
	storeErr atomic.Pointer[func() error]
}

// NewMetrics creates the metrics and their registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakehashi_messages_received_total", Help: "Messages received, by network."}, []string{"network"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakehashi_messages_sent_total", Help: "Messages written by an adapter, by network."}, []string{"network"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakehashi_messages_refused_total", Help: "Messages refused by routing, by network and reason."}, []string{"network", "reason"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakehashi_messages_failed_total", Help: "Messages that could not be delivered, by target network."}, []string{"network"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakehashi_send_retries_total", Help: "Send attempts that will be retried, by network."}, []string{"network"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakehashi_messages_duplicate_total",
			Help: "Redelivered messages dropped as duplicates (same sender, ID, recipient and text within the deduplication window), by network."},
			[]string{"network"}),
		fallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kakehashi_messages_fallback_total", Help: "Messages of ownerless relationships delivered to the fallback."}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kakehashi_queue_store_errors_total", Help: "Messages the durable queue could not store."}),
		guard: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakehashi_guard_total",
			Help: "Employees' messages the outbound guard held, and those sent anyway after a hold, by outcome (held, released)."},
			[]string{"outcome"}),
		relay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kakehashi_relay_seconds",
			Help:    "Time from receiving a message to the adapter having written it (durable commit included), by target network.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}, []string{"network"}),
	}
	storeOK := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kakehashi_store_ok",
		Help: "1 while the durable queue's last commit succeeded, 0 while it is failing (messages are being refused)."},
		func() float64 {
			if f := m.storeErr.Load(); f != nil && (*f)() != nil {
				return 0
			}
			return 1
		})
	m.reg.MustRegister(m.received, m.sent, m.refused, m.failed, m.retries, m.duplicates, m.fallback, m.storeErrors, m.relay, m.guard,
		storeOK, collectors.NewGoCollector())
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
