package analyze_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// analyzeRecords runs the engine over frames read from a file.
func analyzeRecords(recs []testcapture.Record, opts analyze.Options) *analyze.Report {
	e := analyze.New(opts)
	for i, r := range recs {
		e.Packet(r.Data, analyze.Meta{Frame: uint64(i + 1), Time: r.Time, Length: r.WireLen, LinkType: r.LinkType})
	}
	return e.Finish()
}

func analyzeShared(t *testing.T, name string, opts analyze.Options) *analyze.Report {
	t.Helper()
	return analyzeRecords(testcapture.MustRead(t, filepath.Join(testcapture.SharedPcaps(t), name)), opts)
}

func findingOf(r *analyze.Report, k finding.Kind) (finding.Finding, bool) {
	for _, f := range r.Findings {
		if f.Kind == k {
			return f, true
		}
	}
	return finding.Finding{}, false
}

// TestRealNLBCaptures: the two real heartbeats of tcpdump's corpus give
// cluster 192.168.100.80 in unicast mode with hosts 1 (.81) and 2 (.82),
// and the report says they were truncated. msnlb2 keeps only 6 payload
// bytes, so the cluster and priorities come from the masked sources and the
// dedicated IPs are unknown.
func TestRealNLBCaptures(t *testing.T) {
	cases := []struct {
		file      string
		dedicated []string
		captured  int
	}{
		{"msnlb.pcap", []string{"192.168.100.81", "192.168.100.82"}, 82},
		{"msnlb2.pcapng", []string{"", ""}, 6},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := analyzeShared(t, c.file, analyze.Options{})
			if len(r.Clusters) != 1 {
				t.Fatalf("%d clusters", len(r.Clusters))
			}
			cl := r.Clusters[0]
			if cl.ClusterIP.String() != "192.168.100.80" || cl.Mode != addr.ModeUnicast ||
				cl.ClusterMAC.String() != "02:bf:c0:a8:64:50" || len(cl.Hosts) != 2 {
				t.Fatalf("cluster %+v", cl)
			}
			for i, h := range cl.Hosts {
				ded := ""
				if h.DedicatedIP.IsValid() {
					ded = h.DedicatedIP.String()
				}
				if h.Priority != uint32(i+1) || ded != c.dedicated[i] || !h.Truncated || h.CapturedBytes != c.captured {
					t.Errorf("host %d: %+v", i, h)
				}
			}
			tr, ok := findingOf(r, finding.CaptureTruncated)
			if !ok || !strings.Contains(tr.Message, "NLB heartbeats were truncated") || len(tr.Evidence) != 2 {
				t.Errorf("capture-truncated: %+v", tr)
			}
			if r.Stats.TruncatedHeartbeats != 2 {
				t.Errorf("stats: %d truncated heartbeats", r.Stats.TruncatedHeartbeats)
			}
		})
	}
}

// TestRealIGMPCaptures compares groups and queriers with what tshark shows
// for the same files: the table is `tshark -T fields -e ip.src -e igmp.type
// -e igmp.maddr | sort -u`, queries (0x11) giving the queriers and reports
// (0x12, 0x16) the memberships.
func TestRealIGMPCaptures(t *testing.T) {
	type member struct{ group, ip string }
	cases := []struct {
		file     string
		queriers []string
		members  []member
	}{
		{file: "IGMP_V1.pcap", queriers: []string{"10.0.200.151"}, members: []member{
			{"224.0.0.252", "10.0.200.163"}, {"239.255.255.250", "192.168.1.3"}, {"224.0.1.24", "10.0.200.108"},
			{"224.0.1.60", "10.0.200.100"}, {"224.0.0.9", "10.0.200.144"}, {"239.255.255.254", "10.0.200.108"},
			{"224.0.0.251", "10.0.200.10"}, {"239.255.255.250", "10.0.200.108"},
			{"239.255.255.250", "10.0.200.163"}, {"239.255.255.250", "10.0.200.25"}}},
		{file: "IGMP_V2.pcap", queriers: []string{"192.168.1.2"}, members: []member{
			{"239.255.255.250", "192.168.1.64"}, {"225.10.10.10", "192.168.11.201"}, {"225.1.1.3", "192.168.11.201"},
			{"225.1.1.4", "192.168.11.201"}, {"225.1.1.5", "192.168.11.201"}}},
		{file: "igmpv3-queries.pcap", queriers: []string{"192.2.0.2"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := analyzeShared(t, c.file, analyze.Options{})
			var queriers []string
			for _, q := range r.Queriers {
				queriers = append(queriers, q.IP.String())
			}
			if strings.Join(queriers, ",") != strings.Join(c.queriers, ",") {
				t.Errorf("queriers %v, want %v", queriers, c.queriers)
			}
			got := map[member]bool{}
			for _, g := range r.IGMPGroups {
				for _, m := range g.Members {
					got[member{g.Group.String(), m.IP.String()}] = true
				}
			}
			for _, m := range c.members {
				if !got[m] {
					t.Errorf("missing member %v", m)
				}
			}
			if len(got) != len(c.members) {
				t.Errorf("%d memberships, want %d: %v", len(got), len(c.members), got)
			}
		})
	}
}

