package main

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/igmp"
	"github.com/nlbprobe/nlbprobe/analyze/nlb"
	"github.com/nlbprobe/nlbprobe/capture"
)

// maxSeries bounds the label sets of each family of per-cluster, per-host,
// per-cluster-MAC, per-VLAN and per-static-entry metrics, so a flood of
// forged heartbeats cannot blow up the scraper; what is left out is counted
// in nlbprobe_metrics_series_omitted.
const maxSeries = 1024

// The metrics follow Prometheus' conventions (see cmd/nlbprobe/fleet/README.md):
// counters end in _total and the rules take rate() of them; a state that can
// change (a mode, a flooding verdict, a finding's severity) is a value, 0 or
// 1 per possible state, never a label whose change would end one series and
// start another; label values are those of the JSON contract (protocol
// names, vlan and svlan as decimal numbers, "0" for none). Every family
// keyed by VLAN is keyed by remote span too (remote_span: "erspan:7",
// "vxlan:5070", "" for frames captured directly), as the engine keeps
// state per session: two switches mirrored to one collector may both carry
// a cluster on VLAN 10, and series without the session would collide and
// fail the whole scrape. Only the probe host's own static neighbour
// entries, never mirrored, go without it.

// metrics serves watch's Prometheus metrics from a private registry. The
// capture loop publishes a snapshot about once a second; scrapes read the
// latest one under the mutex and never touch the engine.
type metrics struct {
	iface, vantage string
	build          buildInfo

	mu   sync.Mutex
	snap metricsSnapshot
	// clusters is what publish derived per cluster, including the state
	// kept across snapshots (high-water mark, mode changes).
	clusters map[clusterLabels]*clusterState

	reg *prometheus.Registry
}

// metricsSnapshot is what the capture loop hands over once a second.
type metricsSnapshot struct {
	report     *analyze.Report
	kernel     capture.LiveStats
	protoBytes protocolBytes
	// staticARP is the last reading of the probe host's permanent
	// neighbour entries, each with whether it disagrees with the wire.
	staticARP []staticARPEntry
	at        time.Time
}

// staticARPEntry is one permanent neighbour entry and whether the wire
// contradicts it (stale-static-arp).
type staticARPEntry struct {
	entry capture.StaticNeighbour
	stale bool
}

type clusterLabels struct{ cluster, vlan, svlan, remoteSpan string }

// clusterState is one cluster as the metrics show it.
type clusterState struct {
	seen     bool // in the latest snapshot
	mode     addr.Mode
	lastMode addr.Mode // the last known (not unknown) mode
	changes  uint64    // changes between known modes the probe saw
	alive    int       // hosts heartbeating at the snapshot
	maxAlive int       // the most hosts heartbeating at once so far
	// memberMissing holds, for IGMP-mode clusters, the hosts (by priority)
	// with a current igmp-member-missing finding.
	memberMissing map[uint32]bool
}

