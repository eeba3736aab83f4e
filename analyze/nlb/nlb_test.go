package nlb_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/coverage"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/nlb"
)

var (
	cluster = netip.MustParseAddr("10.0.0.50")
	base    = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
)

// beat describes one heartbeat: from host prio with dedicated IP ded and
// source MAC src, to dst, at ms milliseconds, with port-rule codes.
type beat struct {
	ms    int64
	prio  uint32
	ded   string
	src   addr.MAC
	dst   addr.MAC
	rules []uint32
	cut   int // payload bytes captured; 0 = whole
	input int // the input (file) it came from
}

func (b beat) frame() *frame.Frame {
	h := &frame.Heartbeat{Kind: frame.HeartbeatMembership, Signature: frame.SignatureMembership,
		Captured: frame.MembershipLen, Version: 0x0206, HostID: b.prio, ClusterIP: cluster.As4(),
		NumPortRules: uint16(len(b.rules)), PortRulesCaptured: frame.MaxPortRules, ConvergenceState: 1}
	if b.ded != "" {
		h.DedicatedIP = netip.MustParseAddr(b.ded).As4()
	}
	copy(h.PortRules[:], b.rules)
	f := &frame.Frame{Kind: frame.KindHeartbeat, Src: b.src, Dst: b.dst, DstKnown: true, Heartbeat: h}
	if b.cut > 0 {
		h.Captured, h.Truncated, f.Status = b.cut, true, frame.Truncated
		h.PortRulesCaptured = max(0, min((b.cut-44)/4, frame.MaxPortRules))
		if b.cut < 16 {
			h.ClusterIP = [4]byte{}
		}
		if b.cut < 20 {
			h.DedicatedIP = [4]byte{}
		}
	}
	return f
}

func nic(n byte) addr.MAC { return addr.MAC{0x00, 0x15, 0x5d, 0, 0, n} }

var multicastMAC, _ = addr.ClusterMAC(addr.ModeMulticast, cluster)

// everySecond returns heartbeats of one host from second from to second to.
func everySecond(from, to int, b beat) []beat {
	var out []beat
	for s := from; s <= to; s++ {
		b.ms = int64(s) * 1000
		out = append(out, b)
	}
	return out
}

// feed runs the beats through a tracker, ticking every second as the
// engine does, and finishes at end seconds.
func feed(t *testing.T, beats []beat, endSec int) (*nlb.Tracker, *finding.Store) {
	t.Helper()
	return feedCovered(t, beats, endSec, nil)
}

// feedCovered is feed with the coverage of several inputs: spans are
// their first and last frame times in milliseconds, told to the coverage
// before the beats (as a reader ahead of the analysis may).
func feedCovered(t *testing.T, beats []beat, endSec int, spans [][2]int64) (*nlb.Tracker, *finding.Store) {
	t.Helper()
	store := finding.NewStore(100)
	var cov *coverage.Inputs
	if len(spans) > 1 {
		cov = coverage.New(make([]string, len(spans)))
		for i, sp := range spans {
			cov.Start(i, base.Add(time.Duration(sp[0])*time.Millisecond).UnixNano())
			cov.End(i, base.Add(time.Duration(sp[1])*time.Millisecond).UnixNano())
		}
	}
	tr := nlb.New(nlb.Config{Coverage: cov}, store)
	sortBeats(beats)
	sec := int64(-1)
	for i, b := range beats {
		now := base.Add(time.Duration(b.ms) * time.Millisecond).UnixNano()
		if s := b.ms / 1000; s != sec {
			sec = s
			tr.Tick(now)
		}
		tr.Observe(b.frame(), now, uint64(i+1), b.input)
	}
	end := base.Add(time.Duration(endSec) * time.Second).UnixNano()
	tr.Check(end)
	tr.Finish(end)
	return tr, store
}

