//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// The seven labs of the live-capture issue. Each builds its own switch and
// namespaces, runs `nlbprobe watch` in the probe's namespace next to
// tcpdump with the same filter on the same port, sends NLB traffic from
// the nodes and the client, stops both captures with SIGINT (Ctrl-C) and
// checks the report against what the switch really did.

const (
	clientRate  = 100 // client datagrams per second
	clientCount = 500
)

// runClientWindow starts both nodes and the client, waits for the client to
// finish, lets a last heartbeat pass and stops the nodes.
func (l *nlbLab) runClientWindow(t *testing.T) (client netlab.StreamResult) {
	t.Helper()
	nodes := l.startNodes(t)
	time.Sleep(500 * time.Millisecond)
	c := l.clientTraffic(clientRate, clientCount).Wait(t)[0]
	for _, n := range nodes {
		n.Stop(t)
	}
	time.Sleep(300 * time.Millisecond)
	t.Logf("client sent %d datagrams to %s in %.2fs", c.Sent, labVIP, c.Last.Sub(c.First).Seconds())
	if c.Sent != clientCount {
		t.Fatalf("client sent %d of %d", c.Sent, clientCount)
	}
	return c
}

// TestWatchNonMemberPortNotFlooded is lab 1: the probe's port is one the
// switch keeps the cluster's multicast away from (`bridge link set dev
// PORT mcast_flood off`, the static multicast group of the seed setup): the
// client's frames reach the nodes' ports but not the probe's, and watch
// raises no flooding finding.
func TestWatchNonMemberPortNotFlooded(t *testing.T) {
	l := newNLBLab(t, labOptions{mode: addr.ModeIGMP})
	l.sw.BridgePort("p-probe", "mcast_flood", "off")
	watch := startWatch(t, l.probe, "-i", "eth0", "--vantage", "nonmember", "--cluster", labVIP, "--json", "--interval", "0")
	td := startTcpdump(t, l.probe, "eth0", capture.FilterExpression)
	member := startTcpdump(t, l.nodes[0].ns, "eth0", "udp and dst host "+labVIP)
	l.runClientWindow(t)
	code := watch.interrupt(t)
	td.interrupt(t)
	member.interrupt(t)
	r := parseLabReport(t, watch.stdout.String())
	t.Logf("findings: %v", r.kinds())

	if got := member.tcpdumpCounts(t).captured; got != clientCount {
		t.Errorf("node 1's port got %d client frames, want all %d: the switch did not deliver to the members", got, clientCount)
	}
	if f := r.findings("multicast-flooding"); len(f) > 0 {
		t.Errorf("multicast-flooding on a port the switch keeps multicast from: %+v", f)
	}
	if f, ok := r.flood(l.clusterMAC.String()); ok {
		t.Errorf("frames to the cluster MAC reached the probe: %+v", f)
	}
	// The nodes' ARP announcements are broadcast: the probe knows the VIP
	// answers with the cluster MAC, and says it saw no heartbeats.
	if ns := r.findings("cluster-not-seen"); len(ns) != 1 || ns[0].Severity != "info" || !strings.Contains(ns[0].Message, "though ARP") {
		t.Errorf("cluster-not-seen: %+v, want the info that ARP but no heartbeats were seen", ns)
	}
	if !hasBinding(r, labVIP, l.clusterMAC.String()) {
		t.Errorf("no binding %s -> %v: %+v", labVIP, l.clusterMAC, r.Bindings)
	}
	if code != exitOK {
		t.Errorf("exit code %d, want 0 (only an info finding)", code)
	}
	compareWithTcpdump(t, r, td.tcpdumpCounts(t), 2)
}

func hasBinding(r labReport, ip, mac string) bool {
	for _, b := range r.Bindings {
		if b.IP == ip && b.MAC == mac {
			return true
		}
	}
	return false
}