var (
	descBuildInfo = prometheus.NewDesc("nlbprobe_build_info",
		"The nlbprobe build serving these metrics (always 1).", []string{"version", "revision", "goversion"}, nil)
	descInfo = prometheus.NewDesc("nlbprobe_capture_info",
		"The interface and vantage of this probe (always 1).", []string{"interface", "vantage"}, nil)
	descFrames = prometheus.NewDesc("nlbprobe_frames_total",
		"Frames analyzed, by protocol as nlbprobe classified them.", []string{"protocol"}, nil)
	descBytes = prometheus.NewDesc("nlbprobe_bytes_total",
		"Bytes on the wire of the frames analyzed, by protocol.", []string{"protocol"}, nil)
	descMalformed = prometheus.NewDesc("nlbprobe_malformed_frames_total",
		"Frames nlbprobe could not decode (malformed).", nil, nil)
	descTruncated = prometheus.NewDesc("nlbprobe_truncated_frames_total",
		"Frames cut by the snaplen.", nil, nil)
	descUnsupported = prometheus.NewDesc("nlbprobe_unsupported_link_type_frames_total",
		"Frames of a link type nlbprobe does not decode.", nil, nil)
	descKernelDrops = prometheus.NewDesc("nlbprobe_kernel_drops_total",
		"Frames the kernel dropped because the capture ring was full.", nil, nil)
	descKernelReceived = prometheus.NewDesc("nlbprobe_kernel_received_total",
		"Frames that passed the capture filter, dropped ones included.", nil, nil)
	descKernelFreezes = prometheus.NewDesc("nlbprobe_kernel_ring_freezes_total",
		"Times the capture ring filled up.", nil, nil)
	descEvicted = prometheus.NewDesc("nlbprobe_state_evicted_total",
		"Entries evicted from nlbprobe's bounded tables (a flood of random addresses).", []string{"table"}, nil)
	descLastFrame = prometheus.NewDesc("nlbprobe_last_frame_timestamp_seconds",
		"Capture time of the latest frame analyzed.", nil, nil)
	descFindings = prometheus.NewDesc("nlbprobe_findings",
		"Findings held, by kind, counted under each severity (0 where none): a finding whose severity changes moves between series.",
		[]string{"kind", "severity"}, nil)

	descHosts = prometheus.NewDesc("nlbprobe_cluster_hosts",
		"Hosts of the cluster heartbeating now: each sent a heartbeat within NLB's tolerance of 5 of its heartbeat periods.",
		[]string{"cluster", "vlan", "svlan", "remote_span"}, nil)
	descHostsMax = prometheus.NewDesc("nlbprobe_cluster_hosts_max",
		"The most hosts of the cluster heartbeating at once since this probe started (what the cluster had).",
		[]string{"cluster", "vlan", "svlan", "remote_span"}, nil)
	descMode = prometheus.NewDesc("nlbprobe_cluster_mode",
		"1 for the cluster's mode as its latest heartbeats show it, 0 for the other modes.",
		[]string{"cluster", "vlan", "svlan", "remote_span", "mode"}, nil)
	descModeChanges = prometheus.NewDesc("nlbprobe_cluster_mode_changes_total",
		"Changes of the cluster's mode (unicast, multicast, igmp) this probe saw.", []string{"cluster", "vlan", "svlan", "remote_span"}, nil)
	descHeartbeats = prometheus.NewDesc("nlbprobe_heartbeats_total",
		"NLB membership heartbeats per cluster host (host = host priority).", []string{"cluster", "vlan", "svlan", "remote_span", "host"}, nil)
	descLastSeen = prometheus.NewDesc("nlbprobe_host_last_seen_age_seconds",
		"Seconds the cluster host has been silent: since its last heartbeat (NLB drops a host after 5 missed ones).",
		[]string{"cluster", "vlan", "svlan", "remote_span", "host"}, nil)
	descPeriod = prometheus.NewDesc("nlbprobe_host_heartbeat_period_seconds",
		"The cluster host's heartbeat period as measured (NLB's AliveMsgPeriod, 1 s by default).",
		[]string{"cluster", "vlan", "svlan", "remote_span", "host"}, nil)
	descMemberMissing = prometheus.NewDesc("nlbprobe_host_igmp_member_missing",
		"1 when the host of an IGMP-mode cluster heartbeats but has not reported the cluster's IGMP group (igmp-member-missing), else 0.",
		[]string{"cluster", "vlan", "svlan", "remote_span", "host"}, nil)

	descFloodFrames = prometheus.NewDesc("nlbprobe_cluster_mac_frames_total",
		"Frames to a cluster MAC.", []string{"mac", "vlan", "svlan", "remote_span"}, nil)
	descFloodBytes = prometheus.NewDesc("nlbprobe_cluster_mac_bytes_total",
		"Bytes to a cluster MAC.", []string{"mac", "vlan", "svlan", "remote_span"}, nil)
	descFlooding = prometheus.NewDesc("nlbprobe_cluster_mac_flooding",
		"1 when nlbprobe's verdict on the traffic to a cluster MAC is flooding, else 0.", []string{"mac", "vlan", "svlan", "remote_span"}, nil)
	descMACInfo = prometheus.NewDesc("nlbprobe_cluster_mac_info",
		"The cluster IP a cluster MAC belongs to, empty while unknown (always 1).", []string{"mac", "vlan", "svlan", "remote_span", "cluster"}, nil)

	descQuerierMissing = prometheus.NewDesc("nlbprobe_igmp_querier_missing",
		"1 when hosts report IGMP groups on the VLAN but no querier asked for longer than a switch keeps memberships "+
			"(igmp-no-querier), else 0; present for VLANs with an IGMP-mode cluster.", []string{"vlan", "svlan", "remote_span"}, nil)
	descStaticARPStale = prometheus.NewDesc("nlbprobe_static_arp_stale",
		"1 when a permanent neighbour entry of the probe host disagrees with the MAC the wire uses for its IP (stale-static-arp), else 0.",
		[]string{"interface", "ip", "mac", "vlan", "svlan"}, nil)
	descOmitted = prometheus.NewDesc("nlbprobe_metrics_series_omitted",
		"Label sets left out of the per-cluster, per-host, per-MAC, per-VLAN and per-entry metrics beyond the limit of "+
			strconv.Itoa(maxSeries)+" each.", nil, nil)
)

