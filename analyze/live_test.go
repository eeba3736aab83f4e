package analyze_test

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

var (
	liveVIP   = netip.MustParseAddr("172.31.3.232")
	liveNode1 = netip.MustParseAddr("172.31.3.11")
	liveNode2 = netip.MustParseAddr("172.31.3.12")
	liveNIC1  = addr.MAC{0x00, 0x15, 0x5d, 0x00, 0x00, 0x01}
	liveNIC2  = addr.MAC{0x00, 0x15, 0x5d, 0x00, 0x00, 0x02}
	liveStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// liveFeeder numbers frames and spaces them in time like a capture.
type liveFeeder struct {
	e *analyze.Engine
	n uint64
}

func (f *liveFeeder) add(at time.Duration, frame []byte) uint64 {
	f.n++
	f.e.Packet(frame, analyze.Meta{Frame: f.n, Time: liveStart.Add(at), Length: len(frame), LinkType: layers.LinkTypeEthernet})
	return f.n
}

// igmpCluster feeds 10 s of heartbeats of a two-host IGMP-mode cluster,
// and, when announce is set, the nodes' ARP announcement of the VIP with
// the cluster MAC; it returns the announcement's frame number.
func igmpCluster(f *liveFeeder, announce bool) uint64 {
	clusterMAC, _ := addr.ClusterMAC(addr.ModeIGMP, liveVIP)
	var garp uint64
	if announce {
		garp = f.add(0, fixtures.GratuitousARP(clusterMAC, liveVIP).Frame(liveNIC1, addr.Broadcast))
	}
	for s := 0; s < 10; s++ {
		for i, nic := range []addr.MAC{liveNIC1, liveNIC2} {
			ded := []netip.Addr{liveNode1, liveNode2}[i]
			src, dst := fixtures.HeartbeatAddrs(addr.ModeIGMP, liveVIP, uint8(i+1), nic)
			f.add(time.Duration(s)*time.Second+time.Duration(i)*time.Millisecond,
				fixtures.Heartbeat{Priority: uint8(i + 1), Cluster: liveVIP, Dedicated: ded}.Frame(src, dst))
		}
	}
	return garp
}

func TestCheckStaticARP(t *testing.T) {
	igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, liveVIP)
	mcastMAC, _ := addr.ClusterMAC(addr.ModeMulticast, liveVIP)
	uniMAC, _ := addr.ClusterMAC(addr.ModeUnicast, liveVIP)
	other := netip.MustParseAddr("172.31.3.99")
	tests := []struct {
		name     string
		announce bool // the wire carries the ARP announcement of the VIP
		entries  []analyze.StaticNeighbor
		stale    int
		// want, when stale > 0: words the message must hold, and whether
		// the ARP announcement is the evidence.
		want        []string
		arpEvidence bool
	}{
		{
			name: "entry agrees with the ARP binding", announce: true,
			entries: []analyze.StaticNeighbor{{Interface: "eth0", IP: liveVIP, MAC: igmpMAC}},
		},
		{
			name: "multicast-mode entry left from before the change to IGMP mode", announce: true,
			entries:     []analyze.StaticNeighbor{{Interface: "eth0", IP: liveVIP, MAC: mcastMAC}},
			stale:       1,
			want:        []string{"permanent entry 172.31.3.232 -> 03:bf:ac:1f:03:e8 (dev eth0)", "ARP on the wire", "01:00:5e:7f:03:e8", "the cluster now uses igmp mode", "multicast-mode cluster MAC"},
			arpEvidence: true,
		},
		{
			name: "no ARP seen: the heartbeats' mode decides", announce: false,
			entries: []analyze.StaticNeighbor{{Interface: "eth0", IP: liveVIP, MAC: uniMAC}},
			stale:   1,
			want:    []string{"heartbeats (igmp mode) give it the cluster MAC 01:00:5e:7f:03:e8", "unicast-mode cluster MAC"},
		},
		{
			name: "entry for an IP the wire said nothing about", announce: true,
			entries: []analyze.StaticNeighbor{{Interface: "eth0", IP: other, MAC: mcastMAC}},
		},
		{
			name: "entry on another VLAN than the wire's binding", announce: true,
			entries: []analyze.StaticNeighbor{{Interface: "eth0.10", VLAN: 10, IP: liveVIP, MAC: mcastMAC}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &liveFeeder{e: analyze.New(analyze.Options{})}
			garp := igmpCluster(f, tt.announce)
			if got := f.e.CheckStaticARP(tt.entries); got != tt.stale {
				t.Errorf("CheckStaticARP says %d stale, want %d", got, tt.stale)
			}
			// A second look at the same table raises nothing new.
			f.e.CheckStaticARP(tt.entries)
			r := f.e.Finish()
			var found []finding.Finding
			for _, fd := range r.Findings {
				if fd.Kind == finding.StaleStaticARP {
					found = append(found, fd)
				}
			}
			if len(found) != tt.stale {
				t.Fatalf("%d stale-static-arp findings, want %d: %+v", len(found), tt.stale, found)
			}
			if tt.stale == 0 {
				return
			}
			fd := found[0]
			for _, w := range tt.want {
				if !strings.Contains(fd.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, fd.Message)
				}
			}
			if fd.Severity != finding.Error || fd.Subject != "172.31.3.232 vlan untagged" || fd.Count != 1 ||
				!strings.Contains(fd.Remedy, "ip neigh replace 172.31.3.232 lladdr 01:00:5e:7f:03:e8 dev eth0 nud permanent") {
				t.Errorf("finding %+v", fd)
			}
			if tt.arpEvidence && (len(fd.Evidence) != 1 || fd.Evidence[0] != garp) {
				t.Errorf("evidence %v, want the announcement, frame %d", fd.Evidence, garp)
			}
		})
	}
}

