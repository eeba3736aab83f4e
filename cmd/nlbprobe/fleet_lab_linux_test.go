//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// The fleet lab (issue 19): the real servers. An NLB lab (a Linux bridge,
// two IGMP-mode nodes, a querier) with a probe host whose two NICs are on
// two bridge ports: watch A on a nonmember port the switch keeps multicast
// from, watch B on an ordinary port that sees the cluster. A real
// Prometheus (Debian's /usr/bin/prometheus) runs in the probe host's
// namespace, listening on that namespace's loopback only, scrapes both
// every second and evaluates the shipped rules, from a copy whose `for:`
// durations and range windows are shortened so the lab takes about a
// minute instead of an hour. The lab breaks things, asserts through
// Prometheus' HTTP API that the matching alerts go pending, then firing,
// fixes them and asserts the alerts resolve.

const (
	fleetProbeA    = "127.0.0.1:9716" // watch on the nonmember port
	fleetProbeB    = "127.0.0.1:9717" // watch on the ordinary port
	fleetProbeMTU  = "127.0.0.1:9718" // mtu --every towards the server
	fleetPromAddr  = "127.0.0.1:9090"
	fleetMTUTarget = "10.0.2.2"
	fleetLabFor    = "3s" // every `for:` in the lab's copy of the rules
	fleetLabWindow = "5s" // every range window in it
)

// fleetLabAlert is an alert the lab expects: its name and the labels that
// say it is about the right thing.
type fleetLabAlert struct {
	name   string
	labels map[string]string
	// text holds words its description must render.
	text []string
}

func (a fleetLabAlert) String() string {
	keys := slices.Sorted(maps.Keys(a.labels))
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+a.labels[k])
	}
	return a.name + "{" + strings.Join(parts, ",") + "}"
}

var (
	fleetOldMAC, _  = addr.ClusterMAC(addr.ModeMulticast, netip.MustParseAddr(labVIP))
	fleetIGMPMAC, _ = addr.ClusterMAC(addr.ModeIGMP, netip.MustParseAddr(labVIP))
)

// fleetLabFaults are the faults the lab makes at once, and the alerts each
// must raise.
var fleetLabFaults = []fleetLabAlert{
	// Node 2's heartbeats stop.
	{name: "NLBHostSilent", labels: map[string]string{"instance": fleetProbeB, "cluster": labVIP, "host": "2"},
		text: []string{"Host 2", labVIP, "nlb.exe query"}},
	{name: "NLBClusterHostsBelowPeak", labels: map[string]string{"instance": fleetProbeB, "cluster": labVIP},
		text: []string{labVIP, "down to 1 heartbeating host"}},
	// The switch floods the cluster's multicast to probe A's port.
	{name: "NLBClusterMACFlooding", labels: map[string]string{"instance": fleetProbeA, "mac": fleetIGMPMAC.String(), "cluster": labVIP},
		text: []string{fleetIGMPMAC.String(), labVIP, "mac address-table static"}},
	// A static ARP entry left from multicast mode on probe B's NIC.
	{name: "NLBStaticARPStale", labels: map[string]string{"instance": fleetProbeB, "ip": labVIP, "mac": fleetOldMAC.String(), "interface": "eth1"},
		text: []string{"ip neigh replace " + labVIP}},
	// The router's link to the server drops to 1400 and its ICMP
	// "fragmentation needed" is filtered.
	{name: "NLBPathMTUBlackhole", labels: map[string]string{"instance": fleetProbeMTU, "job": "nlbprobe-mtu", "target": fleetMTUTarget},
		text: []string{"nlbprobe mtu " + fleetMTUTarget}},
	{name: "NLBPathMTUBelowExpected", labels: map[string]string{"instance": fleetProbeMTU, "target": fleetMTUTarget, "address": fleetMTUTarget},
		text: []string{"is 1400 bytes, less than the 1500 bytes the sweep expects"}},
}

// fleetLabProbeDown is the last fault: probe A stops.
var fleetLabProbeDown = fleetLabAlert{name: "NLBProbeDown", labels: map[string]string{"instance": fleetProbeA, "job": "nlbprobe-watch"},
	text: []string{fleetProbeA}}

// TestFleetLabAlertsListed: the alerts this lab asserts are the ones
// TestFleetRulesCovered counts as proven end to end.
func TestFleetLabAlertsListed(t *testing.T) {
	var names []string
	for _, a := range append(slices.Clone(fleetLabFaults), fleetLabProbeDown) {
		if !slices.Contains(names, a.name) {
			names = append(names, a.name)
		}
	}
	sort.Strings(names)
	listed := slices.Sorted(slices.Values(fleetLabAlerts))
	if !slices.Equal(names, listed) {
		t.Errorf("the lab asserts %v, fleetLabAlerts lists %v", names, listed)
	}
}