// allDescs is every metric watch serves, for Describe and for the tests that
// check dashboards and rules name only these.
var allDescs = []*prometheus.Desc{descBuildInfo, descInfo, descFrames, descBytes, descMalformed, descTruncated,
	descUnsupported, descKernelDrops, descKernelReceived, descKernelFreezes, descEvicted, descLastFrame, descFindings,
	descHosts, descHostsMax, descMode, descModeChanges, descHeartbeats, descLastSeen, descPeriod, descMemberMissing,
	descFloodFrames, descFloodBytes, descFlooding, descMACInfo, descQuerierMissing, descStaticARPStale, descOmitted}

// knownModes are the values of nlbprobe_cluster_mode's mode label.
var knownModes = []addr.Mode{addr.ModeUnicast, addr.ModeMulticast, addr.ModeIGMP, addr.ModeUnknown}

func newMetrics(iface, vantage string) *metrics {
	m := &metrics{iface: iface, vantage: vantage, build: readBuildInfo(), clusters: map[clusterLabels]*clusterState{},
		reg: prometheus.NewRegistry()}
	m.reg.MustRegister(m)
	return m
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// publish replaces the snapshot the scrapes read and derives the
// per-cluster state. Called by the capture loop only.
func (m *metrics) publish(s metricsSnapshot) {
	missing := currentFindings(s.report, finding.IGMPMemberMissing)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.clusters {
		c.seen = false
	}
	n := 0
	for _, c := range s.report.Clusters {
		if n >= maxSeries {
			break
		}
		n++
		l := clusterLabelsOf(c)
		st, ok := m.clusters[l]
		if !ok {
			st = &clusterState{}
			m.clusters[l] = st
		}
		st.seen = true
		st.mode = c.Mode
		if c.Mode != addr.ModeUnknown {
			if st.lastMode != addr.ModeUnknown && st.lastMode != c.Mode {
				st.changes++
			}
			st.lastMode = c.Mode
		}
		st.alive = 0
		st.memberMissing = nil
		vlan := reportVLAN(c.VLAN, c.SVLAN, c.RemoteSpan)
		for _, h := range c.Hosts {
			if heartbeating(h, s.at) {
				st.alive++
			}
			if c.Mode == addr.ModeIGMP {
				if st.memberMissing == nil {
					st.memberMissing = map[uint32]bool{}
				}
				st.memberMissing[h.Priority] = missing[fmt.Sprintf("cluster %v vlan %v host %d", c.ClusterIP, vlan, h.Priority)]
			}
		}
		st.maxAlive = max(st.maxAlive, st.alive)
	}
	// A cluster evicted from the engine's table leaves the metrics.
	for l, c := range m.clusters {
		if !c.seen {
			delete(m.clusters, l)
		}
	}
	m.snap = s
}

// heartbeating says whether host h sent a heartbeat within NLB's
// tolerance (5 heartbeat periods) before now.
func heartbeating(h analyze.Host, now time.Time) bool {
	period := time.Duration(h.PeriodSeconds * float64(time.Second))
	if period <= 0 {
		period = nlb.DefaultPeriod
	}
	return now.Sub(h.LastSeen) <= nlb.Tolerance*period
}

// currentFindings indexes the subjects of the findings of kind that hold
// now: warnings and errors (an info says the capture was too short to
// know) that have not ended (a host that reported its group since, a
// querier that came back).
func currentFindings(r *analyze.Report, kind finding.Kind) map[string]bool {
	out := map[string]bool{}
	for _, f := range r.Findings {
		if f.Kind == kind && f.Severity >= finding.Warning && f.End.IsZero() {
			out[f.Subject] = true
		}
	}
	return out
}

func clusterLabelsOf(c analyze.Cluster) clusterLabels {
	return clusterLabels{c.ClusterIP.String(), vlanLabel(c.VLAN), vlanLabel(c.SVLAN), remoteSpanLabel(c.RemoteSpan)}
}

// vlanLabel is a vlan or svlan label value: the decimal ID, "0" for none
// (the JSON contract's numbers).
func vlanLabel(id uint16) string { return strconv.Itoa(int(id)) }

// remoteSpanLabel is a remote_span label value: the JSON contract's
// remote_span as KIND:ID ("erspan:7", "vxlan:5070"), "" for frames
// captured directly, which Prometheus stores as no label at all (so the
// series of a probe without remote spans are those it had before the
// label).
func remoteSpanLabel(s *analyze.RemoteSpan) string {
	if s == nil {
		return ""
	}
	return s.Kind + ":" + strconv.FormatUint(uint64(s.ID), 10)
}

// reportVLAN is the engine's VLAN (frame.VLAN: tag, outer tag, remote-span
// session) of a report entry, the key the engine's finding subjects name.
func reportVLAN(vlan, svlan uint16, s *analyze.RemoteSpan) frame.VLAN {
	v := frame.MakeVLAN(vlan, svlan)
	if s == nil {
		return v
	}
	for k := frame.SessionNone + 1; k.String() != "invalid"; k++ {
		if k.String() == s.Kind {
			return v.InSession(k, s.ID)
		}
	}
	return v
}

// Describe sends the descriptions of every metric.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect sends the metrics of the latest snapshot.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.snap
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descBuildInfo, 1, m.build.Version, m.build.Revision, m.build.GoVersion)
	gauge(descInfo, 1, m.iface, m.vantage)
	counter(descKernelDrops, s.kernel.Dropped)
	counter(descKernelReceived, s.kernel.Received)
	counter(descKernelFreezes, s.kernel.Freezes)
	r := s.report
	if r == nil {
		return
	}
	st := &r.Stats
	pb := s.protoBytes
	for _, p := range []struct {
		name          string
		frames, bytes uint64
	}{
		{"arp", st.Protocols.ARP, pb.arp}, {"arp_other", st.Protocols.ARPOther, pb.arpOther},
		{"ipv4", st.Protocols.IPv4, pb.ipv4}, {"igmp", st.Protocols.IGMP, pb.igmp},
		{"nlb_heartbeat", st.Protocols.Heartbeats, pb.heartbeat}, {"nlb_unknown", st.Protocols.NLBUnknown, pb.nlbUnknown},
		{"other", st.Protocols.Other, pb.other},
	} {
		counter(descFrames, p.frames, p.name)
		counter(descBytes, p.bytes, p.name)
	}
	counter(descMalformed, st.Malformed)
	counter(descTruncated, st.Truncated)
	counter(descUnsupported, st.Unsupported)
	for _, e := range []struct {
		table string
		n     uint64
	}{{"bindings", st.Evicted.Bindings}, {"igmp", st.Evicted.IGMP}, {"clusters", st.Evicted.Clusters},
		{"cluster_macs", st.Evicted.ClusterMACs}, {"findings", st.Evicted.Findings}} {
		counter(descEvicted, e.n, e.table)
	}
	if !r.Capture.End.IsZero() {
		gauge(descLastFrame, float64(r.Capture.End.UnixNano())/1e9)
	}
	m.collectFindings(ch, r)

	omitted := 0
	limit := func(n *int) bool {
		if *n >= maxSeries {
			omitted++
			return false
		}
		*n++
		return true
	}
	now := time.Now()
	var clusters, hosts, macs, vlans, entries int
	igmpVLANs := map[frame.VLAN]bool{}
	for _, c := range r.Clusters {
		if !limit(&clusters) {
			continue
		}
		l := clusterLabelsOf(c)
		cs := m.clusters[l]
		if cs == nil { // published without this cluster: cannot happen, but never panic in a scrape
			continue
		}
		if c.Mode == addr.ModeIGMP {
			igmpVLANs[reportVLAN(c.VLAN, c.SVLAN, c.RemoteSpan)] = true
		}
		gauge(descHosts, float64(cs.alive), l.cluster, l.vlan, l.svlan, l.remoteSpan)
		gauge(descHostsMax, float64(cs.maxAlive), l.cluster, l.vlan, l.svlan, l.remoteSpan)
		for _, mode := range knownModes {
			gauge(descMode, boolValue(c.Mode == mode), l.cluster, l.vlan, l.svlan, l.remoteSpan, mode.String())
		}
		counter(descModeChanges, cs.changes, l.cluster, l.vlan, l.svlan, l.remoteSpan)
		for _, h := range c.Hosts {
			if !limit(&hosts) {
				continue
			}
			host := strconv.Itoa(int(h.Priority))
			counter(descHeartbeats, h.Heartbeats, l.cluster, l.vlan, l.svlan, l.remoteSpan, host)
			gauge(descLastSeen, max(now.Sub(h.LastSeen).Seconds(), 0), l.cluster, l.vlan, l.svlan, l.remoteSpan, host)
			period := h.PeriodSeconds
			if period <= 0 { // the engine starts every host at NLB's default
				period = nlb.DefaultPeriod.Seconds()
			}
			gauge(descPeriod, period, l.cluster, l.vlan, l.svlan, l.remoteSpan, host)
			if missing, ok := cs.memberMissing[h.Priority]; ok {
				gauge(descMemberMissing, boolValue(missing), l.cluster, l.vlan, l.svlan, l.remoteSpan, host)
			}
		}
	}
	for _, f := range r.Flood {
		if !limit(&macs) {
			continue
		}
		mac, vlan, svlan, span := f.MAC.String(), vlanLabel(f.VLAN), vlanLabel(f.SVLAN), remoteSpanLabel(f.RemoteSpan)
		counter(descFloodFrames, f.Frames, mac, vlan, svlan, span)
		counter(descFloodBytes, f.Bytes, mac, vlan, svlan, span)
		gauge(descFlooding, boolValue(f.Verdict == "flooding"), mac, vlan, svlan, span)
		cluster := ""
		if f.ClusterIP.IsValid() {
			cluster = f.ClusterIP.String()
		}
		gauge(descMACInfo, 1, mac, vlan, svlan, span, cluster)
	}
	for vlan, missing := range queriersMissing(r, igmpVLANs, s.at) {
		if !limit(&vlans) {
			continue
		}
		gauge(descQuerierMissing, boolValue(missing), vlanLabel(vlan.ID()), vlanLabel(vlan.Outer()),
			remoteSpanLabel(finding.RemoteSpanOf(vlan)))
	}
	for _, e := range s.staticARP {
		if !limit(&entries) {
			continue
		}
		gauge(descStaticARPStale, boolValue(e.stale), e.entry.Interface, e.entry.IP.String(), e.entry.MAC.String(),
			vlanLabel(e.entry.VLAN), "0")
	}
	gauge(descOmitted, float64(omitted))
}

