//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// The NLB labs: a Linux bridge as the switch, two NLB nodes, a client and
// the probe, each in its own namespace. Addresses are lab-internal: the
// traffic never leaves the namespaces.
const (
	labVIP    = "172.31.3.232"
	labGroup  = "239.255.3.232"
	labBridge = "172.31.3.1"
	labClient = "172.31.3.50"
)

var labNodeMACs = [2]string{"00:15:5d:03:00:11", "00:15:5d:03:00:12"}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// labProc is a long-running process in a namespace (nlbprobe watch,
// tcpdump), stopped with SIGINT as a person stops it with Ctrl-C.
type labProc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
	err            error
}

// startProc starts name in ns and waits until its stderr says ready.
func startProc(t testing.TB, ns *netlab.NS, ready, name string, args ...string) *labProc {
	t.Helper()
	p := &labProc{name: name, done: make(chan struct{})}
	p.cmd = ns.Command(context.Background(), name, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), ready) {
		select {
		case <-p.done:
			t.Fatalf("%s %v ended before it was ready: %v\nstdout:\n%s\nstderr:\n%s", name, args, p.err, p.stdout.String(), p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready in 30s:\n%s", name, p.stderr.String())
		}
	}
	return p
}

// interrupt sends SIGINT and waits for the process to end; it returns the
// exit code.
func (p *labProc) interrupt(t testing.TB) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	return p.wait(t, time.Minute)
}

