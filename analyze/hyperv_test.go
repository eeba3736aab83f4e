package analyze_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// TestHyperVMACSpoofing: hyperv-mac-spoofing is raised where a Hyper-V
// vNIC acts for a unicast-mode cluster from its own MAC, and nowhere else:
// not for physical NICs, not for healthy (masked) unicast hosts, not in
// the multicast modes, where a host's NIC MAC is the source by design.
func TestHyperVMACSpoofing(t *testing.T) {
	vip := netip.MustParseAddr("10.80.0.100")
	gw, gwMAC := netip.MustParseAddr("10.80.0.1"), addr.MAC{0x00, 0x1b, 0x54, 0x50, 0x00, 0x01}
	hyperV := addr.MAC{0x00, 0x15, 0x5d, 0x50, 0x00, 0x03}
	physical := addr.MAC{0x00, 0x1b, 0x21, 0x50, 0x00, 0x03} // an Intel NIC
	// node is host prio's heartbeats for 10 s from src to dst.
	type node struct {
		prio     uint8
		src, dst addr.MAC
	}
	masked := func(p uint8) node { return node{p, addr.MaskedSource(p, vip), addr.Broadcast} }
	multicast, _ := addr.ClusterMAC(addr.ModeMulticast, vip)
	igmp, _ := addr.ClusterMAC(addr.ModeIGMP, vip)
	unicast, _ := addr.ClusterMAC(addr.ModeUnicast, vip)
	tests := []struct {
		name  string
		nodes []node
		// vipFrom, when set, answers ARP for the VIP with sender vipSender
		// from this Ethernet source.
		vipFrom, vipSender addr.MAC
		want               finding.Severity
		none               bool // no finding at all
		words              []string
	}{
		{name: "unicast host heartbeating from its Hyper-V vNIC", nodes: []node{masked(1), masked(2), {3, hyperV, addr.Broadcast}},
			want: finding.Error, words: []string{"host 3 (10.80.0.103, 00:15:5d:50:00:03)", "instead of its masked source 02:03:0a:50:00:64", "share of the client connections fails"}},
		{name: "and answering ARP for the VIP from it", nodes: []node{masked(1), {3, hyperV, addr.Broadcast}},
			vipFrom: hyperV, vipSender: hyperV, want: finding.Error, words: []string{"answers ARP for 10.80.0.100 from it"}},
		{name: "VIP answered from a Hyper-V vNIC that sends no heartbeats", nodes: []node{masked(1), masked(2)},
			vipFrom: hyperV, vipSender: hyperV, want: finding.Warning, words: []string{"none from it appear here", "a VM with the VIP configured"}},
		{name: "VIP answered with the cluster MAC from an unmasked vNIC", nodes: []node{masked(1)},
			vipFrom: hyperV, vipSender: unicast, want: finding.Warning},
		{name: "healthy unicast Hyper-V hosts: masked sources", nodes: []node{masked(1), masked(2), masked(3)},
			vipFrom: addr.MaskedSource(1, vip), vipSender: unicast, none: true},
		{name: "physical NIC heartbeating unmasked in unicast mode", nodes: []node{masked(1), {3, physical, addr.Broadcast}},
			vipFrom: physical, vipSender: physical, none: true},
		{name: "multicast mode: Hyper-V NICs are the sources by design", nodes: []node{{1, hyperV, multicast}, {2, addr.MAC{0x00, 0x15, 0x5d, 0x50, 0x00, 0x04}, multicast}},
			vipFrom: hyperV, vipSender: multicast, none: true},
		{name: "IGMP mode: likewise", nodes: []node{{1, hyperV, igmp}},
			vipFrom: hyperV, vipSender: igmp, none: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &liveFeeder{e: analyze.New(analyze.Options{})}
			for s := 0; s < 10; s++ {
				for _, n := range tt.nodes {
					ded := netip.AddrFrom4([4]byte{10, 80, 0, 100 + n.prio})
					f.add(time.Duration(s)*time.Second+time.Duration(n.prio)*time.Millisecond,
						fixtures.Heartbeat{Priority: n.prio, Cluster: vip, Dedicated: ded}.Frame(n.src, n.dst))
				}
				if !tt.vipFrom.IsZero() && s%3 == 1 {
					f.add(time.Duration(s)*time.Second+500*time.Millisecond, fixtures.ARPRequest(gwMAC, gw, vip).Frame(gwMAC, addr.Broadcast))
					f.add(time.Duration(s)*time.Second+501*time.Millisecond, fixtures.ARPReply(tt.vipSender, vip, gwMAC, gw).Frame(tt.vipFrom, gwMAC))
				}
			}
			r := f.e.Finish()
			var found []finding.Finding
			for _, fd := range r.Findings {
				if fd.Kind == finding.HyperVMACSpoofing {
					found = append(found, fd)
				}
			}
			if tt.none {
				if len(found) > 0 {
					t.Fatalf("false finding: %+v", found[0])
				}
				return
			}
			if len(found) != 1 {
				t.Fatalf("%d hyperv-mac-spoofing findings, want 1: %s", len(found), summary(r))
			}
			fd := found[0]
			if fd.Severity != tt.want || fd.Subject != "00:15:5d:50:00:03 vlan untagged" || fd.MACs[0] != hyperV || fd.IPs[0] != vip {
				t.Errorf("finding %+v", fd)
			}
			for _, w := range append(tt.words, "MAC address spoofing") {
				if !strings.Contains(fd.Message, w) {
					t.Errorf("message lacks %q: %s", w, fd.Message)
				}
			}
			for _, w := range []string{"Set-VMNetworkAdapter -VMName '<VM name>' -MacAddressSpoofing On",
				"Where-Object MacAddress -eq '00155D500003' | Set-VMNetworkAdapter -MacAddressSpoofing On"} {
				if !strings.Contains(fd.Remedy, w) {
					t.Errorf("remedy lacks %q: %s", w, fd.Remedy)
				}
			}
		})
	}
}

