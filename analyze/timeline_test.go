package analyze_test

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
)

func scenarioFile(t *testing.T, name string, opts analyze.Options) *analyze.Report {
	t.Helper()
	return analyzeRecords(testcapture.MustRead(t, filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures", name)), opts)
}

func sumOf(c []uint32) (n uint64) {
	for _, v := range c {
		n += uint64(v)
	}
	return n
}

// TestTimelineHistories checks the histories the report carries for the
// HTML page against what the scenarios built: host 2 of the migration goes
// silent for 21 s and comes back from a new MAC, 10.50.0.12's binding moves
// once; every heartbeat and every frame to the cluster MAC is in a bucket.
func TestTimelineHistories(t *testing.T) {
	r := scenarioFile(t, "migration.pcap", analyze.Options{})
	if r.Timeline.Bucket != time.Second || r.Timeline.Buckets != 60 || !r.Timeline.Start.Equal(r.Capture.Start.Truncate(time.Second)) {
		t.Fatalf("axis %+v for a capture of %+v", r.Timeline, r.Capture)
	}
	c := r.Clusters[0]
	for _, h := range c.Hosts {
		if got := sumOf(h.Activity); got != h.Heartbeats || len(h.Activity) != r.Timeline.Buckets {
			t.Errorf("host %d: %d heartbeats in %d buckets, want %d in %d", h.Priority, got, len(h.Activity), h.Heartbeats, r.Timeline.Buckets)
		}
	}
	h2 := c.Hosts[1]
	var gaps, macs int
	for _, ev := range h2.Events {
		switch ev.Kind {
		case analyze.HostGap:
			gaps++
			if d := ev.End.Sub(ev.Start); d < 20*time.Second || d > 22*time.Second {
				t.Errorf("host 2's gap lasts %v, want 21 s", d)
			}
			// No heartbeat in the buckets wholly inside the gap.
			from := int(ev.Start.Sub(r.Timeline.Start)/time.Second) + 1
			to := int(ev.End.Sub(r.Timeline.Start) / time.Second)
			if got := sumOf(h2.Activity[from:to]); got != 0 {
				t.Errorf("%d heartbeats counted inside the gap", got)
			}
		case analyze.HostMACChange:
			macs++
			if ev.FromMAC.String() != "00:15:5d:32:00:12" || ev.ToMAC.String() != "00:15:5d:33:00:12" {
				t.Errorf("host 2's MAC change %v -> %v", ev.FromMAC, ev.ToMAC)
			}
		}
	}
	if gaps != 1 || macs != 1 || len(c.Hosts[0].Events) != 0 {
		t.Errorf("host 2: %d gaps, %d MAC changes; host 1: %d events", gaps, macs, len(c.Hosts[0].Events))
	}
	for _, b := range r.Bindings {
		want := 0
		if b.IP == netip.MustParseAddr("10.50.0.12") {
			want = 1
		}
		if len(b.History) != want || int(b.Changes) != want {
			t.Errorf("binding of %v: history %v, %d changes", b.IP, b.History, b.Changes)
		}
	}
	if f := r.Flood[0]; sumOf(f.Activity) != f.Frames {
		t.Errorf("%d frames to %v in its buckets, want %d", sumOf(f.Activity), f.MAC, f.Frames)
	}

	// IGMP: the member's join, the querier's queries.
	r = scenarioFile(t, "igmp-member-missing.pcap", analyze.Options{})
	for _, g := range r.IGMPGroups {
		for _, m := range g.Members {
			if len(m.History) != 1 || !m.History[0].Join || !m.History[0].Time.Equal(m.FirstSeen) {
				t.Errorf("member %v of %v: history %+v", m.IP, g.Group, m.History)
			}
		}
	}
	for _, q := range r.Queriers {
		if sumOf(q.Activity) != q.Queries {
			t.Errorf("querier %v: %d queries in its buckets, want %d", q.IP, sumOf(q.Activity), q.Queries)
		}
	}

	// A status snapshot carries no histories.
	e := analyze.New(analyze.Options{})
	for i, rec := range testcapture.MustRead(t, filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures", "migration.pcap")) {
		e.Packet(rec.Data, analyze.Meta{Frame: uint64(i + 1), Time: rec.Time, Length: rec.WireLen, LinkType: rec.LinkType})
	}
	if s := e.Snapshot(); s.Clusters[0].Hosts[0].Activity != nil || s.Timeline.Buckets != 0 {
		t.Error("a snapshot carries histories")
	}
}