// TestWatchNonMemberPortFlooded is lab 2: the same port flooded. watch
// raises multicast-flooding at the client's rate, reports the IGMP-mode
// cluster and both joins, finds the probe host's stale static ARP entry,
// serves metrics while it runs, writes the evidence to a pcapng that
// tshark reads, and on SIGINT prints the report and leaves the interface
// as it was.
func TestWatchNonMemberPortFlooded(t *testing.T) {
	netlab.RequireTool(t, "tshark")
	l := newNLBLab(t, labOptions{mode: addr.ModeIGMP})
	// A static entry left from when the cluster was in multicast mode.
	oldMAC, _ := addr.ClusterMAC(addr.ModeMulticast, mustNetip(labVIP))
	l.probe.StaticNeighbour("eth0", labVIP, oldMAC.String())
	before := promiscuity(t, l.probe, "eth0")
	evidence := filepath.Join(t.TempDir(), "evidence.pcapng")
	watch := startWatch(t, l.probe, "-i", "eth0", "--vantage", "nonmember", "--json", "--interval", "1s",
		"--write", evidence, "--metrics-listen", "127.0.0.1:9716", "--neigh-every", "1s")
	td := startTcpdump(t, l.probe, "eth0", capture.FilterExpression)
	if during := promiscuity(t, l.probe, "eth0"); during < before+2 {
		t.Errorf("promiscuity %d while watch and tcpdump run, was %d: watch did not make it promiscuous", during, before)
	}
	l.runClientWindow(t)

	// The loop publishes a snapshot about once a second: scrape until it
	// has the whole client burst.
	var metrics string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		metrics = scrape(t, l.probe, "127.0.0.1:9716")
		series := `nlbprobe_cluster_mac_frames_total{mac="01:00:5e:7f:03:e8",remote_span="",svlan="0",vlan="0"}`
		if v := metricValue(metrics, series); v >= clientCount || time.Now().After(deadline) {
			if v < clientCount {
				t.Errorf("%s is %v, want at least the client's %d", series, v, clientCount)
			}
			break
		}
	}
	for _, want := range []string{
		`nlbprobe_cluster_mac_frames_total{mac="01:00:5e:7f:03:e8",remote_span="",svlan="0",vlan="0"}`,
		`nlbprobe_cluster_mac_flooding{mac="01:00:5e:7f:03:e8",remote_span="",svlan="0",vlan="0"} 1`,
		`nlbprobe_heartbeats_total{cluster="172.31.3.232",host="1",remote_span="",svlan="0",vlan="0"}`,
		`nlbprobe_heartbeats_total{cluster="172.31.3.232",host="2",remote_span="",svlan="0",vlan="0"}`,
		`nlbprobe_cluster_mode{cluster="172.31.3.232",mode="igmp",remote_span="",svlan="0",vlan="0"} 1`,
		`nlbprobe_findings{kind="multicast-flooding",severity="warning"} 1`,
		`nlbprobe_findings{kind="stale-static-arp",severity="error"} 1`,
		`nlbprobe_static_arp_stale{interface="eth0",ip="172.31.3.232",mac="` + oldMAC.String() + `",svlan="0",vlan="0"} 1`,
		`nlbprobe_frames_total{protocol="nlb_heartbeat"}`,
		`nlbprobe_bytes_total{protocol="ipv4"}`,
		`nlbprobe_host_last_seen_age_seconds{cluster="172.31.3.232",host="2",remote_span="",svlan="0",vlan="0"}`,
		`nlbprobe_kernel_drops_total 0`,
		`nlbprobe_capture_info{interface="eth0",vantage="nonmember"} 1`,
		`nlbprobe_build_info{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Prometheus' linter on the live scrape.
	if _, err := exec.LookPath("promtool"); err == nil || os.Getenv("CI") == "true" {
		promtoolCheckMetrics(t, metrics)
	}

	code := watch.interrupt(t)
	tdc := func() tcpdumpCounts { td.interrupt(t); return td.tcpdumpCounts(t) }()
	r := parseLabReport(t, watch.stdout.String())
	t.Logf("findings: %v", r.kinds())
	if after := promiscuity(t, l.probe, "eth0"); after != before {
		t.Errorf("promiscuity %d after Ctrl-C, was %d before", after, before)
	}

	fl := r.findings("multicast-flooding")
	f, ok := r.flood(l.clusterMAC.String())
	if len(fl) != 1 || !ok {
		t.Fatalf("multicast-flooding %+v, flood entry %+v", fl, f)
	}
	t.Logf("flood: %d frames (%d heartbeats), %.1f/s, peak %d/s, verdict %s: %s", f.Frames, f.Heartbeats, f.FPS, f.PeakFPS, f.Verdict, f.Reason)
	if f.Frames-f.Heartbeats != clientCount || f.Verdict != "flooding" {
		t.Errorf("flood entry: %d frames besides heartbeats, verdict %q; want the client's %d, flooding", f.Frames-f.Heartbeats, f.Verdict, clientCount)
	}
	if f.FPS < 0.85*clientRate || f.FPS > 1.15*clientRate+2 || f.PeakFPS < 0.9*clientRate || f.PeakFPS > 1.15*clientRate+2 {
		t.Errorf("rate %.1f/s, peak %d/s: want close to the client's %d/s", f.FPS, f.PeakFPS, clientRate)
	}
	checkIGMPCluster(t, r, l, true)
	stale := r.findings("stale-static-arp")
	if len(stale) != 1 || stale[0].Severity != "error" || !strings.Contains(stale[0].Message, oldMAC.String()) ||
		!strings.Contains(stale[0].Message, "now uses igmp mode") {
		t.Errorf("stale-static-arp: %+v", stale)
	}
	if code != exitFindings {
		t.Errorf("exit code %d, want 1 (stale-static-arp is an error)", code)
	}
	compareWithTcpdump(t, r, tdc, 2)

	// The evidence file: tshark reads it, it holds as many frames as watch
	// says it wrote, and the flooding finding's evidence frames are in it.
	m := regexp.MustCompile(`wrote (\d+) frames? to (\S+)`).FindStringSubmatch(watch.stderr.String())
	if m == nil || m[2] != evidence {
		t.Fatalf("watch did not say what it wrote:\n%s", watch.stderr.String())
	}
	ids := tsharkPacketIDs(t, evidence)
	if strconv.Itoa(len(ids)) != m[1] {
		t.Errorf("tshark reads %d frames, watch says it wrote %s", len(ids), m[1])
	}
	for _, n := range fl[0].Evidence {
		if !ids[n] {
			t.Errorf("evidence frame %d of multicast-flooding is not in the file", n)
		}
	}
	// In capture-time order: tshark sees no negative delta (issue 16
	// item 8), and frame numbers only grow.
	out, err := exec.Command("tshark", "-r", evidence, "-T", "fields", "-e", "frame.time_delta", "-e", "frame.packet_id").Output()
	if err != nil {
		t.Fatal(err)
	}
	var lastID uint64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		delta, id, _ := strings.Cut(line, "\t")
		n, _ := strconv.ParseUint(id, 10, 64)
		if strings.HasPrefix(delta, "-") || n < lastID {
			t.Errorf("evidence file out of order: frame %s (delta %s) after frame %d", id, delta, lastID)
		}
		lastID = n
	}
	// The stream lines (on stderr with --json) are in capture-time order.
	var last string
	for _, line := range strings.Split(watch.stderr.String(), "\n") {
		if ts, _, ok := strings.Cut(line, " "); ok && regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3}$`).MatchString(ts) {
			if ts < last {
				t.Errorf("stream line at %s after one at %s", ts, last)
			}
			last = ts
		}
	}
}

