package main

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/capture"
)

// maxSeries bounds the label sets of each per-cluster-host and
// per-cluster-MAC metric, so a flood of forged heartbeats cannot blow up the
// scraper; what is left out is counted in nlbprobe_metrics_series_omitted.
const maxSeries = 1024

// metrics serves watch's Prometheus metrics from a private registry. The
// capture loop publishes a snapshot about once a second; scrapes read the
// latest one under the mutex and never touch the engine.
type metrics struct {
	iface, vantage string

	mu         sync.Mutex
	snap       *analyze.Report
	kernel     capture.LiveStats
	protoBytes protocolBytes
	at         time.Time
	// floodPrev and floodRate make the per-MAC rate over the last
	// publishing interval.
	floodPrev map[floodLabel]floodSample
	floodRate map[floodLabel]float64

	reg *prometheus.Registry
}

type floodLabel struct{ mac, vlan string }

type floodSample struct {
	frames uint64
	at     time.Time
}

var (
	descFrames = prometheus.NewDesc("nlbprobe_frames_total",
		"Frames analyzed, by protocol as nlbprobe classified them.", []string{"protocol"}, nil)
	descBytes = prometheus.NewDesc("nlbprobe_bytes_total",
		"Bytes on the wire of the frames analyzed, by protocol.", []string{"protocol"}, nil)
	descHeartbeats = prometheus.NewDesc("nlbprobe_heartbeats_total",
		"NLB membership heartbeats per cluster host (host = host priority).", []string{"cluster", "vlan", "host"}, nil)
	descLastSeen = prometheus.NewDesc("nlbprobe_host_last_seen_age_seconds",
		"Seconds since the cluster host's last heartbeat (NLB drops a host after 5 missed ones).", []string{"cluster", "vlan", "host"}, nil)
	descHosts = prometheus.NewDesc("nlbprobe_cluster_hosts",
		"Hosts seen heartbeating per cluster, with the cluster's mode.", []string{"cluster", "vlan", "mode"}, nil)
	descFloodFPS = prometheus.NewDesc("nlbprobe_cluster_mac_frames_per_second",
		"Frames per second to a cluster MAC over the last second.", []string{"mac", "vlan"}, nil)
	descFloodFrames = prometheus.NewDesc("nlbprobe_cluster_mac_frames_total",
		"Frames to a cluster MAC.", []string{"mac", "vlan"}, nil)
	descFloodBytes = prometheus.NewDesc("nlbprobe_cluster_mac_bytes_total",
		"Bytes to a cluster MAC.", []string{"mac", "vlan"}, nil)
	descFlooding = prometheus.NewDesc("nlbprobe_cluster_mac_flooding",
		"1 when nlbprobe's verdict on the traffic to a cluster MAC is flooding, else 0.", []string{"mac", "vlan", "verdict"}, nil)
	descFindings = prometheus.NewDesc("nlbprobe_findings",
		"Findings held, by kind and severity.", []string{"kind", "severity"}, nil)
	descKernelDrops = prometheus.NewDesc("nlbprobe_kernel_drops_total",
		"Frames the kernel dropped because the capture ring was full.", nil, nil)
	descKernelReceived = prometheus.NewDesc("nlbprobe_kernel_received_total",
		"Frames that passed the capture filter, dropped ones included.", nil, nil)
	descKernelFreezes = prometheus.NewDesc("nlbprobe_kernel_ring_freezes_total",
		"Times the capture ring filled up.", nil, nil)
	descEvicted = prometheus.NewDesc("nlbprobe_state_evicted_total",
		"Entries evicted from nlbprobe's bounded tables (a flood of random addresses).", []string{"table"}, nil)
	descInfo = prometheus.NewDesc("nlbprobe_capture_info",
		"The interface and vantage of this probe (always 1).", []string{"interface", "vantage"}, nil)
	descLastFrame = prometheus.NewDesc("nlbprobe_last_frame_timestamp_seconds",
		"Capture time of the latest frame analyzed.", nil, nil)
	descOmitted = prometheus.NewDesc("nlbprobe_metrics_series_omitted",
		"Label sets left out of the per-host and per-MAC metrics beyond the limit of "+strconv.Itoa(maxSeries)+".", nil, nil)
)