// TestIGMPv3MaxResponseReport: frames 2-3 of igmpv3-queries.pcap carry Max
// Resp Code 0xfe, RFC 3376's floating-point 3072 s (tshark: "3072.0 sec"),
// which the querier's report shows, not 25.4 s.
func TestIGMPv3MaxResponseReport(t *testing.T) {
	recs := testcapture.MustRead(t, filepath.Join(testcapture.SharedPcaps(t), "igmpv3-queries.pcap"))
	r := analyzeRecords(recs[:3], analyze.Options{})
	if len(r.Queriers) != 1 || r.Queriers[0].MaxRespSeconds != 3072 {
		t.Fatalf("queriers %+v, want one with max_response_seconds 3072", r.Queriers)
	}
}

// TestCorpusNeverPanics runs every frame of every real capture through the
// engine (the corpus is full of deliberately malformed frames) and checks
// the report accounts for each frame.
func TestCorpusNeverPanics(t *testing.T) {
	dir := testcapture.SharedPcaps(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pcap") && !strings.HasSuffix(e.Name(), ".pcapng") {
			continue
		}
		recs, _ := testcapture.Read(filepath.Join(dir, e.Name()))
		if len(recs) == 0 {
			continue
		}
		files++
		r := analyzeRecords(recs, analyze.Options{Clusters: []netip.Addr{netip.MustParseAddr("10.0.0.50")}})
		if r.Stats.Frames != uint64(len(recs)) {
			t.Errorf("%s: %d frames counted of %d", e.Name(), r.Stats.Frames, len(recs))
		}
	}
	if files < 500 {
		t.Fatalf("only %d files read", files)
	}
}