// checkIGMPCluster checks the IGMP-mode cluster with both hosts and, when
// joins is set, both hosts' memberships of its group.
func checkIGMPCluster(t *testing.T, r labReport, l *nlbLab, joins bool) {
	t.Helper()
	if len(r.Clusters) != 1 {
		t.Fatalf("%d clusters, want 1: %+v", len(r.Clusters), r.Clusters)
	}
	c := r.Clusters[0]
	if c.ClusterIP != labVIP || c.Mode != l.mode.String() || c.ClusterMAC != l.clusterMAC.String() || len(c.Hosts) != 2 {
		t.Fatalf("cluster %+v", c)
	}
	for i, h := range c.Hosts {
		n := l.nodes[i]
		wantMAC := n.mac
		if l.mode == addr.ModeUnicast {
			wantMAC = addr.MaskedSource(n.prio, mustNetip(labVIP)).String()
		}
		if h.Priority != int(n.prio) || h.DedicatedIP != n.ip || h.MAC != wantMAC || h.Heartbeats < 3 {
			t.Errorf("host %d: %+v, want priority %d, %s, %s, a heartbeat a second", i+1, h, n.prio, n.ip, wantMAC)
		}
	}
	if !joins {
		return
	}
	members := map[string]bool{}
	for _, g := range r.IGMPGroups {
		if g.Group == labGroup && g.NLBCluster == labVIP {
			for _, m := range g.Members {
				members[m.IP] = m.Reports > 0
			}
		}
	}
	if !members[l.nodes[0].ip] || !members[l.nodes[1].ip] {
		t.Errorf("IGMP members of %s: %v, want both nodes (the kernels' autojoin reports)", labGroup, members)
	}
}

// TestWatchSnoopingByIPGroup is lab 3: the bridge snoops IGMP, is the
// querier, and both nodes joined 239.255.3.232. Design.md explains why that
// does not target NLB traffic: the client's frames carry the VIP, a unicast
// IP, inside the cluster MAC, so they match no group; a Linux bridge with a
// querier sends such unregistered traffic to router ports only, and
// heartbeats (not IP) are flooded. So: the members get no client frame
// (the VIP is unreachable through this switch), the probe's port gets
// none either, every port gets the heartbeats, and the report says so.
func TestWatchSnoopingByIPGroup(t *testing.T) {
	l := newNLBLab(t, labOptions{mode: addr.ModeIGMP, snooping: true})
	watch := startWatch(t, l.probe, "-i", "eth0", "--vantage", "nonmember", "--json", "--interval", "0")
	td := startTcpdump(t, l.probe, "eth0", capture.FilterExpression)
	memberClient := startTcpdump(t, l.nodes[0].ns, "eth0", "udp and dst host "+labVIP)
	memberHB := startTcpdump(t, l.nodes[0].ns, "eth0", "ether proto 0x886f and ether src "+l.nodes[1].mac)
	l.runClientWindow(t)
	mdb := l.sw.MustRun("bridge", "mdb", "show", "dev", "br0")
	code := watch.interrupt(t)
	td.interrupt(t)
	memberClient.interrupt(t)
	memberHB.interrupt(t)
	r := parseLabReport(t, watch.stdout.String())
	t.Logf("bridge mdb:\n%sfindings: %v", mdb, r.kinds())

	// What the switch really did.
	for _, port := range []string{"p-node1", "p-node2"} {
		if !strings.Contains(mdb, "port "+port+" grp "+labGroup) {
			t.Errorf("bridge mdb has no %s entry for %s: the nodes' joins did not register", labGroup, port)
		}
	}
	if got := memberClient.tcpdumpCounts(t).captured; got != 0 {
		t.Errorf("node 1's port got %d client frames: a bridge snooping by IP group should not match unicast IP inside the cluster MAC", got)
	}
	if got := memberHB.tcpdumpCounts(t).captured; got < 3 {
		t.Errorf("node 1's port got %d heartbeats of node 2, want them flooded (not IP, no group matches)", got)
	}
	// What the report says.
	f, ok := r.flood(l.clusterMAC.String())
	if !ok || f.Heartbeats < 6 || f.Frames != f.Heartbeats {
		t.Errorf("flood entry %+v: want the flooded heartbeats and no client frame", f)
	}
	if fl := r.findings("multicast-flooding"); len(fl) != 1 || !strings.Contains(fl[0].Message, "nonmember") {
		t.Errorf("multicast-flooding (the heartbeats reach a port with no node): %+v", fl)
	}
	if len(r.Queriers) != 1 || r.Queriers[0].IP != labBridge || r.Queriers[0].Queries == 0 {
		t.Errorf("queriers %+v, want the bridge %s", r.Queriers, labBridge)
	}
	// Reports go to the querier's port only: the probe's port sees none,
	// so from here the joins are unknown and no membership is listed.
	for _, g := range r.IGMPGroups {
		if g.Group == labGroup {
			t.Errorf("membership of %s seen on a non-member port of a snooping bridge: %+v", labGroup, g)
		}
	}
	checkIGMPCluster(t, r, l, false)
	if code != exitOK {
		t.Errorf("exit code %d, want 0 (warnings only)", code)
	}
	compareWithTcpdump(t, r, td.tcpdumpCounts(t), 3)
}

