//go:build linux

package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// vlanLab is a sender and a probe on a veth pair with room for two tags,
// and the frames the sender sends: per round a gratuitous ARP and a
// heartbeat untagged, on VLAN 10, and on QinQ 200/10.
type vlanLab struct {
	sender, probe *netlab.NS
	frames        [][]byte
}

func newVLANLab(t *testing.T) *vlanLab {
	lab := netlab.New(t)
	l := &vlanLab{sender: lab.Namespace("sender"), probe: lab.Namespace("probe")}
	lab.Veth(l.sender, "eth0", l.probe, "eth0")
	// No IPv6: its router and listener solicitations would be frames
	// tcpdump captures that nlbprobe's pre-filter does not pass.
	for _, ns := range []*netlab.NS{l.sender, l.probe} {
		ns.Sysctl("net.ipv6.conf.all.disable_ipv6", "1")
		ns.Sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
	}
	l.sender.Link("eth0", 1600)
	l.probe.Link("eth0", 1600)
	vip := mustNetip("172.31.10.232")
	mcast, _ := addr.ClusterMAC(addr.ModeMulticast, vip)
	nic := addr.MAC{0x00, 0x15, 0x5d, 0x10, 0x00, 0x01}
	hb := fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: mustNetip("172.31.10.11")}
	garp := fixtures.GratuitousARP(mcast, vip)
	l.frames = [][]byte{
		garp.Frame(nic, addr.Broadcast, 10), hb.Frame(nic, mcast, 10),
		garp.Frame(nic, addr.Broadcast, 200, 10), hb.Frame(nic, mcast, 200, 10),
		garp.Frame(nic, addr.Broadcast), hb.Frame(nic, mcast),
	}
	return l
}

// send sends count frames (rounds of l.frames) and waits a moment for the
// capture to take the last ones.
func (l *vlanLab) send(t *testing.T, count int) {
	l.sender.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{{Name: "vlans", Frames: l.frames, Rate: 100, Count: count}}}).Wait(t)
	time.Sleep(300 * time.Millisecond)
}

// TestWatchCaptureFilter checks that `watch -i IFACE EXPR` analyses the
// frames `tcpdump -i IFACE EXPR` captures (both run at once on the same
// traffic), with the tags where the kernel put them: libpcap's live
// program reads the outer tag the driver stripped with ancillary loads.
func TestWatchCaptureFilter(t *testing.T) {
	netlab.RequireTool(t, "tcpdump")
	for _, tc := range []struct {
		expr   string
		frames uint64 // of 60 sent: 10 rounds of 6
	}{
		{"vlan 10", 20},              // the singly tagged ones
		{"vlan 200 and vlan 10", 20}, // QinQ
		{"arp", 20},                  // live, a stripped outer tag leaves ARP at offset 12
		{"not vlan", 20},             // untagged
		// Live, a heartbeat on VLAN 10 has 0x886F at offset 12 too.
		{"ether proto 0x886f or vlan 200", 40},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			l := newVLANLab(t)
			watch := startWatch(t, l.probe, "-i", "eth0", "--json", "--interval", "0", tc.expr)
			td := startTcpdump(t, l.probe, "eth0", tc.expr)
			l.send(t, 60)
			watch.interrupt(t)
			td.interrupt(t)
			r := parseLabReport(t, watch.stdout.String())
			counts := td.tcpdumpCounts(t)
			if r.Stats.Frames != counts.captured || r.Stats.Frames != tc.frames {
				t.Errorf("watch analyzed %d frames, tcpdump captured %d, want %d\n%s", r.Stats.Frames, counts.captured, tc.frames, watch.stderr.String())
			}
		})
	}
}