func TestFleetLab(t *testing.T) {
	netlab.RequireTool(t, "prometheus")
	netlab.RequireTool(t, "promtool")
	netlab.RequireTool(t, "nft")
	started := time.Now()
	l := newNLBLab(t, labOptions{mode: addr.ModeIGMP})
	// The probe host's second NIC, on an ordinary port of the switch.
	l.lab.Veth(l.probe, "eth1", l.sw, "p-probe2")
	l.sw.MustRun("ip", "link", "set", "p-probe2", "master", "br0")
	l.sw.Link("p-probe2", 0)
	l.probe.Link("eth1", 0)
	// Probe A's port gets no unknown multicast (the seed setup's static
	// group keeps the cluster's frames to the nodes' ports).
	l.sw.BridgePort("p-probe", "mcast_flood", "off")
	// The probe host's third NIC, on a routed path to a server (a
	// migration network): probe up0 - router - server, 1500 all along.
	router, server := l.lab.Namespace("router"), l.lab.Namespace("server")
	l.lab.Veth(l.probe, "up0", router, "eth0")
	l.lab.Veth(router, "eth1", server, "eth0")
	l.probe.Link("up0", 1500, "10.0.1.1/24")
	router.Link("eth0", 1500, "10.0.1.2/24")
	router.Link("eth1", 1500, "10.0.2.1/24")
	server.Link("eth0", 1500, fleetMTUTarget+"/24")
	router.Sysctl("net.ipv4.ip_forward", "1")
	l.probe.Route("10.0.0.0/8", "10.0.1.2")
	server.Route("default", "10.0.2.1")

	// A querier (the router, here the client's namespace): general queries
	// every 2 s with a 2 s response time, which the nodes' kernels answer.
	query := fixtures.IGMPv2Query(netip.Addr{}, 20).Frame(addr.MAC{0x00, 0x15, 0x5d, 0x03, 0x00, 0x50}, netip.MustParseAddr(labClient))
	l.client.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{
		{Name: "querier", Frames: [][]byte{query}, Rate: 0.5, Duration: 3 * time.Minute}}})

	probeArgs := func(iface, vantage, listen string) []string {
		return []string{"-i", iface, "--vantage", vantage, "--metrics-listen", listen, "--neigh-every", "1s", "--interval", "0"}
	}
	probeA := startWatch(t, l.probe, probeArgs("eth0", "nonmember", fleetProbeA)...)
	startWatch(t, l.probe, probeArgs("eth1", "span", fleetProbeB)...)
	// A sweep every 2 s, short timeouts so that a black hole's silent
	// sizes do not stretch it.
	startProc(t, l.probe, "Prometheus metrics at", nlbprobeBinary(t), "mtu", fleetMTUTarget, "--every", "2s", "--expect", "1500",
		"--timeout", "300ms", "--retries", "1", "--metrics-listen", fleetProbeMTU)
	// The README's configuration, with the lab's targets, intervals and
	// copy of the rules.
	prom := startPrometheus(t, l.probe, fleetScrapeConfig(t, fleetLabRules(t),
		map[string][]string{"nlbprobe-watch": {fleetProbeA, fleetProbeB}, "nlbprobe-mtu": {fleetProbeMTU}}, time.Second))
	// The nodes join first and answer a query or two before they
	// heartbeat: B's verdict on the cluster MAC needs every host's report
	// and the querier. (A heartbeat ahead of its host's join report is
	// not judged until a query goes unanswered: the verdict is unknown,
	// never flooding, meanwhile; TestWatchIGMPJoinAfterHeartbeats.)
	for _, n := range l.nodes {
		n.join()
	}
	time.Sleep(4 * time.Second)
	var nodes [2]*netlab.TrafficRun
	for i, n := range l.nodes {
		nodes[i] = n.ns.StartTraffic(l.nodeTraffic(n, n.mac))
	}
	t.Logf("lab, probes and Prometheus up after %s", time.Since(started).Round(100*time.Millisecond))

	// Healthy: B sees both hosts, and nothing fires or is pending.
	prom.waitQuery(t, `nlbprobe_cluster_hosts{instance="`+fleetProbeB+`"} == 2 and nlbprobe_cluster_hosts_max == 2`, 30*time.Second)
	prom.waitQuery(t, `sum(up{job="nlbprobe-watch"}) == 2`, 10*time.Second)
	prom.waitQuery(t, `nlbprobe_path_mtu_bytes{target="`+fleetMTUTarget+`"} == 1500`, 30*time.Second)
	prom.requireQuiet(t, 4*time.Second)
	// The dashboard's expressions on the real server: each evaluates
	// (get fails the test on an error), most return data.
	var empty []string
	exprs := readDashboard(t)
	for _, e := range exprs {
		var data struct {
			Result []json.RawMessage `json:"result"`
		}
		prom.get(t, "/api/v1/query?query="+url.QueryEscape(e.expr), &data)
		if len(data.Result) == 0 {
			empty = append(empty, e.where)
		}
	}
	t.Logf("dashboard: %d of %d expressions return data from the healthy lab (none: %v)", len(exprs)-len(empty), len(exprs), empty)
	healthy := time.Now()

	// Break: node 2 stops, the switch floods probe A's port, a stale
	// static entry appears on the probe host, the path to the server
	// narrows to 1400 with its ICMP filtered (a black hole).
	nodes[1].Stop(t)
	l.sw.BridgePort("p-probe", "mcast_flood", "on")
	l.probe.StaticNeighbour("eth1", labVIP, fleetOldMAC.String())
	router.Link("eth1", 1400)
	server.Link("eth0", 1400)
	router.MustRun("nft", "add", "table", "inet", "fleetlab")
	router.MustRun("nft", "add", "chain", "inet", "fleetlab", "out", "{ type filter hook output priority 0 ; }")
	router.MustRun("nft", "add", "rule", "inet", "fleetlab", "out", "icmp", "type", "destination-unreachable", "icmp", "code", "frag-needed", "drop")
	prom.waitFiring(t, fleetLabFaults, 60*time.Second)
	firing := time.Now()
	t.Logf("faults made: every alert pending, then firing after %s", firing.Sub(healthy).Round(100*time.Millisecond))

	// Fix: node 2 heartbeats again, the port is kept from multicast again,
	// the entry is replaced with the MAC the wire uses.
	l.nodes[1].ns.StartTraffic(l.nodeTraffic(l.nodes[1], l.nodes[1].mac))
	l.sw.BridgePort("p-probe", "mcast_flood", "off")
	l.probe.StaticNeighbour("eth1", labVIP, fleetIGMPMAC.String())
	router.MustRun("nft", "delete", "table", "inet", "fleetlab")
	router.Link("eth1", 1500)
	server.Link("eth0", 1500)
	prom.waitResolved(t, 60*time.Second)
	resolved := time.Now()
	t.Logf("faults fixed: every alert resolved after %s", resolved.Sub(firing).Round(100*time.Millisecond))

	// Prometheus' linter on live scrapes of both probes.
	for _, p := range []string{fleetProbeA, fleetProbeB, fleetProbeMTU} {
		promtoolCheckMetrics(t, scrape(t, l.probe, p))
	}

	// Probe A stops; it comes back.
	probeA.interrupt(t)
	prom.waitFiring(t, []fleetLabAlert{fleetLabProbeDown}, 30*time.Second)
	startWatch(t, l.probe, probeArgs("eth0", "nonmember", fleetProbeA)...)
	prom.waitResolved(t, 30*time.Second)
	t.Logf("probe down and back: %s; the whole lab took %s", time.Since(resolved).Round(100*time.Millisecond),
		time.Since(started).Round(100*time.Millisecond))
}