// TestWatchUnicastMode is lab 4: a unicast-mode cluster. The switch never
// learns 02:bf:..., so it floods the client's frames to every port:
// unicast-flooding at the client's rate, streamed as JSON while watch runs.
// --html writes the page at each status interval while watch runs, and
// again at the end.
func TestWatchUnicastMode(t *testing.T) {
	l := newNLBLab(t, labOptions{mode: addr.ModeUnicast})
	pageDir := t.TempDir()
	page := filepath.Join(pageDir, "watch.html")
	watch := startWatch(t, l.probe, "-i", "eth0", "--vantage", "nonmember", "--json-stream", "--interval", "1s", "--html", page)
	td := startTcpdump(t, l.probe, "eth0", capture.FilterExpression)
	l.runClientWindow(t)
	// Streamed before the end: the finding is on stdout before Ctrl-C,
	// and the page is there.
	streamed := watch.stdout.String()
	during, err := os.ReadFile(page)
	if err != nil {
		t.Errorf("no HTML page while watch runs: %v", err)
	}
	code := watch.interrupt(t)
	td.interrupt(t)
	checkWatchPage(t, during, l.clusterMAC.String(), false)
	final, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("no HTML page after watch: %v", err)
	}
	checkWatchPage(t, final, l.clusterMAC.String(), true)
	if ents, _ := os.ReadDir(pageDir); len(ents) != 1 {
		t.Errorf("the page's folder holds %d files, want the page alone (no temporary file left)", len(ents))
	}
	checkContract(t, []string{"watch", "--json-stream"}, watch.stdout.String())
	lines := strings.Split(strings.TrimSpace(watch.stdout.String()), "\n")
	var types []string
	var last map[string]json.RawMessage
	for _, line := range lines {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("--json-stream line is not JSON: %q", line)
		}
		var typ string
		_ = json.Unmarshal(obj["type"], &typ)
		types = append(types, typ)
		last = obj
	}
	if !regexp.MustCompile(`"type":"finding",.*"event":"raised","kind":"unicast-flooding"`).MatchString(streamed) {
		t.Errorf("unicast-flooding was not streamed while watch ran:\n%s", streamed)
	}
	if !strings.Contains(streamed, `"type":"status"`) {
		t.Errorf("no status line in the stream:\n%s", streamed)
	}
	if types[len(types)-1] != "report" {
		t.Fatalf("last line is a %q, want the report", types[len(types)-1])
	}
	delete(last, "type") // the report line is the report plus its type
	raw, _ := json.Marshal(last)
	r := parseLabReport(t, string(raw))
	t.Logf("findings: %v", r.kinds())
	checkIGMPCluster(t, r, l, false)
	f, ok := r.flood(l.clusterMAC.String())
	if fl := r.findings("unicast-flooding"); len(fl) != 1 || !ok {
		t.Fatalf("unicast-flooding %+v, flood entry %+v", fl, f)
	}
	t.Logf("flood: %d frames, %.1f/s, peak %d/s, verdict %s", f.Frames, f.FPS, f.PeakFPS, f.Verdict)
	if f.Frames != clientCount || f.FPS < 0.85*clientRate || f.FPS > 1.15*clientRate || f.Verdict != "flooding" {
		t.Errorf("flood entry %+v, want the client's %d frames at about %d/s, flooding", f, clientCount, clientRate)
	}
	if code != exitOK {
		t.Errorf("exit code %d, want 0", code)
	}
	compareWithTcpdump(t, r, td.tcpdumpCounts(t), 2)
}