func newMetrics(iface, vantage string) *metrics {
	m := &metrics{iface: iface, vantage: vantage, floodPrev: map[floodLabel]floodSample{}, floodRate: map[floodLabel]float64{},
		reg: prometheus.NewRegistry()}
	m.reg.MustRegister(m)
	return m
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// publish replaces the snapshot the scrapes read. Called by the capture
// loop only.
func (m *metrics) publish(r *analyze.Report, ks capture.LiveStats, pb protocolBytes, now time.Time) {
	rate := map[floodLabel]float64{}
	prev := map[floodLabel]floodSample{}
	for _, f := range r.Flood {
		l := floodLabel{f.MAC.String(), vlanLabel(f.VLAN, f.SVLAN)}
		if p, ok := m.floodPrev[l]; ok && now.After(p.at) && f.Frames >= p.frames {
			rate[l] = float64(f.Frames-p.frames) / now.Sub(p.at).Seconds()
		}
		prev[l] = floodSample{frames: f.Frames, at: now}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap, m.kernel, m.protoBytes, m.at = r, ks, pb, now
	m.floodPrev, m.floodRate = prev, rate
}

// Describe sends the descriptions of every metric.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFrames, descBytes, descHeartbeats, descLastSeen, descHosts, descFloodFPS,
		descFloodFrames, descFloodBytes, descFlooding, descFindings, descKernelDrops, descKernelReceived,
		descKernelFreezes, descEvicted, descInfo, descLastFrame, descOmitted} {
		ch <- d
	}
}

// Collect sends the metrics of the latest snapshot.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	r, ks, pb, rates := m.snap, m.kernel, m.protoBytes, m.floodRate
	m.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descInfo, 1, m.iface, m.vantage)
	counter(descKernelDrops, ks.Dropped)
	counter(descKernelReceived, ks.Received)
	counter(descKernelFreezes, ks.Freezes)
	if r == nil {
		return
	}
	s := &r.Stats
	for _, p := range []struct {
		name          string
		frames, bytes uint64
	}{
		{"arp", s.Protocols.ARP, pb.arp}, {"arp_other", s.Protocols.ARPOther, pb.arpOther},
		{"ipv4", s.Protocols.IPv4, pb.ipv4}, {"igmp", s.Protocols.IGMP, pb.igmp},
		{"nlb_heartbeat", s.Protocols.Heartbeats, pb.heartbeat}, {"nlb_unknown", s.Protocols.NLBUnknown, pb.nlbUnknown},
		{"other", s.Protocols.Other, pb.other}, {"malformed", s.Malformed, pb.malformed},
		{"unsupported", s.Unsupported, pb.unsupported},
	} {
		counter(descFrames, p.frames, p.name)
		counter(descBytes, p.bytes, p.name)
	}
	for _, e := range []struct {
		table string
		n     uint64
	}{{"bindings", s.Evicted.Bindings}, {"igmp", s.Evicted.IGMP}, {"clusters", s.Evicted.Clusters},
		{"cluster_macs", s.Evicted.ClusterMACs}, {"findings", s.Evicted.Findings}} {
		counter(descEvicted, e.n, e.table)
	}
	if !r.Capture.End.IsZero() {
		gauge(descLastFrame, float64(r.Capture.End.UnixNano())/1e9)
	}
	omitted, hostSeries, macSeries := 0, 0, 0
	now := time.Now()
	for _, c := range r.Clusters {
		vlan := vlanLabel(c.VLAN, c.SVLAN)
		cluster := c.ClusterIP.String()
		gauge(descHosts, float64(len(c.Hosts)), cluster, vlan, c.Mode.String())
		for _, h := range c.Hosts {
			if hostSeries >= maxSeries {
				omitted++
				continue
			}
			hostSeries++
			host := strconv.Itoa(int(h.Priority))
			counter(descHeartbeats, h.Heartbeats, cluster, vlan, host)
			gauge(descLastSeen, max(now.Sub(h.LastSeen).Seconds(), 0), cluster, vlan, host)
		}
	}
	for _, f := range r.Flood {
		if macSeries >= maxSeries {
			omitted++
			continue
		}
		macSeries++
		l := floodLabel{f.MAC.String(), vlanLabel(f.VLAN, f.SVLAN)}
		counter(descFloodFrames, f.Frames, l.mac, l.vlan)
		counter(descFloodBytes, f.Bytes, l.mac, l.vlan)
		gauge(descFloodFPS, rates[l], l.mac, l.vlan)
		flooding := 0.0
		if f.Verdict == "flooding" {
			flooding = 1
		}
		gauge(descFlooding, flooding, l.mac, l.vlan, f.Verdict)
	}
	gauge(descOmitted, float64(omitted))
	type kindSev struct {
		kind finding.Kind
		sev  finding.Severity
	}
	counts := map[kindSev]int{}
	var order []kindSev
	for _, f := range r.Findings {
		k := kindSev{f.Kind, f.Severity}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	for _, k := range order {
		gauge(descFindings, float64(counts[k]), string(k.kind), k.sev.String())
	}
}

// vlanLabel names a VLAN as the reports do: "untagged", "10", "200.10".
func vlanLabel(vlan, svlan uint16) string {
	switch {
	case svlan != 0:
		return strconv.Itoa(int(svlan)) + "." + strconv.Itoa(int(vlan))
	case vlan == 0:
		return "untagged"
	}
	return strconv.Itoa(int(vlan))
}