// fleetLabRules writes the lab's copy of the shipped rules: every `for:`
// set to fleetLabFor and every range window to fleetLabWindow, so that the
// lab waits seconds where a real deployment waits minutes. Nothing else
// changes.
func fleetLabRules(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(fleetRules)
	if err != nil {
		t.Fatal(err)
	}
	fors := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+`)
	windows := regexp.MustCompile(`\[\d+[smhdwy]\]`)
	if len(fors.FindAll(b, -1)) == 0 || len(windows.FindAll(b, -1)) == 0 {
		t.Fatalf("no for: or range window to shorten in %s", fleetRules)
	}
	b = fors.ReplaceAll(b, []byte("${1}"+fleetLabFor))
	b = windows.ReplaceAll(b, []byte("["+fleetLabWindow+"]"))
	path := filepath.Join(t.TempDir(), "nlbprobe.rules.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, ".", "check", "rules", path); err != nil {
		t.Fatalf("the lab's copy of the rules: %v\n%s", err, out)
	}
	return path
}

// promServer is a Prometheus server the test runs.
type promServer struct {
	proc   *labProc
	client *http.Client
}

// startPrometheus runs Prometheus in ns with the configuration cfg,
// listening on the namespace's loopback only, with storage in a temporary
// directory. It is stopped (and its storage removed) when the test ends,
// also on failure.
func startPrometheus(t *testing.T, ns *netlab.NS, cfg []byte) *promServer {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(dir, "data")
	p := &promServer{
		proc: startProc(t, ns, "Server is ready to receive web requests", "prometheus",
			"--config.file="+config, "--storage.tsdb.path="+storage, "--web.listen-address="+fleetPromAddr),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
				return ns.DialContext(ctx, network, address)
			}}},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prometheus configuration:\n%s\nprometheus log:\n%s", cfg, tail(p.proc.stderr.String(), 3000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// get fetches an API path and decodes its data into v.
func (p *promServer) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := p.client.Get("http://" + fleetPromAddr + path)
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Status != "success" {
		t.Fatalf("prometheus %s: %s %v %s", path, resp.Status, err, b)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("prometheus %s: %v: %s", path, err, env.Data)
	}
}

// promAlert is one alert of /api/v1/alerts: pending or firing.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	Value       string            `json:"value"`
}

func (a promAlert) String() string {
	return fmt.Sprintf("%s %s %v", a.Labels["alertname"], a.State, a.Labels)
}

func (p *promServer) alerts(t *testing.T) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	p.get(t, "/api/v1/alerts", &data)
	return data.Alerts
}

func (w fleetLabAlert) matches(a promAlert) bool {
	if a.Labels["alertname"] != w.name {
		return false
	}
	for k, v := range w.labels {
		if a.Labels[k] != v {
			return false
		}
	}
	return true
}

// waitFiring polls the alerts until every one of want fires, and checks
// each was pending first (the rules' for:), that its text names what it is
// about, and that no other alert fired meanwhile (a pending one, which
// notifies nobody, is logged: on this shared machine a probe or a node can
// stall for a moment).
func (p *promServer) waitFiring(t *testing.T, want []fleetLabAlert, limit time.Duration) {
	t.Helper()
	seen := make([][]string, len(want)) // states in the order observed
	var others []string
	deadline := time.Now().Add(limit)
	for {
		alerts := p.alerts(t)
		done := true
		for i, w := range want {
			state := "inactive"
			for _, a := range alerts {
				if w.matches(a) {
					state = a.State
					if a.State == "firing" {
						desc := a.Annotations["description"]
						for _, word := range w.text {
							if !strings.Contains(desc, word) {
								t.Errorf("%s: the description does not say %q: %s", w, word, desc)
							}
						}
					}
				}
			}
			if n := len(seen[i]); state != "inactive" && (n == 0 || seen[i][n-1] != state) {
				seen[i] = append(seen[i], state)
			}
			done = done && state == "firing"
		}
		for _, a := range alerts {
			if slices.ContainsFunc(want, func(w fleetLabAlert) bool { return w.matches(a) }) {
				continue
			}
			if !slices.Contains(others, a.String()) {
				others = append(others, a.String())
				t.Logf("other alert %s, value %s", a, a.Value)
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all alerts fire after %s; want %v\nstates seen: %v\nalerts now: %v", limit, want, seen, alerts)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, w := range want {
		if seen[i][0] != "pending" {
			t.Errorf("%s: states %v, want pending first (for: %s)", w, seen[i], fleetLabFor)
		}
	}
	for _, o := range others {
		if strings.Contains(o, " firing ") {
			t.Errorf("another alert fired: %s", o)
		}
	}
}

// waitResolved polls until no alert is pending or firing.
func (p *promServer) waitResolved(t *testing.T, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		alerts := p.alerts(t)
		if len(alerts) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts still active after %s: %v", limit, alerts)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requireQuiet checks that no alert fires for d, longer than the lab's
// for:, so that a lasting condition would fire; a pending one is logged.
func (p *promServer) requireQuiet(t *testing.T, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		for _, a := range p.alerts(t) {
			if a.State == "firing" {
				t.Fatalf("alert firing in the healthy lab: %v", a)
			}
			t.Logf("healthy lab: alert %s, value %s", a, a.Value)
		}
	}
}

// waitQuery polls an instant query until it returns a result.
func (p *promServer) waitQuery(t *testing.T, query string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var data struct {
			Result []json.RawMessage `json:"result"`
		}
		p.get(t, "/api/v1/query?query="+url.QueryEscape(query), &data)
		if len(data.Result) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no result after %s; alerts: %v", query, limit, p.alerts(t))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