// TestHyperVSilentHosts: a host whose heartbeats stop, or a declared
// cluster whose heartbeats never appear while its unicast MAC is in use,
// gets the Hyper-V checks in its remedy where the evidence fits: a vNIC
// MAC in its heartbeats (named, to find its VM), or unicast mode, whose
// masked heartbeats a virtual switch without MAC address spoofing drops.
// A physical host's remedy says nothing of Hyper-V.
func TestHyperVSilentHosts(t *testing.T) {
	vip := netip.MustParseAddr("10.81.0.100")
	multicast, _ := addr.ClusterMAC(addr.ModeMulticast, vip)
	unicast, _ := addr.ClusterMAC(addr.ModeUnicast, vip)
	tests := []struct {
		name     string
		src, dst addr.MAC // host 2's heartbeats, which stop at 5 s
		want     []string
		not      []string
	}{
		{name: "multicast host on a Hyper-V vNIC", src: addr.MAC{0x00, 0x15, 0x5d, 0x51, 0x00, 0x02}, dst: multicast,
			want: []string{"00:15:5d:51:00:02 is a Hyper-V vNIC", "Where-Object MacAddress -eq '00155D510002' | Get-VMNetworkAdapterVlan"}},
		{name: "unicast host: masked heartbeats", src: addr.MaskedSource(2, vip), dst: addr.Broadcast,
			want: []string{"if the host is a Hyper-V guest", "masked source 02:02:0a:51:00:64", "Set-VMNetworkAdapter -VMName '<VM name>' -MacAddressSpoofing On"}},
		{name: "multicast host on a physical NIC", src: addr.MAC{0x00, 0x1b, 0x21, 0x51, 0x00, 0x02}, dst: multicast,
			not: []string{"Hyper-V", "Spoofing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &liveFeeder{e: analyze.New(analyze.Options{})}
			host1, _ := fixtures.HeartbeatAddrs(addr.ModeMulticast, vip, 1, addr.MAC{0x00, 0x1b, 0x21, 0x51, 0x00, 0x01})
			if tt.dst == addr.Broadcast {
				host1 = addr.MaskedSource(1, vip)
			}
			for s := 0; s < 30; s++ {
				at := time.Duration(s) * time.Second
				f.add(at, fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: netip.MustParseAddr("10.81.0.101")}.Frame(host1, tt.dst))
				if s < 5 {
					f.add(at+time.Millisecond, fixtures.Heartbeat{Priority: 2, Cluster: vip, Dedicated: netip.MustParseAddr("10.81.0.102")}.Frame(tt.src, tt.dst))
				}
			}
			gap, ok := findingOf(f.e.Finish(), finding.HeartbeatGap)
			if !ok || gap.Severity != finding.Error {
				t.Fatalf("no heartbeat-gap error for host 2: %+v", gap)
			}
			for _, w := range tt.want {
				if !strings.Contains(gap.Remedy, w) {
					t.Errorf("remedy lacks %q: %s", w, gap.Remedy)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(gap.Remedy, w) {
					t.Errorf("remedy has %q: %s", w, gap.Remedy)
				}
			}
		})
	}

	// Declared, never heartbeating, but clients send to its unicast MAC.
	f := &liveFeeder{e: analyze.New(analyze.Options{Clusters: []netip.Addr{vip}})}
	for s := 0; s < 10; s++ {
		c := fixtures.Client{Proto: fixtures.ClientUDP, SrcIP: netip.MustParseAddr("198.51.100.9"), DstIP: vip, SrcPort: 5000, DstPort: 53, Length: 80}
		f.add(time.Duration(s)*time.Second, c.Frame(addr.MAC{0x00, 0x1b, 0x54, 0x51, 0x00, 0x01}, unicast))
	}
	notSeen, ok := findingOf(f.e.Finish(), finding.ClusterNotSeen)
	if !ok || !strings.Contains(notSeen.Remedy, "runs in unicast mode: if its hosts are Hyper-V guests") ||
		!strings.Contains(notSeen.Remedy, "-MacAddressSpoofing On") {
		t.Errorf("cluster-not-seen without the Hyper-V check: %+v", notSeen)
	}
	// Nothing of the cluster seen: no grounds for the Hyper-V check.
	quiet := &liveFeeder{e: analyze.New(analyze.Options{Clusters: []netip.Addr{vip}})}
	quiet.add(0, fixtures.GratuitousARP(addr.MAC{0x00, 0x1b, 0x54, 0x51, 0x00, 0x01}, netip.MustParseAddr("10.81.0.1")).Frame(addr.MAC{0x00, 0x1b, 0x54, 0x51, 0x00, 0x01}, addr.Broadcast))
	if fd, ok := findingOf(quiet.e.Finish(), finding.ClusterNotSeen); !ok || strings.Contains(fd.Remedy, "Hyper-V") {
		t.Errorf("cluster-not-seen of a cluster with no trace: %+v", fd)
	}
}
