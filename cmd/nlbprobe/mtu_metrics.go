package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// mtuMaxTargets bounds the targets that get per-target series, so that a
// huge targets file cannot blow up the scraper; the others are counted in
// nlbprobe_metrics_series_omitted.
const mtuMaxTargets = 1024

// mtuMetrics holds the Prometheus metrics of scheduled sweeps, in a
// private registry: the state of the last complete sweep (published once
// it ends, so a scrape never sees half a sweep) and counters over the run.
// `mtu --every D --metrics-listen ADDR` serves them; `--textfile PATH`
// writes them for node_exporter's textfile collector.
type mtuMetrics struct {
	build      buildInfo
	expect     int
	every      time.Duration // between sweeps (--every); 0 for one sweep
	maxTargets int

	mu       sync.Mutex
	results  []mtuTargetState // of the last complete sweep
	sweeps   uint64
	end      time.Time // of the last complete sweep
	duration time.Duration

	reg *prometheus.Registry
}

// mtuTargetState is what the metrics keep of one result.
type mtuTargetState struct {
	target, address                 string
	reachable, blackhole, targetErr bool
	pathMTU                         int
}

var (
	descMTUBuildInfo = prometheus.NewDesc("nlbprobe_build_info",
		"The nlbprobe build serving these metrics (always 1).", []string{"version", "revision", "goversion"}, nil)
	descPathMTU = prometheus.NewDesc("nlbprobe_path_mtu_bytes",
		"Largest IP packet (bytes, header included) the path to the target carried in the last sweep; absent while the target is unreachable.",
		[]string{"target", "address"}, nil)
	descPathMTUBlackhole = prometheus.NewDesc("nlbprobe_path_mtu_blackhole",
		"1 when packets above the path MTU vanish without an ICMP answer (a black hole) in the last sweep, else 0.", []string{"target"}, nil)
	descPathMTUReachable = prometheus.NewDesc("nlbprobe_path_mtu_reachable",
		"1 when the target answered in the last sweep, else 0.", []string{"target"}, nil)
	descPathMTUTargetError = prometheus.NewDesc("nlbprobe_path_mtu_target_error",
		"1 when the target could not be probed at all in the last sweep (bad address, name that does not resolve, no route), else 0.",
		[]string{"target"}, nil)
	descPathMTUExpected = prometheus.NewDesc("nlbprobe_path_mtu_expected_bytes",
		"The path MTU the sweeps expect (--expect); absent without --expect.", nil, nil)
	descPathMTULastSweep = prometheus.NewDesc("nlbprobe_path_mtu_last_sweep_timestamp_seconds",
		"When the last complete sweep ended (Unix time); absent before the first.", nil, nil)
	descPathMTUSweepDuration = prometheus.NewDesc("nlbprobe_path_mtu_sweep_duration_seconds",
		"How long the last complete sweep took; absent before the first.", nil, nil)
	descPathMTUInterval = prometheus.NewDesc("nlbprobe_path_mtu_sweep_interval_seconds",
		"The time between two sweeps (--every), which tells when the last sweep is overdue; absent for a one-shot sweep (cron, a systemd timer).",
		nil, nil)
	descPathMTUSweeps = prometheus.NewDesc("nlbprobe_path_mtu_sweeps_total",
		"Sweeps completed.", nil, nil)
	descMTUOmitted = prometheus.NewDesc("nlbprobe_metrics_series_omitted",
		"Targets left out of the per-target metrics beyond the limit of "+strconv.Itoa(mtuMaxTargets)+".", nil, nil)
)

func newMTUMetrics(b buildInfo, expect int, every time.Duration) *mtuMetrics {
	m := &mtuMetrics{build: b, expect: expect, every: every, maxTargets: mtuMaxTargets, reg: prometheus.NewRegistry()}
	m.reg.MustRegister(m)
	return m
}

func (m *mtuMetrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// publish replaces the state with that of a sweep that just completed.
func (m *mtuMetrics) publish(results []*mtuResult, end time.Time, duration time.Duration) {
	states := make([]mtuTargetState, 0, len(results))
	for _, r := range results {
		states = append(states, mtuTargetState{target: r.Target, address: r.Address, reachable: r.Reachable,
			blackhole: r.Blackhole, targetErr: r.TargetError, pathMTU: r.PathMTU})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.results, m.end, m.duration = states, end, duration
	m.sweeps++
}

// Describe sends the descriptions of every metric.
func (m *mtuMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMTUBuildInfo, descPathMTU, descPathMTUBlackhole, descPathMTUReachable,
		descPathMTUTargetError, descPathMTUExpected, descPathMTULastSweep, descPathMTUSweepDuration, descPathMTUInterval, descPathMTUSweeps, descMTUOmitted} {
		ch <- d
	}
}

// Collect sends the metrics of the last complete sweep.
func (m *mtuMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	results, sweeps, end, duration := m.results, m.sweeps, m.end, m.duration
	m.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge(descMTUBuildInfo, 1, m.build.Version, m.build.Revision, m.build.GoVersion)
	ch <- prometheus.MustNewConstMetric(descPathMTUSweeps, prometheus.CounterValue, float64(sweeps))
	if m.expect > 0 {
		gauge(descPathMTUExpected, float64(m.expect))
	}
	if m.every > 0 {
		gauge(descPathMTUInterval, m.every.Seconds())
	}
	if sweeps > 0 {
		gauge(descPathMTULastSweep, float64(end.UnixNano())/1e9)
		gauge(descPathMTUSweepDuration, duration.Seconds())
	}
	omitted := 0
	for i, r := range results {
		if i >= m.maxTargets {
			omitted = len(results) - m.maxTargets
			break
		}
		if r.reachable {
			gauge(descPathMTU, float64(r.pathMTU), r.target, r.address)
		}
		gauge(descPathMTUBlackhole, bit(r.blackhole), r.target)
		gauge(descPathMTUReachable, bit(r.reachable), r.target)
		gauge(descPathMTUTargetError, bit(r.targetErr), r.target)
	}
	gauge(descMTUOmitted, float64(omitted))
}

// writeTextfile writes what g gathers to path in the Prometheus text
// format, for node_exporter's textfile collector: into a temporary file in
// the same directory (so the rename stays on one file system), readable by
// node_exporter's user, then renamed over path, so that the collector
// never reads a half-written file. The temporary name does not end in
// ".prom", so the collector ignores it.
func writeTextfile(path string, g prometheus.Gatherer) (err error) {
	families, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("textfile %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return fmt.Errorf("textfile %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("textfile %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("textfile %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("textfile %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("textfile %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("textfile %s: %w", path, err)
	}
	return nil
}