// checkWatchPage checks a page watch --html wrote: whole (it ends its
// document, as a rename of a complete file guarantees), with the two
// hosts' lanes and, once traffic came, the flooding of the cluster MAC.
func checkWatchPage(t *testing.T, page []byte, clusterMAC string, final bool) {
	t.Helper()
	s := string(page)
	if !strings.HasSuffix(strings.TrimSpace(s), "</html>") {
		t.Errorf("the page is cut short (final %v): %d bytes", final, len(s))
		return
	}
	if n := strings.Count(s, `data-lane="host"`); n != 2 {
		t.Errorf("%d host lanes (final %v), want 2", n, final)
	}
	if final && !strings.Contains(s, `data-lane="flood" data-mac="`+clusterMAC+`" data-verdict="flooding"`) {
		t.Errorf("the final page has no flooding lane for %s", clusterMAC)
	}
}

// TestWatchSpanPort is lab 5: the probe on a span (tc mirred) of node 1's
// port, both directions, with IGMP snooping and the bridge as querier. The
// report names the cluster, both hosts (node 2's heartbeats are flooded
// to node 1's port), node 1's IGMP membership and the querier. --write-all
// saves every frame: tshark counts as many as watch analyzed.
func TestWatchSpanPort(t *testing.T) {
	netlab.RequireTool(t, "tc")
	netlab.RequireTool(t, "tshark")
	l := newNLBLab(t, labOptions{mode: addr.ModeIGMP, snooping: true, span: true})
	all := filepath.Join(t.TempDir(), "all.pcapng")
	watch := startWatch(t, l.probe, "-i", "eth0", "--json", "--interval", "0", "--write", all, "--write-all")
	td := startTcpdump(t, l.probe, "eth0", capture.FilterExpression)
	nodes := l.startNodes(t)
	time.Sleep(7 * time.Second) // two query intervals
	for _, n := range nodes {
		n.Stop(t)
	}
	time.Sleep(300 * time.Millisecond)
	code := watch.interrupt(t)
	td.interrupt(t)
	r := parseLabReport(t, watch.stdout.String())
	t.Logf("findings: %v", r.kinds())
	if r.Vantage != "span" {
		t.Errorf("vantage %q", r.Vantage)
	}
	checkIGMPCluster(t, r, l, false)
	member := false
	for _, g := range r.IGMPGroups {
		for _, m := range g.Members {
			member = member || (g.Group == labGroup && g.NLBCluster == labVIP && m.IP == l.nodes[0].ip && m.MAC == l.nodes[0].mac && m.Reports > 0)
		}
	}
	if !member {
		t.Errorf("node 1's membership of %s not reported: %+v", labGroup, r.IGMPGroups)
	}
	if len(r.Queriers) != 1 || r.Queriers[0].IP != labBridge || r.Queriers[0].Queries < 2 {
		t.Errorf("queriers %+v, want the bridge %s with its queries", r.Queriers, labBridge)
	}
	if code == exitUsage {
		t.Errorf("exit code %d", code)
	}
	compareWithTcpdump(t, r, td.tcpdumpCounts(t), 3)
	if ids := tsharkPacketIDs(t, all); uint64(len(ids)) != r.Stats.Frames {
		t.Errorf("tshark reads %d frames of --write-all, watch analyzed %d", len(ids), r.Stats.Frames)
	}
}

