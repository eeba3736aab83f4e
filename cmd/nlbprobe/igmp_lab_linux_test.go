//go:build linux

package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// TestWatchIGMPJoinAfterHeartbeats is the fleet lab's false finding in a
// real kernel: IGMP-mode nodes start heartbeating and their kernels send
// the join reports 2 s later, with a querier asking throughout. A probe
// that sees every frame (snooping off, a span for nlbprobe's purposes)
// must not stream multicast-flooding for those 2 s (the hosts are not
// known to be missing until a query goes unanswered), and its final report
// must agree with the IGMP state: both hosts members, the verdict
// targeted-if-mac-group, no flooding or member-missing finding.
func TestWatchIGMPJoinAfterHeartbeats(t *testing.T) {
	l := newNLBLab(t, labOptions{mode: addr.ModeIGMP})
	// A querier (the router, here the client's namespace): general
	// queries every 2 s with a 2 s response time, which the nodes'
	// kernels answer.
	query := fixtures.IGMPv2Query(netip.Addr{}, 20).Frame(addr.MAC{0x00, 0x15, 0x5d, 0x03, 0x00, 0x50}, netip.MustParseAddr(labClient))
	querier := l.client.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{
		{Name: "querier", Frames: [][]byte{query}, Rate: 0.5, Duration: time.Minute}}})
	watch := startWatch(t, l.probe, "-i", "eth0", "--vantage", "span", "--json-stream", "--interval", "1s")
	var nodes [2]*netlab.TrafficRun
	for i, n := range l.nodes {
		nodes[i] = n.ns.StartTraffic(l.nodeTraffic(n, n.mac))
	}
	time.Sleep(2 * time.Second)
	for _, n := range l.nodes {
		n.join()
	}
	// Past the response time (12 s) of queries sent after the first
	// heartbeats, with snapshots every second.
	time.Sleep(16 * time.Second)
	for _, n := range nodes {
		n.Stop(t)
	}
	querier.Stop(t)
	watch.interrupt(t)

	lines := strings.Split(strings.TrimSpace(watch.stdout.String()), "\n")
	var report string
	for _, line := range lines {
		var obj struct {
			Type     string `json:"type"`
			Event    string `json:"event"`
			Kind     string `json:"kind"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
		}
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("--json-stream line is not JSON: %q", line)
		}
		switch {
		case obj.Type == "report":
			report = line
		case obj.Type == "finding" && (obj.Kind == "multicast-flooding" || obj.Kind == "igmp-member-missing" && obj.Severity != "info"):
			t.Errorf("streamed %s %s (%s): %s", obj.Event, obj.Kind, obj.Severity, obj.Message)
		}
	}
	if report == "" {
		t.Fatalf("no report line in the stream:\n%s", watch.stdout.String())
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(report), &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "type") // the report line is the report plus its type
	raw, _ := json.Marshal(doc)
	r := parseLabReport(t, string(raw))
	t.Logf("findings: %v", r.kinds())
	checkIGMPCluster(t, r, l, true)
	if len(r.Queriers) == 0 {
		t.Errorf("no querier in the report")
	}
	f, ok := r.flood(l.clusterMAC.String())
	if !ok || f.Verdict != "targeted-if-mac-group" {
		t.Errorf("flood entry %+v, want the verdict targeted-if-mac-group", f)
	}
	for _, kind := range []string{"multicast-flooding", "igmp-member-missing", "igmp-no-querier"} {
		if fs := r.findings(kind); len(fs) > 0 {
			t.Errorf("%s in the final report: %+v", kind, fs)
		}
	}
}
