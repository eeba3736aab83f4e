package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// scrapeHandler serves m's metrics over HTTP, as --metrics-listen does,
// and returns the page a Prometheus scrape gets.
func scrapeHandler(t *testing.T, m *metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// A collector error (two series with the same labels) fails the whole
	// scrape: Prometheus gets nothing at all.
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	return string(body)
}

// metricValue returns the value of the sample named exactly series in a
// Prometheus text page, -1 when it is not there. Labels are in the order
// the client library writes them: sorted by name.
func metricValue(page, series string) float64 {
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}

// scenarioFeed feeds a fixture scenario's frames to an engine in steps,
// as a live capture would deliver them.
type scenarioFeed struct {
	e       *analyze.Engine
	c       *fixtures.Capture
	next    int
	records []fixtures.Record
}

func newScenarioFeed(t *testing.T, name string, opts analyze.Options) *scenarioFeed {
	t.Helper()
	sc, ok := fixtures.Lookup(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	c, _ := sc.Build()
	return &scenarioFeed{e: analyze.New(opts), c: c, records: c.Records()}
}

// until feeds the frames up to offset d from the start and returns the
// time of that point.
func (f *scenarioFeed) until(d time.Duration) time.Time {
	for ; f.next < len(f.records) && f.records[f.next].At <= d; f.next++ {
		r := f.records[f.next]
		f.e.Packet(r.Frame, analyze.Meta{Frame: uint64(f.next + 1), Time: f.c.Start.Add(r.At), Length: len(r.Frame), LinkType: f.c.LinkType})
	}
	return f.c.Start.Add(d)
}

// end feeds the rest and returns the time of the last frame.
func (f *scenarioFeed) end() time.Time {
	f.until(time.Duration(1<<62 - 1))
	return f.c.Start.Add(f.records[len(f.records)-1].At)
}

// TestMetricsScrape publishes a snapshot of the flooding scenario and
// scrapes it over HTTP as Prometheus would.
func TestMetricsScrape(t *testing.T) {
	e := scenarioEngine(t, "flooding-nonmember", analyze.Options{Vantage: analyze.VantageNonMember})
	m := newMetrics("eth1", "nonmember")
	snap := e.Snapshot()
	at := snap.Capture.End
	m.publish(metricsSnapshot{report: snap, kernel: capture.LiveStats{Received: 10, Dropped: 3, Freezes: 1},
		protoBytes: protocolBytes{ipv4: 1234, heartbeat: 99}, at: at})
	page := scrapeHandler(t, m)
	if len(snap.Flood) == 0 || len(snap.Clusters) == 0 {
		t.Fatalf("the scenario gave no flood or cluster: %+v", snap)
	}
	f := snap.Flood[0]
	c := snap.Clusters[0]
	b := readBuildInfo()
	mac, cluster := f.MAC.String(), c.ClusterIP.String()
	for series, want := range map[string]float64{
		`nlbprobe_build_info{goversion="` + b.GoVersion + `",revision="` + b.Revision + `",version="` + b.Version + `"}`: 1,
		`nlbprobe_capture_info{interface="eth1",vantage="nonmember"}`:                                                    1,
		`nlbprobe_kernel_drops_total`:                                                                                  3,
		`nlbprobe_kernel_received_total`:                                                                               10,
		`nlbprobe_kernel_ring_freezes_total`:                                                                           1,
		`nlbprobe_bytes_total{protocol="ipv4"}`:                                                                        1234,
		`nlbprobe_bytes_total{protocol="nlb_heartbeat"}`:                                                               99,
		`nlbprobe_frames_total{protocol="ipv4"}`:                                                                       float64(snap.Stats.Protocols.IPv4),
		`nlbprobe_frames_total{protocol="arp"}`:                                                                        float64(snap.Stats.Protocols.ARP),
		`nlbprobe_frames_total{protocol="nlb_heartbeat"}`:                                                              float64(snap.Stats.Protocols.Heartbeats),
		`nlbprobe_malformed_frames_total`:                                                                              0,
		`nlbprobe_cluster_mac_frames_total{mac="` + mac + `",remote_span="",svlan="0",vlan="0"}`:                       float64(f.Frames),
		`nlbprobe_cluster_mac_bytes_total{mac="` + mac + `",remote_span="",svlan="0",vlan="0"}`:                        float64(f.Bytes),
		`nlbprobe_cluster_mac_flooding{mac="` + mac + `",remote_span="",svlan="0",vlan="0"}`:                           1,
		`nlbprobe_cluster_mac_info{cluster="` + cluster + `",mac="` + mac + `",remote_span="",svlan="0",vlan="0"}`:     1,
		`nlbprobe_heartbeats_total{cluster="` + cluster + `",host="1",remote_span="",svlan="0",vlan="0"}`:              float64(c.Hosts[0].Heartbeats),
		`nlbprobe_host_heartbeat_period_seconds{cluster="` + cluster + `",host="1",remote_span="",svlan="0",vlan="0"}`: c.Hosts[0].PeriodSeconds,
		`nlbprobe_cluster_hosts{cluster="` + cluster + `",remote_span="",svlan="0",vlan="0"}`:                          2,
		`nlbprobe_cluster_hosts_max{cluster="` + cluster + `",remote_span="",svlan="0",vlan="0"}`:                      2,
		`nlbprobe_cluster_mode{cluster="` + cluster + `",mode="multicast",remote_span="",svlan="0",vlan="0"}`:          1,
		`nlbprobe_cluster_mode{cluster="` + cluster + `",mode="unicast",remote_span="",svlan="0",vlan="0"}`:            0,
		`nlbprobe_cluster_mode{cluster="` + cluster + `",mode="igmp",remote_span="",svlan="0",vlan="0"}`:               0,
		`nlbprobe_cluster_mode{cluster="` + cluster + `",mode="unknown",remote_span="",svlan="0",vlan="0"}`:            0,
		`nlbprobe_cluster_mode_changes_total{cluster="` + cluster + `",remote_span="",svlan="0",vlan="0"}`:             0,
		`nlbprobe_findings{kind="multicast-flooding",severity="warning"}`:                                              1,
		`nlbprobe_findings{kind="multicast-flooding",severity="error"}`:                                                0,
		`nlbprobe_findings{kind="multicast-flooding",severity="info"}`:                                                 0,
		`nlbprobe_metrics_series_omitted`:                                                                              0,
	} {
		if got := metricValue(page, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// Gone: the rate (the rules take rate() of the counter), the verdict
	// and mode labels, "untagged", and the non-protocols among protocols.
	for _, gone := range []string{"nlbprobe_cluster_mac_frames_per_second", `verdict="`, `vlan="untagged"`,
		`protocol="malformed"`, `protocol="unsupported"`, `nlbprobe_cluster_hosts{cluster="` + cluster + `",mode=`} {
		if strings.Contains(page, gone) {
			t.Errorf("the page still has %s", gone)
		}
	}
	// A multicast-mode cluster has no IGMP membership to miss, and the
	// probe host's neighbour table was not read.
	for _, absent := range []string{"nlbprobe_host_igmp_member_missing{", "nlbprobe_igmp_querier_missing{", "nlbprobe_static_arp_stale{"} {
		if strings.Contains(page, absent) {
			t.Errorf("the page has %s", absent)
		}
	}
}

// TestMetricsStates checks the per-state gauges against scenarios whose
// findings and reports say what the state is: a gauge per state that the
// rules read, never a label that changes.
func TestMetricsStates(t *testing.T) {
	tests := []struct {
		scenario string
		vantage  analyze.Vantage
		// steps are offsets from the capture's start at which a snapshot
		// is published (the capture loop publishes once a second); the
		// end of the capture is always the last.
		steps []time.Duration
		// after is how long after the last frame the last snapshot is
		// published (a capture idle since).
		after time.Duration
		want  map[string]float64
	}{
		{
			scenario: "igmp-member-missing",
			want: map[string]float64{
				`nlbprobe_host_igmp_member_missing{cluster="10.20.3.232",host="1",remote_span="",svlan="0",vlan="0"}`: 0,
				`nlbprobe_host_igmp_member_missing{cluster="10.20.3.232",host="2",remote_span="",svlan="0",vlan="0"}`: 1,
				`nlbprobe_igmp_querier_missing{remote_span="",svlan="0",vlan="0"}`:                                    0,
				`nlbprobe_cluster_mode{cluster="10.20.3.232",mode="igmp",remote_span="",svlan="0",vlan="0"}`:          1,
			},
		},
		{
			// Before the first query (at 5 s) is answered, nobody is
			// missing yet.
			scenario: "igmp-member-missing", steps: []time.Duration{4 * time.Second}, after: -1,
			want: map[string]float64{
				`nlbprobe_host_igmp_member_missing{cluster="10.20.3.232",host="2",remote_span="",svlan="0",vlan="0"}`: 0,
			},
		},
		{
			// Node 2 does not answer the query at 5 s: missing once its
			// response time is over, ...
			scenario: "igmp-late-join", steps: []time.Duration{30 * time.Second}, after: -1,
			want: map[string]float64{
				`nlbprobe_host_igmp_member_missing{cluster="10.20.4.232",host="1",remote_span="",svlan="0",vlan="0"}`: 0,
				`nlbprobe_host_igmp_member_missing{cluster="10.20.4.232",host="2",remote_span="",svlan="0",vlan="0"}`: 1,
				`nlbprobe_cluster_mac_flooding{mac="01:00:5e:7f:04:e8",remote_span="",svlan="0",vlan="0"}`:            1,
			},
		},
		{
			// ... and no longer once it reported (at 73 s): its finding
			// ended, and the flood verdict followed.
			scenario: "igmp-late-join",
			want: map[string]float64{
				`nlbprobe_host_igmp_member_missing{cluster="10.20.4.232",host="1",remote_span="",svlan="0",vlan="0"}`: 0,
				`nlbprobe_host_igmp_member_missing{cluster="10.20.4.232",host="2",remote_span="",svlan="0",vlan="0"}`: 0,
				`nlbprobe_cluster_mac_flooding{mac="01:00:5e:7f:04:e8",remote_span="",svlan="0",vlan="0"}`:            0,
			},
		},
		{
			scenario: "igmp-no-querier",
			want: map[string]float64{
				`nlbprobe_igmp_querier_missing{remote_span="",svlan="0",vlan="0"}`:                                   1,
				`nlbprobe_host_igmp_member_missing{cluster="10.60.1.50",host="1",remote_span="",svlan="0",vlan="0"}`: 0,
				`nlbprobe_host_igmp_member_missing{cluster="10.60.1.50",host="2",remote_span="",svlan="0",vlan="0"}`: 0,
			},
		},
		{
			// Heartbeats in unicast mode, then in multicast mode: one
			// change.
			scenario: "mode-change-residue", steps: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second},
			want: map[string]float64{
				`nlbprobe_cluster_mode_changes_total{cluster="10.0.0.50",remote_span="",svlan="0",vlan="0"}`:               1,
				`nlbprobe_cluster_mode{cluster="10.0.0.50",mode="multicast",remote_span="",svlan="0",vlan="0"}`:            1,
				`nlbprobe_cluster_mode{cluster="10.0.0.50",mode="unicast",remote_span="",svlan="0",vlan="0"}`:              0,
				`nlbprobe_cluster_mac_flooding{mac="02:bf:0a:00:00:32",remote_span="",svlan="0",vlan="0"}`:                 1,
				`nlbprobe_cluster_mac_info{cluster="10.0.0.50",mac="02:bf:0a:00:00:32",remote_span="",svlan="0",vlan="0"}`: 1,
			},
		},
		{
			// Both hosts heartbeat, then the capture goes quiet: 10 s
			// later neither is heartbeating, and the cluster had two.
			scenario: "flooding-nonmember", vantage: analyze.VantageNonMember, steps: []time.Duration{19 * time.Second}, after: 10 * time.Second,
			want: map[string]float64{
				`nlbprobe_cluster_hosts{cluster="10.30.0.100",remote_span="",svlan="0",vlan="0"}`:     0,
				`nlbprobe_cluster_hosts_max{cluster="10.30.0.100",remote_span="",svlan="0",vlan="0"}`: 2,
			},
		},
		{
			// 4 s after the last frame: within NLB's 5 missed heartbeats.
			scenario: "flooding-nonmember", vantage: analyze.VantageNonMember, after: 4 * time.Second,
			want: map[string]float64{
				`nlbprobe_cluster_hosts{cluster="10.30.0.100",remote_span="",svlan="0",vlan="0"}`: 2,
			},
		},
	}
	for _, tt := range tests {
		name := tt.scenario
		if d := fmtDurations(tt.steps, tt.after); d != "" {
			name += "/" + d
		}
		t.Run(name, func(t *testing.T) {
			feed := newScenarioFeed(t, tt.scenario, analyze.Options{Vantage: tt.vantage})
			m := newMetrics("eth1", tt.vantage.String())
			for _, d := range tt.steps {
				at := feed.until(d)
				m.publish(metricsSnapshot{report: feed.e.Snapshot(), at: at})
			}
			if tt.after >= 0 {
				at := feed.end().Add(tt.after)
				m.publish(metricsSnapshot{report: feed.e.Snapshot(), at: at})
			}
			page := scrapeHandler(t, m)
			for series, want := range tt.want {
				if got := metricValue(page, series); got != want {
					t.Errorf("%s = %v, want %v", series, got, want)
				}
			}
		})
	}
}

func fmtDurations(steps []time.Duration, after time.Duration) string {
	var parts []string
	for _, d := range steps {
		parts = append(parts, "at_"+d.String())
	}
	if after > 0 {
		parts = append(parts, "idle_"+after.String())
	}
	if after < 0 {
		parts = append(parts, "not_to_the_end")
	}
	return strings.Join(parts, "_")
}

// TestMetricsQuerierBack: the engine raises igmp-no-querier once; the
// metric goes back to 0 while a querier asks, and to 1 again when it has
// been silent for as long as a switch keeps memberships.
func TestMetricsQuerierBack(t *testing.T) {
	feed := newScenarioFeed(t, "igmp-no-querier", analyze.Options{})
	end := feed.end()
	snap := feed.e.Snapshot()
	series := `nlbprobe_igmp_querier_missing{remote_span="",svlan="0",vlan="0"}`
	for _, tt := range []struct {
		name    string
		querier time.Time // zero: none
		at      time.Time
		want    float64
	}{
		{"no querier ever", time.Time{}, end, 1},
		{"a querier asked after the finding", end.Add(time.Second), end.Add(2 * time.Second), 0},
		{"that querier silent for 260 s", end.Add(time.Second), end.Add(261 * time.Second), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := *snap
			r.Queriers = nil
			if !tt.querier.IsZero() {
				r.Queriers = []analyze.Querier{{IP: netip.MustParseAddr("10.60.1.1"), LastSeen: tt.querier}}
			}
			m := newMetrics("eth1", "span")
			m.publish(metricsSnapshot{report: &r, at: tt.at})
			if got := metricValue(scrapeHandler(t, m), series); got != tt.want {
				t.Errorf("%s = %v, want %v", series, got, tt.want)
			}
		})
	}
}

// TestMetricsStaticARP: one series per permanent entry of the probe host,
// 1 for the one the wire contradicts. The watcher checks each entry on its
// own, so the stale one is told apart.
func TestMetricsStaticARP(t *testing.T) {
	e := scenarioEngine(t, "flooding-nonmember", analyze.Options{Vantage: analyze.VantageNonMember})
	vip := netip.MustParseAddr("10.30.0.100")
	good, _ := addr.ClusterMAC(addr.ModeMulticast, vip)
	old, _ := addr.ClusterMAC(addr.ModeUnicast, vip)
	w := &watcher{e: e}
	w.checkStaticARP([]capture.StaticNeighbour{
		{Interface: "eth1", IP: vip, MAC: good},
		{Interface: "eth1.20", VLAN: 20, IP: vip, MAC: old}, // the wire said nothing about vlan 20
		{Interface: "eth1", IP: netip.MustParseAddr("10.30.0.101"), MAC: old},
	})
	w.checkStaticARP([]capture.StaticNeighbour{
		{Interface: "eth1", IP: vip, MAC: old},
		{Interface: "eth1", IP: netip.MustParseAddr("10.30.0.101"), MAC: old},
	})
	m := newMetrics("eth1", "nonmember")
	m.publish(metricsSnapshot{report: e.Snapshot(), staticARP: w.staticARP, at: time.Now()})
	page := scrapeHandler(t, m)
	for series, want := range map[string]float64{
		`nlbprobe_static_arp_stale{interface="eth1",ip="10.30.0.100",mac="` + old.String() + `",svlan="0",vlan="0"}`:  1,
		`nlbprobe_static_arp_stale{interface="eth1",ip="10.30.0.101",mac="` + old.String() + `",svlan="0",vlan="0"}`:  0,
		`nlbprobe_static_arp_stale{interface="eth1",ip="10.30.0.100",mac="` + good.String() + `",svlan="0",vlan="0"}`: -1, // gone with the first reading
	} {
		if got := metricValue(page, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// TestMetricsCardinality: beyond maxSeries label sets of a family, series
// are left out and counted.
func TestMetricsCardinality(t *testing.T) {
	r := &analyze.Report{}
	now := time.Now()
	for i := 0; i < maxSeries+10; i++ {
		r.Flood = append(r.Flood, analyze.Flood{MAC: addr.MAC{0x03, 0xbf, 10, 0, byte(i >> 8), byte(i)}, Frames: 1, Verdict: "flooding"})
	}
	// 20 clusters of 60 hosts: 1200 hosts, 176 past the limit.
	for c := 0; c < 20; c++ {
		cl := analyze.Cluster{ClusterIP: netip.AddrFrom4([4]byte{10, 1, byte(c), 1}), Mode: addr.ModeUnicast}
		for h := 0; h < 60; h++ {
			cl.Hosts = append(cl.Hosts, analyze.Host{Priority: uint32(h + 1), LastSeen: now, Heartbeats: 1})
		}
		r.Clusters = append(r.Clusters, cl)
	}
	var neigh []staticARPEntry
	for i := 0; i < maxSeries+3; i++ {
		neigh = append(neigh, staticARPEntry{entry: capture.StaticNeighbour{Interface: "eth1",
			IP: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), MAC: addr.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)}}})
	}
	m := newMetrics("eth1", "span")
	m.publish(metricsSnapshot{report: r, staticARP: neigh, at: now})
	page := scrapeHandler(t, m)
	for prefix, want := range map[string]int{
		"nlbprobe_cluster_mac_frames_total{": maxSeries,
		"nlbprobe_heartbeats_total{":         maxSeries,
		"nlbprobe_cluster_hosts{":            20,
		"nlbprobe_static_arp_stale{":         maxSeries,
	} {
		if got := strings.Count(page, "\n"+prefix); got != want {
			t.Errorf("%d %s series, want %d", got, prefix, want)
		}
	}
	if got := metricValue(page, "nlbprobe_metrics_series_omitted"); got != 10+176+3 {
		t.Errorf("omitted %v, want %d", got, 10+176+3)
	}
}

// TestMetricsPromtoolCheck runs `promtool check metrics` (Prometheus'
// own linter of names, types, units and help) on a page with every family
// watch serves; the lab test runs it on a live scrape too.
func TestMetricsPromtoolCheck(t *testing.T) {
	page := fullMetricsPage(t)
	for _, d := range allDescs {
		name := descName(d)
		if !strings.Contains(page, "\n"+name+" ") && !strings.Contains(page, "\n"+name+"{") {
			t.Errorf("the page lacks %s: the test does not lint every family", name)
		}
	}
	promtoolCheckMetrics(t, page)
}

// fullMetricsPage is a scrape with every family present: an IGMP-mode
// cluster with a missing member, a flooded cluster MAC and a stale static
// entry.
func fullMetricsPage(t *testing.T) string {
	t.Helper()
	e := scenarioEngine(t, "igmp-member-missing", analyze.Options{})
	w := &watcher{e: e}
	mcast, _ := addr.ClusterMAC(addr.ModeMulticast, netip.MustParseAddr("10.20.3.232"))
	w.checkStaticARP([]capture.StaticNeighbour{{Interface: "eth1", IP: netip.MustParseAddr("10.20.3.232"), MAC: mcast}})
	snap := e.Snapshot()
	m := newMetrics("eth1", "span")
	m.publish(metricsSnapshot{report: snap, kernel: capture.LiveStats{Received: 1}, staticARP: w.staticARP, at: snap.Capture.End})
	return scrapeHandler(t, m)
}

// descName reads the fully-qualified name out of a Desc (the client
// library has no accessor).
func descName(d interface{ String() string }) string {
	s := d.String()
	_, rest, _ := strings.Cut(s, `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

// The remote spans of TestMetricsRemoteSpans: switches that mirror to one
// collector, besides the remote-span scenario's ERSPAN session 7 and VXLAN
// VNI 5070.
var (
	spanCollector, spanCollectorMAC = netip.MustParseAddr("192.0.2.10"), addr.MAC{0x00, 0x15, 0x5d, 0xc0, 0x02, 0x0a}
	spanSwitchMAC                   = addr.MAC{0x00, 0x1b, 0x54, 0xc0, 0x02, 0xfe}
)

func erspanSession(typ int, session uint16) func([]byte) []byte {
	e := &fixtures.ERSPAN{Type: typ, Session: session, Encap: fixtures.ERSPANTagKept,
		Switch: netip.MustParseAddr("192.0.2.3"), Collector: spanCollector, SwitchMAC: spanSwitchMAC, CollectorMAC: spanCollectorMAC}
	return func(f []byte) []byte { return e.Wrap(f, false) }
}

func vxlanSession(vni uint32) func([]byte) []byte {
	v := fixtures.VXLAN{VNI: vni, SourcePort: 49152, Switch: netip.MustParseAddr("192.0.2.4"), Collector: spanCollector,
		SwitchMAC: spanSwitchMAC, CollectorMAC: spanCollectorMAC}
	return v.Wrap
}

func direct(f []byte) []byte { return f }

// mirror adds the frames of scenario name to c once for each wrapper:
// the same traffic as several remote spans (and the collector's own link)
// deliver it.
func mirror(t *testing.T, c *fixtures.Capture, name string, wraps ...func([]byte) []byte) {
	t.Helper()
	sc, ok := fixtures.Lookup(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	src, _ := sc.Build()
	if !src.Start.Equal(c.Start) {
		t.Fatalf("scenario %s starts at %v, not %v", name, src.Start, c.Start)
	}
	for _, r := range src.Records() {
		for _, wrap := range wraps {
			c.Add(r.At, wrap(r.Frame))
		}
	}
}

// mirroredInner returns the frame a remote span's frame carries (ERSPAN
// type II, VXLAN), ok false for any other frame; decoded by gopacket, not
// by the decoder under test.
func mirroredInner(f []byte) (inner []byte, ok bool) {
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.NoCopy)
	for _, lt := range []gopacket.LayerType{layers.LayerTypeVXLAN, layers.LayerTypeERSPANII} {
		if l := p.Layer(lt); l != nil {
			return l.LayerPayload(), true
		}
	}
	return nil, false
}

// TestMetricsRemoteSpans: a collector that gets the same cluster through
// several remote spans (and on its own link) serves one series per
// session, named by remote_span, instead of colliding series that fail
// the whole scrape; and what metrics.go derives from findings (a member
// missing, a querier missing) is told apart per session too.
func TestMetricsRemoteSpans(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T, c *fixtures.Capture)
		want  map[string]float64
	}{
		{
			// The remote-span scenario (multicast cluster 10.70.0.100 on
			// VLAN 70 in ERSPAN session 7, unicast cluster 10.80.0.50
			// untagged in VXLAN VNI 5070), its mirrored frames mirrored
			// again by ERSPAN session 8 and seen on the collector's own
			// link too.
			name: "remote-span, again in ERSPAN session 8 and direct",
			build: func(t *testing.T, c *fixtures.Capture) {
				sc, _ := fixtures.Lookup("remote-span")
				src, _ := sc.Build()
				erspan8 := erspanSession(2, 8)
				n := 0
				for _, r := range src.Records() {
					c.Add(r.At, r.Frame)
					if inner, ok := mirroredInner(r.Frame); ok {
						c.Add(r.At, erspan8(inner))
						c.Add(r.At, inner)
						n++
					}
				}
				if n != 101 {
					t.Fatalf("%d mirrored frames in remote-span, want 101", n)
				}
			},
			want: map[string]float64{
				`nlbprobe_cluster_hosts{cluster="10.80.0.50",remote_span="vxlan:5070",svlan="0",vlan="0"}`:                            2,
				`nlbprobe_cluster_hosts{cluster="10.80.0.50",remote_span="erspan:8",svlan="0",vlan="0"}`:                              2,
				`nlbprobe_cluster_hosts{cluster="10.80.0.50",remote_span="",svlan="0",vlan="0"}`:                                      2,
				`nlbprobe_cluster_hosts{cluster="10.70.0.100",remote_span="erspan:7",svlan="0",vlan="70"}`:                            2,
				`nlbprobe_cluster_mode{cluster="10.80.0.50",mode="unicast",remote_span="erspan:8",svlan="0",vlan="0"}`:                1,
				`nlbprobe_cluster_mode{cluster="10.70.0.100",mode="multicast",remote_span="erspan:7",svlan="0",vlan="70"}`:            1,
				`nlbprobe_cluster_mode_changes_total{cluster="10.80.0.50",remote_span="",svlan="0",vlan="0"}`:                         0,
				`nlbprobe_heartbeats_total{cluster="10.80.0.50",host="3",remote_span="vxlan:5070",svlan="0",vlan="0"}`:                12,
				`nlbprobe_heartbeats_total{cluster="10.80.0.50",host="3",remote_span="erspan:8",svlan="0",vlan="0"}`:                  12,
				`nlbprobe_heartbeats_total{cluster="10.80.0.50",host="3",remote_span="",svlan="0",vlan="0"}`:                          12,
				`nlbprobe_cluster_hosts{cluster="10.70.0.100",remote_span="erspan:8",svlan="0",vlan="70"}`:                            2,
				`nlbprobe_cluster_hosts{cluster="10.70.0.100",remote_span="",svlan="0",vlan="70"}`:                                    2,
				`nlbprobe_cluster_mac_frames_total{mac="03:bf:0a:46:00:64",remote_span="erspan:7",svlan="0",vlan="70"}`:               71,
				`nlbprobe_cluster_mac_frames_total{mac="03:bf:0a:46:00:64",remote_span="erspan:8",svlan="0",vlan="70"}`:               71,
				`nlbprobe_cluster_mac_frames_total{mac="03:bf:0a:46:00:64",remote_span="",svlan="0",vlan="70"}`:                       71,
				`nlbprobe_cluster_mac_flooding{mac="03:bf:0a:46:00:64",remote_span="erspan:8",svlan="0",vlan="70"}`:                   1,
				`nlbprobe_cluster_mac_info{cluster="10.70.0.100",mac="03:bf:0a:46:00:64",remote_span="erspan:7",svlan="0",vlan="70"}`: 1,
				`nlbprobe_cluster_mac_info{cluster="10.70.0.100",mac="03:bf:0a:46:00:64",remote_span="",svlan="0",vlan="70"}`:         1,
				`nlbprobe_metrics_series_omitted`: 0,
			},
		},
		{
			// An IGMP-mode cluster whose host 2 never reports, mirrored
			// by ERSPAN type III session 3 and VXLAN VNI 9.
			name: "igmp-member-missing in two sessions",
			build: func(t *testing.T, c *fixtures.Capture) {
				mirror(t, c, "igmp-member-missing", erspanSession(3, 3), vxlanSession(9))
			},
			want: map[string]float64{
				`nlbprobe_host_igmp_member_missing{cluster="10.20.3.232",host="2",remote_span="erspan:3",svlan="0",vlan="0"}`: 1,
				`nlbprobe_host_igmp_member_missing{cluster="10.20.3.232",host="1",remote_span="erspan:3",svlan="0",vlan="0"}`: 0,
				`nlbprobe_host_igmp_member_missing{cluster="10.20.3.232",host="2",remote_span="vxlan:9",svlan="0",vlan="0"}`:  1,
				`nlbprobe_host_igmp_member_missing{cluster="10.20.3.232",host="1",remote_span="vxlan:9",svlan="0",vlan="0"}`:  0,
				`nlbprobe_igmp_querier_missing{remote_span="erspan:3",svlan="0",vlan="0"}`:                                    0,
				`nlbprobe_igmp_querier_missing{remote_span="vxlan:9",svlan="0",vlan="0"}`:                                     0,
			},
		},
		{
			// No querier: through a remote span and on the collector's
			// own link alike.
			name: "igmp-no-querier mirrored and direct",
			build: func(t *testing.T, c *fixtures.Capture) {
				mirror(t, c, "igmp-no-querier", vxlanSession(9), direct)
			},
			want: map[string]float64{
				`nlbprobe_igmp_querier_missing{remote_span="vxlan:9",svlan="0",vlan="0"}`:               1,
				`nlbprobe_igmp_querier_missing{remote_span="",svlan="0",vlan="0"}`:                      1,
				`nlbprobe_cluster_hosts{cluster="10.60.1.50",remote_span="vxlan:9",svlan="0",vlan="0"}`: 2,
				`nlbprobe_cluster_hosts{cluster="10.60.1.50",remote_span="",svlan="0",vlan="0"}`:        2,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fixtures.NewCapture()
			tt.build(t, c)
			recs := c.Records()
			e := analyze.New(analyze.Options{})
			for i, r := range recs {
				e.Packet(r.Frame, analyze.Meta{Frame: uint64(i + 1), Time: c.Start.Add(r.At), Length: len(r.Frame), LinkType: c.LinkType})
			}
			snap := e.Snapshot()
			m := newMetrics("eth1", "span")
			m.publish(metricsSnapshot{report: snap, at: snap.Capture.End})
			page := scrapeHandler(t, m)
			for series, want := range tt.want {
				if got := metricValue(page, series); got != want {
					t.Errorf("%s = %v, want %v", series, got, want)
				}
			}
			promtoolCheckMetrics(t, page)
		})
	}
}

// TestMetricsRemoteSpanLabel: every family keyed by VLAN is keyed by
// remote span too, except the probe host's own static neighbour entries,
// which no remote span carries.
func TestMetricsRemoteSpanLabel(t *testing.T) {
	for _, d := range allDescs {
		labels := descLabels(d)
		has := slices.Contains(labels, "remote_span")
		want := slices.Contains(labels, "vlan") && d != descStaticARPStale
		if has != want {
			t.Errorf("%s labels %v: remote_span %v, want %v", descName(d), labels, has, want)
		}
	}
}