func TestNoteCaptureDrops(t *testing.T) {
	type event struct {
		isNew bool
		count uint64
	}
	var events []event
	e := analyze.New(analyze.Options{OnFinding: func(f *finding.Finding, isNew bool) {
		if f.Kind == finding.CaptureDrops {
			events = append(events, event{isNew, f.Count})
		}
	}})
	f := &liveFeeder{e: e}
	igmpCluster(f, false)
	now := liveStart.Add(time.Hour) // only used before the first frame
	e.NoteCaptureDrops(analyze.CaptureCounters{Received: 100}, now)
	e.NoteCaptureDrops(analyze.CaptureCounters{Received: 200, Dropped: 5, Freezes: 1}, now)
	e.NoteCaptureDrops(analyze.CaptureCounters{Received: 200, Dropped: 5, Freezes: 1}, now)
	e.NoteCaptureDrops(analyze.CaptureCounters{Received: 300, Dropped: 9, Freezes: 2}, now)
	r := e.Finish()
	if r.Stats.KernelDrops != 9 {
		t.Errorf("stats.kernel_drops %d, want 9", r.Stats.KernelDrops)
	}
	if want := []event{{true, 5}, {false, 9}}; len(events) != 2 || events[0] != want[0] || events[1] != want[1] {
		t.Errorf("streamed %+v, want %+v (raised at the first drop, updated when drops grew)", events, want)
	}
	fd, ok := findingOf(r, finding.CaptureDrops)
	if !ok || fd.Severity != finding.Warning || fd.Count != 9 ||
		!strings.Contains(fd.Message, "dropped 9 of the 300 frames") || !strings.Contains(fd.Message, "filled up 2 times") ||
		!fd.Time.Equal(liveStart.Add(9*time.Second+time.Millisecond)) {
		t.Errorf("capture-drops %+v", fd)
	}
}

func TestNoteCaptureDropsBeforeAnyFrame(t *testing.T) {
	e := analyze.New(analyze.Options{})
	now := liveStart.Add(time.Minute)
	e.NoteCaptureDrops(analyze.CaptureCounters{Received: 10, Dropped: 10}, now)
	fd, ok := findingOf(e.Finish(), finding.CaptureDrops)
	if !ok || !fd.Time.Equal(now) {
		t.Errorf("capture-drops before any frame: %+v, want one at %v", fd, now)
	}
}

// TestSnapshotMatchesReport: the snapshot carries the same clusters,
// cluster-MAC traffic, queriers, findings and counters as a full report,
// without the ARP bindings and IGMP groups.
func TestSnapshotMatchesReport(t *testing.T) {
	f := &liveFeeder{e: analyze.New(analyze.Options{Vantage: analyze.VantageNonMember})}
	igmpCluster(f, true)
	clusterMAC, _ := addr.ClusterMAC(addr.ModeIGMP, liveVIP)
	client := fixtures.Client{SrcIP: netip.MustParseAddr("172.31.3.50"), DstIP: liveVIP, SrcPort: 40000, DstPort: 80, Proto: fixtures.ClientUDP, Length: 200}
	for i := 0; i < 50; i++ {
		f.add(10*time.Second+time.Duration(i)*10*time.Millisecond, client.Frame(addr.MAC{0, 0x15, 0x5d, 9, 9, 9}, clusterMAC))
	}
	f.add(11*time.Second, fixtures.IGMPv2Query(netip.Addr{}, 0).Frame(addr.MAC{0, 0x15, 0x5d, 9, 9, 1}, netip.MustParseAddr("172.31.3.1")))
	snap := f.e.Snapshot()
	full := f.e.Report()
	if snap.Bindings != nil || snap.IGMPGroups != nil || len(full.Bindings) == 0 {
		t.Errorf("snapshot holds %d bindings, report %d", len(snap.Bindings), len(full.Bindings))
	}
	if len(snap.Queriers) == 0 {
		t.Errorf("snapshot without the querier: %+v", full.Queriers)
	}
	snap.Bindings, snap.IGMPGroups = full.Bindings, full.IGMPGroups
	a, _ := json.Marshal(snap)
	b, _ := json.Marshal(full)
	if string(a) != string(b) {
		t.Errorf("snapshot and report differ:\n%s\n%s", a, b)
	}
	if _, ok := findingOf(snap, finding.MulticastFlooding); !ok {
		t.Errorf("snapshot without the flooding finding the checks raise")
	}
}