// collectFindings sends nlbprobe_findings: for each kind held, the count
// under each severity.
func (m *metrics) collectFindings(ch chan<- prometheus.Metric, r *analyze.Report) {
	counts := map[finding.Kind]*[3]int{}
	var order []finding.Kind
	for _, f := range r.Findings {
		c := counts[f.Kind]
		if c == nil {
			c = &[3]int{}
			counts[f.Kind] = c
			order = append(order, f.Kind)
		}
		if int(f.Severity) < len(c) {
			c[f.Severity]++
		}
	}
	for _, k := range order {
		for sev, n := range counts[k] {
			ch <- prometheus.MustNewConstMetric(descFindings, prometheus.GaugeValue, float64(n), string(k), finding.Severity(sev).String())
		}
	}
}

// queriersMissing says, for each VLAN with an IGMP-mode cluster or an
// igmp-no-querier finding, whether the VLAN lacks a querier now: the
// engine raised igmp-no-querier (hosts report but no query came for as long
// as a switch keeps memberships), and no querier has asked since then
// within that time. The engine raises the finding once; the querier coming
// back is what clears the metric. VLANs are the engine's: a remote span's
// session is part of them.
func queriersMissing(r *analyze.Report, igmpVLANs map[frame.VLAN]bool, now time.Time) map[frame.VLAN]bool {
	out := map[frame.VLAN]bool{}
	for v := range igmpVLANs {
		out[v] = false
	}
	lastQuery := map[frame.VLAN]time.Time{}
	for _, q := range r.Queriers {
		v := reportVLAN(q.VLAN, q.SVLAN, q.RemoteSpan)
		if q.LastSeen.After(lastQuery[v]) {
			lastQuery[v] = q.LastSeen
		}
	}
	noQuerier := map[frame.VLAN]bool{}
	for _, f := range r.Findings {
		if f.Kind == finding.IGMPNoQuerier && f.Severity >= finding.Warning {
			v := reportVLAN(f.VLAN, f.SVLAN, f.RemoteSpan)
			noQuerier[v] = true
			out[v] = false
		}
	}
	for v := range out {
		if !noQuerier[v] {
			continue
		}
		last, ok := lastQuery[v]
		out[v] = !ok || now.Sub(last) >= igmp.MembershipTimeout
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