// TestDeclaredClusters: --cluster VIPs that left no trace, or only ARP, are
// reported; one that heartbeats is not.
func TestDeclaredClusters(t *testing.T) {
	recs := testcapture.MustRead(t, filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures", "stale-cluster-mac.pcap"))
	declared := []netip.Addr{
		netip.MustParseAddr("172.31.1.232"), // heartbeats in the capture
		netip.MustParseAddr("188.31.1.100"), // only its MAC, in ARP answers
		netip.MustParseAddr("10.99.0.1"),    // nothing at all
	}
	r := analyzeRecords(recs, analyze.Options{Clusters: declared})
	got := map[string]finding.Severity{}
	for _, f := range r.Findings {
		if f.Kind == finding.ClusterNotSeen {
			got[f.IPs[0].String()] = f.Severity
		}
	}
	if _, ok := got["172.31.1.232"]; ok || len(got) != 2 || got["10.99.0.1"] != finding.Warning || got["188.31.1.100"] != finding.Info {
		t.Fatalf("cluster-not-seen findings: %v", got)
	}
	if !r.Clusters[0].Declared {
		t.Error("the declared cluster that heartbeats is not marked declared")
	}
}

// TestSkippedAndEvicted: frames of a link type without Ethernet headers are
// counted and reported, and tables that hit their limits say so.
func TestSkippedAndEvicted(t *testing.T) {
	e := analyze.New(analyze.Options{Limits: analyze.Limits{Bindings: 16}})
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	raw := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	e.Packet(raw, analyze.Meta{Frame: 1, Time: base, Length: len(raw), LinkType: layers.LinkTypeRaw})
	for i := 0; i < 100; i++ {
		sender := []byte{0x02, 0xee, 0, 0, 0, byte(i)}
		arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, sender...)
		arp = append(arp, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
		arp = append(arp, sender...)
		arp = append(arp, 10, 9, 0, byte(i), 0, 0, 0, 0, 0, 0, 10, 9, 0, 254)
		e.Packet(arp, analyze.Meta{Frame: uint64(i + 2), Time: base.Add(time.Duration(i) * time.Millisecond),
			Length: len(arp), LinkType: layers.LinkTypeEthernet})
	}
	r := e.Finish()
	skipped, ok := findingOf(r, finding.UnsupportedLinkType)
	if !ok || r.Stats.Unsupported != 1 || len(skipped.Evidence) != 1 || skipped.Evidence[0] != 1 {
		t.Errorf("unsupported-link-type %+v, stats %d", skipped, r.Stats.Unsupported)
	}
	evicted, ok := findingOf(r, finding.StateEvicted)
	if !ok || r.Stats.Evicted.Bindings < 84 || len(r.Bindings) > 16 || !strings.Contains(evicted.Message, "ARP bindings") {
		t.Errorf("state-evicted %+v, evicted %d, %d bindings", evicted, r.Stats.Evicted.Bindings, len(r.Bindings))
	}
}

// TestHeartbeatShortOnTheWire (issue 16 item 6): a heartbeat frame captured
// whole (captured length = wire length) that ends before the heartbeat does
// was broken on the wire: a malformed-frame, never a heartbeat of its host.
// The same bytes cut by a snaplen are a truncated heartbeat of the host.
func TestHeartbeatShortOnTheWire(t *testing.T) {
	vip, node := netip.MustParseAddr("10.7.0.50"), netip.MustParseAddr("10.7.0.51")
	hb := fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: node, PortRules: []uint32{1}}.
		Frame(addr.MaskedSource(1, vip), addr.Broadcast)
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	type rec struct{ captured, wire int }
	run := func(recs []rec) *analyze.Report {
		e := analyze.New(analyze.Options{})
		for i, r := range recs {
			e.Packet(hb[:r.captured], analyze.Meta{Frame: uint64(i + 1), Time: base.Add(time.Duration(i) * time.Second),
				Length: r.wire, LinkType: layers.LinkTypeEthernet})
		}
		return e.Finish()
	}
	whole := len(hb)
	r := run([]rec{{whole, whole}, {60, 60}, {whole, whole}, {800, 800}, {whole, whole}})
	if len(r.Clusters) != 1 || len(r.Clusters[0].Hosts) != 1 || r.Clusters[0].Hosts[0].Heartbeats != 3 {
		t.Fatalf("clusters %+v: want one host with the 3 whole heartbeats", r.Clusters)
	}
	mf, ok := findingOf(r, finding.MalformedFrame)
	if !ok || r.Stats.Malformed != 2 || fmt.Sprint(mf.Evidence) != "[2 4]" || !strings.Contains(mf.Subject, "NLB heartbeat length") {
		t.Errorf("malformed %d, finding %+v", r.Stats.Malformed, mf)
	}
	if r.Stats.Truncated != 0 || r.Stats.Protocols.Heartbeats != 3 {
		t.Errorf("truncated %d, heartbeats %d", r.Stats.Truncated, r.Stats.Protocols.Heartbeats)
	}

	r = run([]rec{{whole, whole}, {60, whole}, {whole, whole}, {800, whole}, {whole, whole}})
	if len(r.Clusters) != 1 || r.Clusters[0].Hosts[0].Heartbeats != 5 || r.Stats.TruncatedHeartbeats != 2 || r.Stats.Malformed != 0 {
		t.Errorf("cut by a snaplen: clusters %+v, truncated heartbeats %d, malformed %d",
			r.Clusters, r.Stats.TruncatedHeartbeats, r.Stats.Malformed)
	}
}