// TestWatchMigration is lab 6: node 2 is live-migrated. Its heartbeats stop,
// and after a pause longer than NLB's five periods its namespace comes back
// on another bridge port with a new MAC, announces its dedicated IP and
// heartbeats again. watch reports heartbeat-gap from the last heartbeat
// before the pause to the first after it, and mac-change for the dedicated
// IP at the announcement, with the times the sender recorded.
func TestWatchMigration(t *testing.T) {
	l := newNLBLab(t, labOptions{mode: addr.ModeIGMP})
	watch := startWatch(t, l.probe, "-i", "eth0", "--vantage", "nonmember", "--json", "--interval", "0")
	td := startTcpdump(t, l.probe, "eth0", capture.FilterExpression)
	nodes := l.startNodes(t)
	time.Sleep(3500 * time.Millisecond)
	before := nodes[1].Stop(t)
	lastHB := streamNamed(t, before, "heartbeat").Last

	time.Sleep(7 * time.Second) // the migration's blackout
	n2 := l.nodes[1]
	newMAC := "00:15:5d:03:01:12"
	l.sw.MustRun("ip", "link", "del", n2.port)
	n2.port = "p-node2b"
	l.lab.Veth(n2.ns, "eth0", l.sw, n2.port)
	n2.ns.MustRun("ip", "link", "set", "eth0", "address", newMAC)
	n2.ns.Link("eth0", 0, n2.ip+"/24")
	l.sw.MustRun("ip", "link", "set", n2.port, "master", "br0")
	l.sw.Link(n2.port, 0)
	n2.join()
	back := n2.ns.StartTraffic(l.nodeTraffic(n2, newMAC))
	time.Sleep(3500 * time.Millisecond)
	after := back.Stop(t)
	nodes[0].Stop(t)
	time.Sleep(300 * time.Millisecond)
	firstHB := streamNamed(t, after, "heartbeat").First
	announced := streamNamed(t, after, "announce").Last // the dedicated IP's announcement
	code := watch.interrupt(t)
	td.interrupt(t)
	r := parseLabReport(t, watch.stdout.String())
	t.Logf("findings: %v", r.kinds())

	near := func(got, want time.Time) bool {
		d := got.Sub(want)
		return d > -200*time.Millisecond && d < 200*time.Millisecond
	}
	gaps := r.findings("heartbeat-gap")
	if len(gaps) != 1 || !strings.Contains(gaps[0].Subject, "host 2") || !near(gaps[0].Start, lastHB) || !near(gaps[0].End, firstHB) {
		t.Errorf("heartbeat-gap %+v, want host 2 from %v to %v", gaps, lastHB.UTC(), firstHB.UTC())
	}
	changes := r.findings("mac-change")
	if len(changes) != 1 || !strings.Contains(changes[0].Subject, n2.ip) || !near(changes[0].Time, announced) ||
		strings.Join(changes[0].MACs, " ") != labNodeMACs[1]+" "+newMAC {
		t.Errorf("mac-change %+v, want %s from %s to %s at %v", changes, n2.ip, labNodeMACs[1], newMAC, announced.UTC())
	}
	for _, c := range r.Clusters {
		for _, h := range c.Hosts {
			if h.Priority == 2 && (h.MAC != newMAC || len(h.MACs) != 2 || h.Gaps != 1) {
				t.Errorf("host 2 after the migration: %+v", h)
			}
		}
	}
	if code != exitOK {
		t.Errorf("exit code %d, want 0 (warnings)", code)
	}
	compareWithTcpdump(t, r, td.tcpdumpCounts(t), 3)
}

func streamNamed(t *testing.T, res []netlab.StreamResult, name string) netlab.StreamResult {
	t.Helper()
	for _, s := range res {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stream %q in %+v", name, res)
	return netlab.StreamResult{}
}

// TestWatchARPFlood is lab 7: a million ARP announcements from random MACs
// and IPs, as fast as the sender goes. watch's memory stays bounded (its
// tables evict and say so), and it keeps up or reports its drops; tcpdump
// on the same port counts the same frames within the drops each reports.
func TestWatchARPFlood(t *testing.T) {
	const flood = 1_000_000
	lab := netlab.New(t)
	sw, flooder, probe := lab.Namespace("sw"), lab.Namespace("flooder"), lab.Namespace("probe")
	for _, ns := range []*netlab.NS{sw, flooder, probe} {
		ns.Sysctl("net.ipv6.conf.all.disable_ipv6", "1")
		ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1")
	}
	lab.Veth(flooder, "eth0", sw, "p-flood")
	lab.Veth(probe, "eth0", sw, "p-probe")
	flooder.Link("eth0", 0)
	probe.Link("eth0", 0)
	sw.Link("p-flood", 0)
	sw.Link("p-probe", 0)
	sw.Bridge("br0", []string{"p-flood", "p-probe"}, "mcast_snooping", "0")
	// A million source MACs would fill the bridge's forwarding table; the
	// flood is about the probe, not the lab's switch.
	sw.BridgePort("p-flood", "learning", "off")

	watch := startWatch(t, probe, "-i", "eth0", "--json", "--interval", "0")
	td := startTcpdump(t, probe, "eth0", capture.FilterExpression)
	start := time.Now()
	res := flooder.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{{Name: "flood", RandomARP: true, Seed: 7, Count: flood}}}).Wait(t)[0]
	t.Logf("sent %d ARP announcements in %.2fs (%.0f/s, %d retries)", res.Sent, res.Last.Sub(res.First).Seconds(),
		float64(res.Sent)/res.Last.Sub(res.First).Seconds(), res.Retries)
	time.Sleep(time.Second) // let both drain their rings
	during := watch.vmHWM(t)
	code := watch.interrupt(t)
	td.interrupt(t)
	r := parseLabReport(t, watch.stdout.String())
	tdc := td.tcpdumpCounts(t)
	// The peak after the report was made, as watch measured it at exit.
	m := regexp.MustCompile(`peak memory ([0-9.]+) MiB`).FindStringSubmatch(watch.stderr.String())
	if m == nil {
		t.Fatalf("watch did not report its peak memory:\n%s", watch.stderr.String())
	}
	mib, _ := strconv.ParseFloat(m[1], 64)
	hwm := int64(mib * (1 << 20))
	t.Logf("watch: %d frames, %d kernel drops, %d bindings evicted, peak RSS %.1f MiB while capturing, %.1f MiB with the report, %v in all; findings %v",
		r.Stats.Frames, r.Stats.KernelDrops, r.Stats.Evicted.Bindings, float64(during)/(1<<20), mib, time.Since(start).Round(time.Millisecond), r.kinds())
	if res.Sent != flood {
		t.Fatalf("sent %d of %d", res.Sent, flood)
	}
	if hwm > 200<<20 {
		t.Errorf("peak RSS %.1f MiB, want under 200 MiB", float64(hwm)/(1<<20))
	}
	if r.Stats.Frames+r.Stats.KernelDrops < flood*99/100 {
		t.Errorf("watch accounts for %d frames and %d drops of %d sent", r.Stats.Frames, r.Stats.KernelDrops, flood)
	}
	if r.Stats.Frames > 100_000 && (r.Stats.Evicted.Bindings == 0 || len(r.findings("state-evicted")) != 1) {
		t.Errorf("%d stations in, %d bindings evicted, state-evicted %+v: the tables must evict and say so",
			r.Stats.Frames, r.Stats.Evicted.Bindings, r.findings("state-evicted"))
	}
	if r.Stats.KernelDrops > 0 && len(r.findings("capture-drops")) != 1 {
		t.Errorf("%d kernel drops without a capture-drops finding", r.Stats.KernelDrops)
	}
	if code == exitUsage {
		t.Errorf("exit code %d", code)
	}
	compareWithTcpdump(t, r, tdc, 0)
}