// TestWatchCaptureFilterAndPreFilter checks that the capture filter
// narrows what the pre-filter passes and --all lifts only the pre-filter.
func TestWatchCaptureFilterAndPreFilter(t *testing.T) {
	l := newVLANLab(t)
	// A UDP datagram on VLAN 10: the pre-filter drops it (not ARP, IGMP,
	// ICMP, 0x886F nor to a cluster MAC), `vlan 10` passes it.
	udp := fixtures.Client{SrcIP: mustNetip("172.31.10.50"), DstIP: mustNetip("172.31.10.11"), SrcPort: 50000, DstPort: 53,
		Proto: fixtures.ClientUDP}.Frame(addr.MAC{0x00, 0x15, 0x5d, 0x10, 0x00, 0x02}, addr.MAC{0x00, 0x15, 0x5d, 0x10, 0x00, 0x03}, 10)
	l.frames = append(l.frames, udp)
	out := filepath.Join(t.TempDir(), "w.pcapng")
	pre := startWatch(t, l.probe, "-i", "eth0", "--json", "--interval", "0", "vlan", "10")
	all := startWatch(t, l.probe, "-i", "eth0", "--json", "--interval", "0", "--all", "--write", out, "--write-all", "vlan 10")
	l.send(t, 70)
	pre.interrupt(t)
	all.interrupt(t)
	if r := parseLabReport(t, pre.stdout.String()); r.Stats.Frames != 20 {
		t.Errorf("with the pre-filter: %d frames, want 20 (ARP and heartbeats on VLAN 10)", r.Stats.Frames)
	}
	if r := parseLabReport(t, all.stdout.String()); r.Stats.Frames != 30 {
		t.Errorf("with --all: %d frames, want 30 (and the UDP datagrams on VLAN 10)", r.Stats.Frames)
	}
}

// TestWatchTcpdumpFlags checks tcpdump's spellings: -c COUNT stops the
// watch by itself after COUNT frames and reports, -s SNAPLEN cuts frames,
// -w FILE writes the pcapng.
func TestWatchTcpdumpFlags(t *testing.T) {
	netlab.RequireTool(t, "tshark")
	l := newVLANLab(t)
	out := filepath.Join(t.TempDir(), "w.pcapng")
	watch := startWatch(t, l.probe, "-i", "eth0", "--json", "--interval", "0", "-c", "25", "-s", "128", "-w", out, "--write-all")
	l.sender.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{{Name: "vlans", Frames: l.frames, Rate: 100, Count: 60}}})
	if code := watch.wait(t, time.Minute); code != exitOK && code != exitFindings {
		t.Fatalf("exit %d\n%s", code, watch.stderr.String())
	}
	r := parseLabReport(t, watch.stdout.String())
	if r.Stats.Frames != 25 {
		t.Errorf("-c 25: %d frames analyzed", r.Stats.Frames)
	}
	if !strings.Contains(watch.stderr.String(), "stopped (25 frames (-c))") {
		t.Errorf("stderr does not say why it stopped:\n%s", watch.stderr.String())
	}
	lines, err := exec.Command("tshark", "-r", out, "-T", "fields", "-e", "frame.cap_len", "-e", "frame.len").Output()
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(lines)), "\n")
	if len(rows) != 25 {
		t.Errorf("-w: %d frames in the file, want 25", len(rows))
	}
	cut := 0
	for _, row := range rows {
		var capLen, length int
		fmt.Sscanf(row, "%d\t%d", &capLen, &length)
		if capLen > 128 {
			t.Errorf("-s 128: a frame of %d bytes captured", capLen)
		}
		if length > 128 {
			cut++
		}
	}
	if cut == 0 {
		t.Error("-s 128: no heartbeat was cut: the test shows nothing")
	}
}

// TestWatchListInterfaces checks -D lists the namespace's interfaces with
// their state and MTU, and needs no -i.
func TestWatchListInterfaces(t *testing.T) {
	lab := netlab.New(t)
	a, b := lab.Namespace("a"), lab.Namespace("b")
	lab.Veth(a, "eth0", b, "eth0")
	lab.Veth(a, "eth1", b, "eth1")
	a.Link("eth0", 9000)
	out, err := a.Run(nlbprobeBinary(t), "watch", "-D")
	if err != nil {
		t.Fatalf("watch -D: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^1\.lo \[(up, running|down), loopback\]  MTU 65536  device$`),
		regexp.MustCompile(`(?m)^\d+\.eth0 \[up, (running|no carrier)\]  MTU 9000  veth  ([0-9a-f]{2}:){5}[0-9a-f]{2}$`),
		regexp.MustCompile(`(?m)^\d+\.eth1 \[down\]  MTU 1500  veth  `),
	} {
		if !want.MatchString(out) {
			t.Errorf("watch -D lacks %v:\n%s", want, out)
		}
	}
}

// TestWatchAnyInterface checks -i any is refused with the reason.
func TestWatchAnyInterface(t *testing.T) {
	lab := netlab.New(t)
	a := lab.Namespace("a")
	out, err := a.Run(nlbprobeBinary(t), "watch", "-i", "any", "--duration", "1s")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitUsage || !strings.Contains(out, "-i any is not supported") ||
		!strings.Contains(out, "destination MAC") {
		t.Errorf("watch -i any: %v\n%s", err, out)
	}
}