// TestARPOtherOpcodesBindNothing (issue 16 item 10): frame 720 of
// arp-oobr.pcap is a RARP request (opcode 3) whose sender fields name
// 192.168.129.104 with another MAC than frame 20's ARP for that IP; tshark
// rightly sees no binding in it (it used to raise two mac-change findings).
// The report must be the same, bindings and findings, as with that frame
// replaced by one nlbprobe does not analyze; only the counters differ.
func TestARPOtherOpcodesBindNothing(t *testing.T) {
	recs := testcapture.MustRead(t, filepath.Join(testcapture.SharedPcaps(t), "arp-oobr.pcap"))
	const rarp = 720
	if r := recs[rarp-1].Data; len(r) < 22 || r[12] != 0x08 || r[13] != 0x06 || r[20] != 0 || r[21] != 3 {
		t.Fatalf("frame %d is not the ARP opcode 3 this test is about: % x", rarp, r[:min(len(r), 22)])
	}
	with := analyzeRecords(recs, analyze.Options{})
	inert := slices.Clone(recs)
	inert[rarp-1].Data = slices.Clone(recs[rarp-1].Data)
	inert[rarp-1].Data[12], inert[rarp-1].Data[13] = 0x88, 0xb5 // IEEE local experimental ethertype
	without := analyzeRecords(inert, analyze.Options{})
	if !reflect.DeepEqual(with.Bindings, without.Bindings) {
		t.Errorf("frame %d changes the bindings", rarp)
	}
	if !reflect.DeepEqual(with.Findings, without.Findings) {
		t.Errorf("frame %d changes the findings", rarp)
	}
	for _, f := range with.Findings {
		if slices.Contains(f.Evidence, rarp) {
			t.Errorf("%s %s cites frame %d", f.Kind, f.Subject, rarp)
		}
	}
	// tshark -Y 'arp.opcode != 1 && arp.opcode != 2' on the frames whose
	// ARP is for IPv4 over Ethernet and not malformed gives 720 among
	// others; each is counted, none bound.
	if with.Stats.ARPOtherOpcodes == 0 || with.Stats.ARPOtherOpcodes != without.Stats.ARPOtherOpcodes+1 {
		t.Errorf("other opcodes %d with frame %d, %d without", with.Stats.ARPOtherOpcodes, rarp, without.Stats.ARPOtherOpcodes)
	}
}

// TestRemoteSpanCaptures (issue 16 item 11): the ERSPAN and VXLAN captures
// of tcpdump's corpus carry ARP inside, which the report shows in the
// session's VLAN context as tshark decodes it (erspan.spanid, vlan.id,
// vxlan.vni, arp.src.*), the encapsulations counted. They used to show
// nothing: the outer frames were plain IPv4.
func TestRemoteSpanCaptures(t *testing.T) {
	type binding struct {
		span string
		vlan uint16
		ip   string
		mac  string
	}
	cases := []struct {
		file     string
		bindings []binding
		encap    analyze.Encapsulations
	}{
		{"erspan-type-ii-3.pcap", []binding{{"erspan 101", 865, "10.240.19.139", "14:18:77:60:aa:75"}},
			analyze.Encapsulations{ERSPANII: 108}},
		{"erspan-type-i-3.pcap", []binding{{"erspan 0", 1, "192.168.90.100", "00:15:fa:dc:a1:f7"}},
			analyze.Encapsulations{ERSPANI: 1}},
		{"vxlan.pcap", []binding{{"vxlan 100", 0, "192.168.203.3", "00:16:3e:37:f6:04"},
			{"vxlan 100", 0, "192.168.203.5", "00:30:88:01:00:02"}}, analyze.Encapsulations{VXLAN: 10}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := analyzeShared(t, c.file, analyze.Options{})
			var got []binding
			for _, b := range r.Bindings {
				span := ""
				if b.RemoteSpan != nil {
					span = fmt.Sprint(b.RemoteSpan.Kind, " ", b.RemoteSpan.ID)
				}
				got = append(got, binding{span, b.VLAN, b.IP.String(), b.MAC.String()})
			}
			if !reflect.DeepEqual(got, c.bindings) {
				t.Errorf("bindings %v, want %v", got, c.bindings)
			}
			if r.Stats.Encapsulated != c.encap || r.Stats.Malformed != 0 {
				t.Errorf("encapsulated %+v, malformed %d; want %+v", r.Stats.Encapsulated, r.Stats.Malformed, c.encap)
			}
		})
	}
}

// TestRemoteSpanIsSpan: mirrored frames prove nothing about where the
// capture stands, so a remote span's cluster MACs are judged from the
// control plane even with --vantage nonmember; frames seen directly keep
// the nonmember verdict.
func TestRemoteSpanIsSpan(t *testing.T) {
	recs := testcapture.MustRead(t, filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures", "remote-span.pcap"))
	r := analyzeRecords(recs, analyze.Options{Vantage: analyze.VantageNonMember})
	if len(r.Flood) != 1 || r.Flood[0].RemoteSpan == nil || r.Flood[0].Basis != "control-plane" {
		t.Fatalf("flood %+v: want the ERSPAN session's cluster MAC judged from the control plane", r.Flood)
	}
}