func sortBeats(b []beat) {
	for i := 1; i < len(b); i++ {
		for j := i; j > 0 && b[j].ms < b[j-1].ms; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
}

func findingsOf(store *finding.Store, k finding.Kind) []finding.Finding {
	var out []finding.Finding
	for _, f := range store.Findings() {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}

func TestHealthyMulticastCluster(t *testing.T) {
	rules := []uint32{0x61019019, 0x61050050}
	beats := append(everySecond(0, 60, beat{prio: 1, ded: "10.0.0.1", src: nic(1), dst: multicastMAC, rules: rules}),
		everySecond(0, 60, beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC, rules: rules})...)
	tr, store := feed(t, beats, 60)
	if fs := store.Findings(); len(fs) != 0 {
		t.Fatalf("findings on a healthy cluster: %+v", fs)
	}
	c := tr.Cluster(0, cluster)
	if c == nil || c.Mode() != addr.ModeMulticast || len(c.Hosts) != 2 {
		t.Fatalf("cluster %+v", c)
	}
	for _, h := range c.Hosts {
		if h.Heartbeats != 61 || h.Period != int64(time.Second) || !h.DigestKnown || h.NumPortRules != 2 {
			t.Errorf("host %d: %d heartbeats, period %v, digest %v", h.Priority, h.Heartbeats, time.Duration(h.Period), h.DigestKnown)
		}
	}
}

func TestModeInference(t *testing.T) {
	igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, cluster)
	cases := []struct {
		name string
		b    beat
		want addr.Mode
	}{
		{"unicast: broadcast from a masked source", beat{prio: 3, ded: "10.0.0.3", src: addr.MaskedSource(3, cluster), dst: addr.Broadcast}, addr.ModeUnicast},
		{"multicast: to 03:bf", beat{prio: 3, ded: "10.0.0.3", src: nic(3), dst: multicastMAC}, addr.ModeMulticast},
		{"igmp: to 01:00:5e:7f", beat{prio: 3, ded: "10.0.0.3", src: nic(3), dst: igmpMAC}, addr.ModeIGMP},
		{"unknown destination", beat{prio: 3, ded: "10.0.0.3", src: nic(3), dst: nic(9)}, addr.ModeUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, _ := feed(t, []beat{c.b}, 1)
			if got := tr.Cluster(0, cluster).Mode(); got != c.want {
				t.Fatalf("mode %v, want %v", got, c.want)
			}
		})
	}
}

// TestClusterFromMaskedSource: a heartbeat cut to 6 bytes (as in tcpdump's
// msnlb2.pcapng) still names its cluster and host through the masked
// source MAC of unicast mode.
func TestClusterFromMaskedSource(t *testing.T) {
	tr, _ := feed(t, []beat{{prio: 2, src: addr.MaskedSource(2, cluster), dst: addr.Broadcast, cut: 6}}, 1)
	c := tr.Cluster(0, cluster)
	if c == nil || len(c.Hosts) != 1 {
		t.Fatalf("cluster %+v", c)
	}
	h := c.Hosts[0]
	if h.Priority != 2 || !h.FromMAC || h.Dedicated.IsValid() || h.MinCaptured != 6 || h.StateKnown {
		t.Fatalf("host %+v", h)
	}
}

func TestHeartbeatGap(t *testing.T) {
	rules := []uint32{1}
	one := beat{prio: 1, ded: "10.0.0.1", src: nic(1), dst: multicastMAC, rules: rules}
	two := beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC, rules: rules}
	t.Run("silence then return", func(t *testing.T) {
		beats := append(everySecond(0, 60, one), everySecond(0, 20, two)...)
		beats = append(beats, everySecond(41, 60, two)...)
		_, store := feed(t, beats, 60)
		gaps := findingsOf(store, finding.HeartbeatGap)
		if len(gaps) != 1 {
			t.Fatalf("%d gap findings: %+v", len(gaps), gaps)
		}
		g := gaps[0]
		if !g.Start.Equal(base.Add(20*time.Second)) || !g.End.Equal(base.Add(41*time.Second)) || g.Severity != finding.Warning {
			t.Errorf("gap %v to %v severity %v", g.Start, g.End, g.Severity)
		}
		if !strings.Contains(g.Message, "21s") || !strings.Contains(g.Message, "host 2") {
			t.Errorf("message %q", g.Message)
		}
	})
	t.Run("left and never came back", func(t *testing.T) {
		beats := append(everySecond(0, 60, one), everySecond(0, 30, two)...)
		_, store := feed(t, beats, 60)
		gaps := findingsOf(store, finding.HeartbeatGap)
		if len(gaps) != 1 || gaps[0].Severity != finding.Error || !gaps[0].End.IsZero() ||
			!strings.Contains(gaps[0].Message, "not heard again") {
			t.Fatalf("gaps %+v", gaps)
		}
	})
	t.Run("four missed heartbeats are within tolerance", func(t *testing.T) {
		beats := append(everySecond(0, 10, two), everySecond(15, 30, two)...)
		_, store := feed(t, beats, 30)
		if gaps := findingsOf(store, finding.HeartbeatGap); len(gaps) != 0 {
			t.Fatalf("gap within tolerance reported: %+v", gaps)
		}
	})
	t.Run("capture ending soon after the last heartbeat", func(t *testing.T) {
		_, store := feed(t, everySecond(0, 10, two), 13)
		if gaps := findingsOf(store, finding.HeartbeatGap); len(gaps) != 0 {
			t.Fatalf("end of capture taken for a gap: %+v", gaps)
		}
	})
}