// TestWatchVLANTags sends ARP and heartbeats in VLAN 10, in QinQ 200.10
// and untagged to a probe, with a static ARP entry on a VLAN 10
// sub-interface of the capture interface. The tagged frames pass the
// kernel filter (the kernel strips the outer tag before it runs), arrive
// with their tags put back, and the report keeps each VLAN apart; the
// --write-all file shows the tags to tshark.
func TestWatchVLANTags(t *testing.T) {
	netlab.RequireTool(t, "tshark")
	lab := netlab.New(t)
	sender, probe := lab.Namespace("sender"), lab.Namespace("probe")
	lab.Veth(sender, "eth0", probe, "eth0")
	// Room for a heartbeat (1510 bytes) behind two tags, as a trunk has.
	sender.Link("eth0", 1600)
	probe.Link("eth0", 1600)
	vip := mustNetip("172.31.10.232")
	mcast, _ := addr.ClusterMAC(addr.ModeMulticast, vip)
	uni, _ := addr.ClusterMAC(addr.ModeUnicast, vip)
	// A static entry on a VLAN 10 sub-interface, where the kernel has
	// 802.1Q support (some CI kernels do not: then only the capture side
	// is checked).
	subif := true
	if out, err := probe.Run("ip", "link", "add", "link", "eth0", "name", "eth0.10", "type", "vlan", "id", "10"); err != nil {
		t.Logf("no VLAN sub-interface, the static entry on VLAN 10 is not checked: %v: %s", err, out)
		subif = false
	} else {
		probe.Link("eth0.10", 0)
		probe.StaticNeighbour("eth0.10", vip.String(), uni.String())
	}
	nic := addr.MAC{0x00, 0x15, 0x5d, 0x10, 0x00, 0x01}
	hb := fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: mustNetip("172.31.10.11")}
	garp := fixtures.GratuitousARP(mcast, vip)
	frames := [][]byte{
		garp.Frame(nic, addr.Broadcast, 10), hb.Frame(nic, mcast, 10),
		garp.Frame(nic, addr.Broadcast, 200, 10), hb.Frame(nic, mcast, 200, 10),
		garp.Frame(nic, addr.Broadcast), hb.Frame(nic, mcast),
	}
	all := filepath.Join(t.TempDir(), "vlans.pcapng")
	watch := startWatch(t, probe, "-i", "eth0", "--json", "--interval", "0", "--write", all, "--write-all")
	sender.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{{Name: "vlans", Frames: frames, Rate: 60, Count: 60}}}).Wait(t)
	time.Sleep(200 * time.Millisecond)
	watch.interrupt(t)
	r := parseLabReport(t, watch.stdout.String())
	t.Logf("findings: %v", r.kinds())
	type place struct{ svlan, vlan uint16 }
	want := map[place]bool{{0, 10}: true, {200, 10}: true, {0, 0}: true}
	got := map[place]bool{}
	for _, c := range r.Clusters {
		if c.ClusterIP == vip.String() && c.Mode == "multicast" && len(c.Hosts) == 1 && c.Hosts[0].Heartbeats == 10 {
			got[place{c.SVLAN, c.VLAN}] = true
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("clusters in %v, want one in each of %v: %+v", got, want, r.Clusters)
	}
	for p := range want {
		found := false
		for _, b := range r.Bindings {
			found = found || (b.IP == vip.String() && b.MAC == mcast.String() && b.VLAN == p.vlan && b.SVLAN == p.svlan)
		}
		if !found {
			t.Errorf("no binding of %v in vlan %d.%d: %+v", vip, p.svlan, p.vlan, r.Bindings)
		}
	}
	if r.Stats.Frames != 60 || r.Stats.Protocols.VLANTagged != 40 {
		t.Errorf("%d frames, %d tagged; want 60, 40", r.Stats.Frames, r.Stats.Protocols.VLANTagged)
	}
	if stale := r.findings("stale-static-arp"); subif && (len(stale) != 1 || !strings.Contains(stale[0].Subject, "vlan 10") ||
		!strings.Contains(stale[0].Message, "dev eth0.10")) {
		t.Errorf("stale-static-arp for the VLAN 10 entry: %+v", stale)
	}
	// tshark names an 802.1ad S-tag ieee8021ad.id and a C-tag vlan.id.
	out, err := exec.Command("tshark", "-r", all, "-T", "fields", "-e", "frame.number", "-e", "ieee8021ad.id", "-e", "vlan.id").Output()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		_, tags, _ := strings.Cut(line, "\t")
		counts[strings.ReplaceAll(tags, "\t", "/")]++
	}
	if want := map[string]int{"/10": 20, "200/10": 20, "/": 20}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("tshark sees tags (S-tag/C-tag) %v in the file, want %v", counts, want)
	}
}