// wait waits for the process to end by itself.
func (p *labProc) wait(t testing.TB, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not end within %v:\n%s", p.name, limit, p.stderr.String())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

// vmHWM returns the peak resident memory of the running process, in bytes.
func (p *labProc) vmHWM(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func startWatch(t testing.TB, ns *netlab.NS, args ...string) *labProc {
	t.Helper()
	return startProc(t, ns, "capturing on", nlbprobeBinary(t), append([]string{"watch"}, args...)...)
}

// tcpdumpCounts is what tcpdump says at exit.
type tcpdumpCounts struct{ captured, received, dropped uint64 }

// startTcpdump runs tcpdump -w /dev/null on iface. --immediate-mode: by
// default libpcap's ring hands over a block only when it is full or a
// second old, and tcpdump exits on SIGINT without reading what is left,
// so its "captured" count would miss the last second.
func startTcpdump(t testing.TB, ns *netlab.NS, iface, filter string) *labProc {
	t.Helper()
	netlab.RequireTool(t, "tcpdump")
	return startProc(t, ns, "listening on", "tcpdump", "-i", iface, "-n", "--immediate-mode", "-w", "/dev/null", filter)
}

func (p *labProc) tcpdumpCounts(t testing.TB) tcpdumpCounts {
	t.Helper()
	out := p.stderr.String()
	num := func(what string) uint64 {
		m := regexp.MustCompile(`(\d+) packets? ` + what).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("tcpdump printed no %q count:\n%s", what, out)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	return tcpdumpCounts{captured: num("captured"), received: num("received by filter"), dropped: num("dropped by kernel")}
}

// labReport mirrors the JSON report (analyze/report/schema/report.schema.json) as far as the
// lab tests read it, with the contract's names.
type labReport struct {
	Vantage  string `json:"vantage"`
	Clusters []struct {
		ClusterIP  string `json:"cluster_ip"`
		Mode       string `json:"mode"`
		VLAN       uint16 `json:"vlan"`
		SVLAN      uint16 `json:"svlan"`
		ClusterMAC string `json:"cluster_mac"`
		Hosts      []struct {
			Priority    int      `json:"priority"`
			DedicatedIP string   `json:"dedicated_ip"`
			MAC         string   `json:"mac"`
			MACs        []string `json:"macs"`
			Heartbeats  uint64   `json:"heartbeats"`
			Gaps        int      `json:"gaps"`
		} `json:"hosts"`
	} `json:"clusters"`
	Bindings []struct {
		VLAN  uint16 `json:"vlan"`
		SVLAN uint16 `json:"svlan"`
		IP    string `json:"ip"`
		MAC   string `json:"mac"`
	} `json:"bindings"`
	IGMPGroups []struct {
		Group      string `json:"group"`
		NLBCluster string `json:"nlb_cluster"`
		Members    []struct {
			IP      string `json:"ip"`
			MAC     string `json:"mac"`
			Reports uint64 `json:"reports"`
			Active  bool   `json:"active"`
		} `json:"members"`
	} `json:"igmp_groups"`
	Queriers []struct {
		IP      string `json:"ip"`
		Queries uint64 `json:"queries"`
	} `json:"igmp_queriers"`
	Flood    []labFlood   `json:"flood"`
	Findings []labFinding `json:"findings"`
	Stats    struct {
		Frames      uint64 `json:"frames"`
		KernelDrops uint64 `json:"kernel_drops"`
		Protocols   struct {
			ARP        uint64 `json:"arp"`
			IGMP       uint64 `json:"igmp"`
			Heartbeats uint64 `json:"nlb_heartbeat"`
			IPv4       uint64 `json:"ipv4"`
			VLANTagged uint64 `json:"vlan_tagged"`
			ClusterMAC uint64 `json:"to_cluster_macs"`
		} `json:"protocols"`
		Evicted struct {
			Bindings uint64 `json:"bindings"`
		} `json:"evicted"`
	} `json:"stats"`
	Inputs []struct {
		Path   string `json:"path"`
		Frames uint64 `json:"frames"`
	} `json:"inputs"`
}

type labFinding struct {
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Subject  string    `json:"subject"`
	Time     time.Time `json:"time"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Message  string    `json:"message"`
	Evidence []uint64  `json:"evidence"`
	Count    uint64    `json:"count"`
	IPs      []string  `json:"ips"`
	MACs     []string  `json:"macs"`
}

// parseLabReport decodes a report of watch --json, after validating it
// against the contract's schema.
func parseLabReport(t testing.TB, doc string) labReport {
	t.Helper()
	checkContract(t, []string{"watch", "--json"}, doc)
	var r labReport
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, doc)
	}
	return r
}

func (r *labReport) findings(kind string) []labFinding {
	var out []labFinding
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// kinds counts the findings by kind, for logs.
func (r *labReport) kinds() map[string]int {
	out := map[string]int{}
	for _, f := range r.Findings {
		out[f.Kind]++
	}
	return out
}

// labFlood is one cluster MAC's entry of the report's flood list.
type labFlood struct {
	MAC        string  `json:"mac"`
	Frames     uint64  `json:"frames"`
	Heartbeats uint64  `json:"heartbeats"`
	FPS        float64 `json:"frames_per_second"`
	PeakFPS    uint64  `json:"peak_frames_per_second"`
	Verdict    string  `json:"verdict"`
	Basis      string  `json:"basis"`
	Reason     string  `json:"reason"`
}

// flood returns the cluster-MAC traffic entry for mac.
func (r *labReport) flood(mac string) (f labFlood, ok bool) {
	for _, e := range r.Flood {
		if e.MAC == mac {
			return e, true
		}
	}
	return f, false
}

// labNode is an NLB node: a namespace whose eth0 is on a bridge port.
type labNode struct {
	ns   *netlab.NS
	port string // its bridge port in the switch namespace
	ip   string
	mac  string
	prio uint8
}

// nlbLab is the switch (bridge br0 in namespace sw), two NLB nodes, a
// client and a probe.
type nlbLab struct {
	lab           *netlab.Lab
	sw            *netlab.NS
	nodes         [2]*labNode
	client, probe *netlab.NS
	mode          addr.Mode
	clusterMAC    addr.MAC
	// strictFrom is when a snooping bridge stops flooding unregistered
	// multicast: a query response interval after its querier came up.
	strictFrom time.Time
}

// labOptions shape a lab.
type labOptions struct {
	mode addr.Mode
	// snooping turns on IGMP snooping with the bridge as querier (every
	// 3 s, so a short lab sees queries).
	snooping bool
	// span attaches the probe to a mirror of node 1's port instead of a
	// bridge port of its own.
	span bool
}

// newNLBLab builds the lab. The nodes are wired but send nothing and have
// joined nothing yet: start the probe first, then call startNodes.
func newNLBLab(t *testing.T, o labOptions) *nlbLab {
	t.Helper()
	netlab.RequireTool(t, "bridge")
	lab := netlab.New(t)
	l := &nlbLab{lab: lab, mode: o.mode}
	l.clusterMAC, _ = addr.ClusterMAC(o.mode, netip.MustParseAddr(labVIP))
	l.sw = lab.Namespace("sw")
	quiet := func(ns *netlab.NS) *netlab.NS {
		// No IPv6: its neighbour discovery is noise the labs do not need.
		ns.Sysctl("net.ipv6.conf.all.disable_ipv6", "1")
		ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1")
		return ns
	}
	quiet(l.sw)
	var ports []string
	for i := range l.nodes {
		n := &labNode{ns: quiet(lab.Namespace(fmt.Sprintf("node%d", i+1))), port: fmt.Sprintf("p-node%d", i+1),
			ip: fmt.Sprintf("172.31.3.%d", 11+i), mac: labNodeMACs[i], prio: uint8(i + 1)}
		lab.Veth(n.ns, "eth0", l.sw, n.port)
		n.ns.MustRun("ip", "link", "set", "eth0", "address", n.mac)
		n.ns.Link("eth0", 0, n.ip+"/24")
		l.sw.Link(n.port, 0)
		ports = append(ports, n.port)
		l.nodes[i] = n
	}
	l.client = quiet(lab.Namespace("client"))
	lab.Veth(l.client, "eth0", l.sw, "p-client")
	l.client.MustRun("ip", "link", "set", "eth0", "address", "00:15:5d:03:00:50")
	l.client.Link("eth0", 0, labClient+"/24")
	l.sw.Link("p-client", 0)
	ports = append(ports, "p-client")
	// The client reaches the VIP as clients behind a router do: unicast IP
	// inside the cluster MAC, from a static entry (`arp VIP MAC ARPA`).
	l.client.StaticNeighbour("eth0", labVIP, l.clusterMAC.String())

	l.probe = quiet(lab.Namespace("probe"))
	if o.span {
		lab.Veth(l.probe, "eth0", l.sw, "span0")
		l.sw.Link("span0", 0)
	} else {
		lab.Veth(l.probe, "eth0", l.sw, "p-probe")
		l.sw.Link("p-probe", 0)
		ports = append(ports, "p-probe")
	}
	l.probe.Link("eth0", 0)

	opts := []string{"mcast_snooping", "0"}
	if o.snooping {
		opts = []string{"mcast_snooping", "1", "mcast_query_use_ifaddr", "1",
			"mcast_query_interval", "300", "mcast_query_response_interval", "100",
			"mcast_startup_query_interval", "100"}
	}
	l.sw.Bridge("br0", ports, opts...)
	l.sw.MustRun("ip", "addr", "add", labBridge+"/24", "dev", "br0")
	if o.snooping {
		// The querier last: the bridge keeps flooding unregistered
		// multicast for one query response interval after its querier
		// is enabled, and that interval must be the short one set above
		// (in one `ip link add`, the querier would be enabled with the
		// default 10 s: measured).
		l.sw.MustRun("ip", "link", "set", "br0", "type", "bridge", "mcast_querier", "1")
		l.strictFrom = time.Now().Add(1500 * time.Millisecond)
	}
	if o.span {
		l.sw.Mirror(l.nodes[0].port, "span0")
	}
	return l
}

// nodeTraffic is what an NLB node sends: an ARP announcement of the VIP
// with the cluster MAC (as NLB answers for it) and of its own dedicated
// IP, then a membership heartbeat every second.
func (l *nlbLab) nodeTraffic(n *labNode, mac string) netlab.Traffic {
	vip := netip.MustParseAddr(labVIP)
	nic, err := addr.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	src, dst := fixtures.HeartbeatAddrs(l.mode, vip, n.prio, nic)
	hb := fixtures.Heartbeat{Priority: n.prio, Cluster: vip, Dedicated: netip.MustParseAddr(n.ip),
		Convergence: 1, PortRules: []uint32{0x00500050, 0x01bb01bb}}
	ded := netip.MustParseAddr(n.ip)
	dedMAC := nic
	if l.mode == addr.ModeUnicast {
		dedMAC = l.clusterMAC // unicast mode answers for the dedicated IP with the cluster MAC too
	}
	return netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{
		{Name: "announce", Frames: [][]byte{
			fixtures.GratuitousARP(l.clusterMAC, vip).Frame(src, addr.Broadcast),
			fixtures.GratuitousARP(dedMAC, ded).Frame(src, addr.Broadcast),
		}, Count: 2, Rate: 20},
		{Name: "heartbeat", Frames: [][]byte{hb.Frame(src, dst)}, Rate: 1, Duration: 3 * time.Minute},
	}}
}

// join makes the node's kernel join the cluster's IGMP group (IGMP mode),
// which sends the membership reports a real node's NIC does.
func (n *labNode) join() {
	n.ns.MustRun("ip", "addr", "add", labGroup+"/32", "dev", "eth0", "autojoin")
}

// startNodes joins (in IGMP mode) and starts the heartbeats of both nodes.
func (l *nlbLab) startNodes(t *testing.T) [2]*netlab.TrafficRun {
	t.Helper()
	// Joins and traffic only once a snooping bridge filters.
	time.Sleep(time.Until(l.strictFrom))
	var runs [2]*netlab.TrafficRun
	for i, n := range l.nodes {
		if l.mode == addr.ModeIGMP {
			n.join()
		}
		runs[i] = n.ns.StartTraffic(l.nodeTraffic(n, n.mac))
	}
	return runs
}

// clientTraffic sends count UDP datagrams to the VIP at rate.
func (l *nlbLab) clientTraffic(rate float64, count int) *netlab.TrafficRun {
	return l.client.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{
		{Name: "client", UDP: labVIP + ":7", UDPSize: 100, Rate: rate, Count: count},
	}})
}

// promiscuity returns the interface's promiscuity count in ns.
func promiscuity(t *testing.T, ns *netlab.NS, dev string) int {
	t.Helper()
	a, err := ns.LinkAttrs(dev)
	if err != nil {
		t.Fatal(err)
	}
	return a.Promisc
}

// compareWithTcpdump checks that watch and tcpdump, on the same port for
// the same time with the same filter, saw the same frames, within the
// drops each reports and slack frames that may fall between their start
// and stop times (periodic traffic: heartbeats, queries).
func compareWithTcpdump(t *testing.T, r labReport, td tcpdumpCounts, slack uint64) {
	t.Helper()
	w := r.Stats.Frames
	diff := max(w, td.captured) - min(w, td.captured)
	t.Logf("frames: watch %d (kernel drops %d), tcpdump %d captured, %d received by filter, %d dropped",
		w, r.Stats.KernelDrops, td.captured, td.received, td.dropped)
	if diff > r.Stats.KernelDrops+td.dropped+slack {
		t.Errorf("watch analyzed %d frames, tcpdump captured %d on the same port: they differ by %d, more than the drops (%d + %d) and %d frames of slack",
			w, td.captured, diff, r.Stats.KernelDrops, td.dropped, slack)
	}
}

func mustNetip(s string) netip.Addr { return netip.MustParseAddr(s) }