// TestMigration: a host silent while it migrates, then back from a new NIC
// MAC with the same priority and dedicated IP, is one host with a gap.
func TestMigration(t *testing.T) {
	old := beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC}
	moved := old
	moved.src = nic(0x22)
	beats := append(everySecond(0, 20, old), everySecond(40, 60, moved)...)
	beats = append(beats, everySecond(0, 60, beat{prio: 1, ded: "10.0.0.1", src: nic(1), dst: multicastMAC})...)
	tr, store := feed(t, beats, 60)
	c := tr.Cluster(0, cluster)
	if len(c.Hosts) != 2 {
		t.Fatalf("%d hosts", len(c.Hosts))
	}
	var h nlb.Host
	for _, x := range c.Hosts {
		if x.Priority == 2 {
			h = x
		}
	}
	if h.NumMACs != 2 || h.MAC != nic(0x22) || h.Gaps != 1 {
		t.Fatalf("host %+v", h)
	}
	if len(findingsOf(store, finding.HeartbeatGap)) != 1 || len(findingsOf(store, finding.DuplicateHostPriority)) != 0 {
		t.Fatalf("findings %+v", store.Findings())
	}
}

func TestHostComparisons(t *testing.T) {
	cases := []struct {
		name  string
		beats []beat
		want  finding.Kind
		none  bool
	}{
		{name: "duplicate priority", want: finding.DuplicateHostPriority, beats: append(
			everySecond(0, 10, beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC}),
			everySecond(0, 10, beat{prio: 2, ded: "10.0.0.9", src: nic(9), dst: multicastMAC})...)},
		{name: "same priority at different times is a re-IP", want: finding.DuplicateHostPriority, none: true, beats: append(
			everySecond(0, 10, beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC}),
			everySecond(20, 30, beat{prio: 2, ded: "10.0.0.9", src: nic(9), dst: multicastMAC})...)},
		{name: "port rule codes differ", want: finding.PortRuleMismatch, beats: append(
			everySecond(0, 10, beat{prio: 1, ded: "10.0.0.1", src: nic(1), dst: multicastMAC, rules: []uint32{1, 2}}),
			everySecond(0, 10, beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC, rules: []uint32{1, 3}})...)},
		{name: "port rule counts differ, codes cut", want: finding.PortRuleMismatch, beats: append(
			everySecond(0, 10, beat{prio: 1, ded: "10.0.0.1", src: nic(1), dst: multicastMAC, rules: []uint32{1, 2}, cut: 40}),
			everySecond(0, 10, beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC, rules: []uint32{1}, cut: 40})...)},
		{name: "same rules", want: finding.PortRuleMismatch, none: true, beats: append(
			everySecond(0, 10, beat{prio: 1, ded: "10.0.0.1", src: nic(1), dst: multicastMAC, rules: []uint32{1, 2}}),
			everySecond(0, 10, beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC, rules: []uint32{1, 2}})...)},
		{name: "mixed modes", want: finding.NLBMixedModes, beats: append(
			everySecond(0, 10, beat{prio: 1, ded: "10.0.0.1", src: addr.MaskedSource(1, cluster), dst: addr.Broadcast}),
			everySecond(0, 10, beat{prio: 2, ded: "10.0.0.2", src: nic(2), dst: multicastMAC})...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, store := feed(t, c.beats, 10)
			got := findingsOf(store, c.want)
			if c.none {
				if len(got) != 0 {
					t.Fatalf("unexpected %s: %s", c.want, got[0].Message)
				}
				return
			}
			if len(got) != 1 || got[0].Severity != finding.Error || len(got[0].Evidence) == 0 {
				t.Fatalf("%s findings: %+v", c.want, got)
			}
		})
	}
}