// TestWatchInterfaceDown: an interface that is down is refused with how to
// bring it up.
func TestWatchInterfaceDown(t *testing.T) {
	lab := netlab.New(t)
	a, b := lab.Namespace("a"), lab.Namespace("b")
	lab.Veth(a, "eth0", b, "eth0")
	out, err := a.Run(nlbprobeBinary(t), "watch", "-i", "eth0", "--duration", "1s")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitUsage || !strings.Contains(out, "eth0 is administratively down") ||
		!strings.Contains(out, "ip link set eth0 up") {
		t.Errorf("watch on a down interface: %v\n%s", err, out)
	}
}

// TestWatchKilledLeavesInterface: promiscuous mode is a membership of
// watch's socket, so even a watch killed with SIGKILL (no cleanup code
// runs) leaves the interface as it was.
func TestWatchKilledLeavesInterface(t *testing.T) {
	lab := netlab.New(t)
	a, b := lab.Namespace("a"), lab.Namespace("b")
	lab.Veth(a, "eth0", b, "eth0")
	a.Link("eth0", 0)
	b.Link("eth0", 0)
	before := promiscuity(t, a, "eth0")
	watch := startWatch(t, a, "-i", "eth0")
	if during := promiscuity(t, a, "eth0"); during != before+1 {
		t.Errorf("promiscuity %d during the watch, %d before", during, before)
	}
	_ = watch.cmd.Process.Kill()
	<-watch.done
	if after := promiscuity(t, a, "eth0"); after != before {
		t.Errorf("promiscuity %d after SIGKILL, %d before", after, before)
	}
}

// TestWatchWithoutPrivilege runs the binary as nobody: no AF_PACKET socket,
// and the message says which capability and how to grant it. With only
// CAP_NET_RAW it captures: promiscuous mode through the socket's
// membership needs nothing more.
func TestWatchWithoutPrivilege(t *testing.T) {
	netlab.RequireRoot(t)
	netlab.RequireTool(t, "setpriv")
	setpriv, _ := exec.LookPath("setpriv")
	bin := nlbprobeBinary(t)
	lab := netlab.New(t)
	a, b := lab.Namespace("a"), lab.Namespace("b")
	lab.Veth(a, "eth0", b, "eth0")
	a.Link("eth0", 0)
	b.Link("eth0", 0)
	run := func(caps ...string) (string, int) {
		args := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, caps...)
		args = append(args, bin, "watch", "-i", "eth0", "--duration", "500ms", "--json")
		out, err := a.Run(setpriv, args...)
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		return out, code
	}
	out, code := run("--inh-caps=-all")
	t.Logf("as nobody: exit %d: %s", code, out)
	if code != exitUsage || !strings.Contains(out, "needs CAP_NET_RAW") || !strings.Contains(out, "setcap cap_net_raw,cap_net_admin+ep") {
		t.Errorf("as nobody: exit %d, %q; want exit 2 naming CAP_NET_RAW and the setcap line", code, out)
	}
	out, code = run("--inh-caps=+net_raw", "--ambient-caps=+net_raw")
	t.Logf("as nobody with CAP_NET_RAW: exit %d: %.300s", code, out)
	if code != exitOK || !strings.Contains(out, `"tool": "nlbprobe"`) {
		t.Errorf("with CAP_NET_RAW: exit %d, want a report:\n%s", code, out)
	}
}

// scrape fetches the metrics page from inside ns.
func scrape(t *testing.T, ns *netlab.NS, hostport string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			return ns.DialContext(ctx, network, address)
		}}}
	resp, err := client.Get("http://" + hostport + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape metrics: %v %s", err, resp.Status)
	}
	return string(b)
}

// tsharkPacketIDs reads a pcapng with tshark and returns the packet IDs
// (nlbprobe frame numbers) of its frames.
func tsharkPacketIDs(t *testing.T, path string) map[uint64]bool {
	t.Helper()
	out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.packet_id").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", path, err)
	}
	ids := map[uint64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		n, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			t.Fatalf("tshark packet id %q", line)
		}
		ids[n] = true
	}
	return ids
}