func TestObserveAllocs(t *testing.T) {
	store := finding.NewStore(100)
	tr := nlb.New(nlb.Config{}, store)
	f := beat{prio: 1, ded: "10.0.0.1", src: nic(1), dst: multicastMAC, rules: []uint32{1, 2, 3}}.frame()
	now := base.UnixNano()
	tr.Observe(f, now, 1, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		now += int64(time.Second)
		tr.Observe(f, now, 2, 0)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocs per heartbeat", allocs)
	}
}

// TestGapsWithSeveralInputs: with several inputs, a host's silence is a
// gap only while an input that can hear it was capturing: one that
// carried its heartbeats, or one that carried its cluster's and began
// after its last (the next rotated file), not one that carried the
// cluster's while the host was heard elsewhere (a span of one host's
// port, which never hears the others).
func TestGapsWithSeveralInputs(t *testing.T) {
	host := func(prio uint32, input int) beat {
		return beat{prio: prio, ded: fmt.Sprintf("10.0.0.%d", prio), src: nic(byte(prio)), dst: multicastMAC, input: input}
	}
	// at builds the heartbeats of a host every second of [from, to] that
	// no hole covers.
	at := func(b beat, from, to int, holes ...[2]int) []beat {
		var out []beat
		for _, hb := range everySecond(from, to, b) {
			in := false
			for _, h := range holes {
				in = in || hb.ms >= int64(h[0])*1000 && hb.ms <= int64(h[1])*1000
			}
			if !in {
				out = append(out, hb)
			}
		}
		return out
	}
	type want struct {
		prio uint32
		sev  finding.Severity
	}
	for _, tt := range []struct {
		name  string
		spans [][2]int64 // ms
		beats [][]beat
		end   int
		gaps  []want
	}{
		{"a host heard only in the input that ended", [][2]int64{{0, 20_000}, {0, 60_000}},
			[][]beat{at(host(1, 0), 0, 20), at(host(2, 1), 0, 60)}, 60, nil},
		{"it stops while its input captures", [][2]int64{{0, 20_000}, {0, 60_000}},
			[][]beat{at(host(1, 0), 0, 10), at(host(2, 1), 0, 60)}, 60, []want{{1, finding.Error}}},
		{"an input that hears only another host of the cluster", [][2]int64{{0, 20_000}, {0, 60_000}},
			[][]beat{at(host(1, 0), 0, 20), at(host(2, 0), 0, 20), at(host(2, 1), 0, 60)}, 60, nil},
		{"the next rotated file hears the cluster, not the host", [][2]int64{{0, 30_000}, {30_500, 60_000}},
			[][]beat{at(host(1, 0), 0, 29), at(host(2, 0), 0, 30), at(host(2, 1), 31, 60)}, 60, []want{{1, finding.Error}}},
		{"rotated files with a pause", [][2]int64{{0, 30_000}, {100_000, 130_000}},
			[][]beat{at(host(1, 0), 0, 30), at(host(1, 1), 100, 130), at(host(2, 0), 0, 30), at(host(2, 1), 100, 130)}, 130, nil},
		{"a gap inside an input", [][2]int64{{0, 60_000}, {0, 20_000}},
			[][]beat{at(host(1, 0), 0, 60, [2]int{30, 40}), at(host(2, 1), 0, 20)}, 60, []want{{1, finding.Warning}}},
		{"a gap that runs into a pause", [][2]int64{{0, 30_000}, {100_000, 130_000}},
			[][]beat{at(host(1, 0), 0, 20), at(host(1, 1), 100, 130)}, 130, []want{{1, finding.Warning}}},
		{"a gap shorter than the tolerance before a pause", [][2]int64{{0, 30_000}, {100_000, 130_000}},
			[][]beat{at(host(1, 0), 0, 27), at(host(1, 1), 100, 130)}, 130, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var beats []beat
			for _, b := range tt.beats {
				beats = append(beats, b...)
			}
			_, store := feedCovered(t, beats, tt.end, tt.spans)
			var got []want
			for _, f := range findingsOf(store, finding.HeartbeatGap) {
				var prio uint32
				fmt.Sscanf(f.Subject[strings.LastIndex(f.Subject, " ")+1:], "%d", &prio)
				got = append(got, want{prio, f.Severity})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.gaps) {
				t.Errorf("gaps %v, want %v:\n%+v", got, tt.gaps, findingsOf(store, finding.HeartbeatGap))
			}
		})
	}
}
