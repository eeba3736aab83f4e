package analyze_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// The IGMP control-plane verdicts (igmp-member-missing, igmp-no-querier
// and the IGMP-mode multicast-flooding verdict) follow the control plane
// as it is: judged once the state is known, ended when it no longer holds,
// and never contradicting each other or the report's flood verdict. An
// igmpWorld builds the frames of a two-host IGMP-mode cluster, a querier
// and other stations with the fixtures' builders.
type igmpWorld struct {
	c     *fixtures.Capture
	vip   netip.Addr
	group netip.Addr
	hosts [2]struct {
		ip  netip.Addr
		nic addr.MAC
	}
}

var (
	igmpWorldQuerier    = netip.MustParseAddr("10.20.5.1")
	igmpWorldQuerierMAC = addr.MAC{0x00, 0x1b, 0x54, 0xc2, 0x05, 0x01}
)

func newIGMPWorld() *igmpWorld {
	w := &igmpWorld{c: fixtures.NewCapture(), vip: netip.MustParseAddr("10.20.5.232")}
	w.group = addr.IGMPGroup(w.vip)
	for i := range w.hosts {
		w.hosts[i].ip = netip.AddrFrom4([4]byte{10, 20, 5, byte(233 + i)})
		w.hosts[i].nic = addr.MAC{0x00, 0x15, 0x5d, 0x14, 0x05, byte(0xe9 + i)}
	}
	return w
}

// beat adds host h's heartbeats (h = 0, 1: priorities 1, 2), one a second
// from from (inclusive) to to (exclusive), at 0.1 s + h*0.5 s in the second.
func (w *igmpWorld) beat(h int, from, to time.Duration) {
	src, dst := fixtures.HeartbeatAddrs(addr.ModeIGMP, w.vip, uint8(h+1), w.hosts[h].nic)
	for s := from; s < to; s += time.Second {
		at := s + 100*time.Millisecond + time.Duration(h)*500*time.Millisecond
		w.c.Add(at, fixtures.Heartbeat{Priority: uint8(h + 1), Cluster: w.vip, Dedicated: w.hosts[h].ip, Convergence: 1}.Frame(src, dst))
	}
}

// report adds host h's report of the cluster's group: IGMPv2, or v3 (a
// TO_EX join or IS_EX answer).
func (w *igmpWorld) report(h int, at time.Duration, v3 bool) {
	m := fixtures.IGMPv2Report(w.group)
	if v3 {
		m = fixtures.IGMPv3Report(fixtures.GroupRecord{Type: fixtures.ModeIsExclude, Group: w.group})
	}
	w.c.Add(at, m.Frame(w.hosts[h].nic, w.hosts[h].ip))
}

// leave adds host h's IGMPv2 leave of the cluster's group.
func (w *igmpWorld) leave(h int, at time.Duration) {
	w.c.Add(at, fixtures.IGMPv2Leave(w.group).Frame(w.hosts[h].nic, w.hosts[h].ip))
}

// queries adds general queries (v2, or v3) from from every every until to,
// each followed 1 s later by the reports of answer (host indexes).
func (w *igmpWorld) queries(from, every, to time.Duration, v3 bool, answer ...int) {
	for q := from; q < to; q += every {
		m := fixtures.IGMPv2Query(netip.Addr{}, 100)
		if v3 {
			m = fixtures.IGMPv3Query(netip.Addr{}, 100)
		}
		w.c.Add(q, m.Frame(igmpWorldQuerierMAC, igmpWorldQuerier))
		for i, h := range answer {
			w.report(h, q+time.Second+time.Duration(i)*300*time.Millisecond, v3)
		}
	}
}

// otherReport adds an IGMPv2 report of another station for another group
// (as every Windows host sends for SSDP): a sign that reports reach the
// capture's port.
func (w *igmpWorld) otherReport(at time.Duration) {
	g := netip.MustParseAddr("239.1.2.3")
	w.c.Add(at, fixtures.IGMPv2Report(g).Frame(addr.MAC{0x00, 0x15, 0x5d, 0x99, 0, 1}, netip.MustParseAddr("10.20.5.99")))
}

// streamed is a finding as the watch stream got it.
type streamed struct {
	f     finding.Finding
	isNew bool
}

// run feeds the world to an engine with vantage v, taking a snapshot every
// second of capture time as watch does for its metrics, and returns the
// final report and every finding streamed.
func (w *igmpWorld) run(v analyze.Vantage) (*analyze.Report, []streamed) {
	var events []streamed
	e := analyze.New(analyze.Options{Vantage: v, OnFinding: func(f *finding.Finding, isNew bool) {
		events = append(events, streamed{f: *f, isNew: isNew})
	}})
	var sec time.Duration = -1
	for i, r := range w.c.Records() {
		if s := r.At.Truncate(time.Second); s != sec {
			if sec >= 0 {
				e.Snapshot()
			}
			sec = s
		}
		e.Packet(r.Frame, analyze.Meta{Frame: uint64(i + 1), Time: w.c.Start.Add(r.At), Length: len(r.Frame), LinkType: layers.LinkTypeEthernet})
	}
	return e.Finish(), events
}

// episode is a finding expected in the final report: its severity, its
// start and end as offsets into the capture (end 0: still open), and words
// its message must hold.
type episode struct {
	sev        finding.Severity
	start, end time.Duration
	words      []string
}

func (w *igmpWorld) offset(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return t.Sub(w.c.Start)
}

// checkEpisodes compares the final findings of kind about subject (a
// substring of the finding's subject) with want.
func (w *igmpWorld) checkEpisodes(t *testing.T, r *analyze.Report, kind finding.Kind, subject string, want []episode) {
	t.Helper()
	var got []finding.Finding
	for _, f := range r.Findings {
		if f.Kind == kind && strings.Contains(f.Subject, subject) {
			got = append(got, f)
		}
	}
	slices.SortFunc(got, func(a, b finding.Finding) int { return a.Start.Compare(b.Start) })
	if len(got) != len(want) {
		t.Errorf("%s %s: %d findings, want %d: %s", kind, subject, len(got), len(want), describe(w, got))
		return
	}
	for i, f := range got {
		x := want[i]
		if f.Severity != x.sev || w.offset(f.Start) != x.start || w.offset(f.End) != x.end {
			t.Errorf("%s %s #%d: %v from %v to %v, want %v from %v to %v: %s", kind, subject, i, f.Severity,
				w.offset(f.Start), w.offset(f.End), x.sev, x.start, x.end, f.Message)
		}
		for _, word := range x.words {
			if !strings.Contains(f.Message, word) {
				t.Errorf("%s %s #%d: message lacks %q: %s", kind, subject, i, word, f.Message)
			}
		}
	}
}

func describe(w *igmpWorld, fs []finding.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %v from %v to %v: %s", f.Severity, w.offset(f.Start), w.offset(f.End), f.Message)
	}
	return b.String()
}

// checkConsistent: the final report's flood verdict on the cluster MAC and
// its open multicast-flooding findings agree, and every finding streamed
// as a problem (warning or worse) of kind is either still in the report
// or ended there: a streamed finding is never silently dropped.
func (w *igmpWorld) checkConsistent(t *testing.T, r *analyze.Report, events []streamed, verdict string) {
	t.Helper()
	mac, _ := addr.ClusterMAC(addr.ModeIGMP, w.vip)
	var fl *analyze.Flood
	for i := range r.Flood {
		if r.Flood[i].MAC == mac {
			fl = &r.Flood[i]
		}
	}
	if fl == nil {
		t.Fatalf("no flood entry for %v", mac)
	}
	if fl.Verdict != verdict {
		t.Errorf("verdict %s (%s), want %s", fl.Verdict, fl.Reason, verdict)
	}
	open := 0
	for _, f := range r.Findings {
		if f.Kind == finding.MulticastFlooding && slices.Contains(f.MACs, mac) && f.End.IsZero() {
			open++
		}
	}
	if wantOpen := map[bool]int{true: 1, false: 0}[fl.Verdict == analyze.VerdictFlooding]; open != wantOpen {
		t.Errorf("verdict %s with %d open multicast-flooding findings, want %d", fl.Verdict, open, wantOpen)
	}
	for _, ev := range events {
		if ev.f.Severity < finding.Warning {
			continue
		}
		if !slices.ContainsFunc(r.Findings, func(f finding.Finding) bool {
			return f.Kind == ev.f.Kind && f.Subject == ev.f.Subject && f.Start.Equal(ev.f.Start)
		}) {
			t.Errorf("%s %s streamed (%v, start %v) is not in the final report", ev.f.Kind, ev.f.Subject, ev.f.Severity, w.offset(ev.f.Start))
		}
	}
}

// raised returns the findings of kind streamed as new.
func raised(events []streamed, kind finding.Kind) []finding.Finding {
	var out []finding.Finding
	for _, ev := range events {
		if ev.isNew && ev.f.Kind == kind {
			out = append(out, ev.f)
		}
	}
	return out
}

// TestIGMPVerdictsFollowControlPlane: on a span, IGMP-mode membership and
// querier verdicts wait until the state is known (a host reports when it
// joins and when asked), then hold as long as the state does and end with
// the time it held.
func TestIGMPVerdictsFollowControlPlane(t *testing.T) {
	const (
		host1 = "host 1"
		host2 = "host 2"
	)
	s := time.Second
	cases := []struct {
		name  string
		build func(w *igmpWorld)
		// verdict is the final flood verdict on the cluster MAC.
		verdict                string
		flooding, missing2, nq []episode
		// neverFlooding: no multicast-flooding was ever streamed.
		neverFlooding bool
	}{{
		// The fleet lab's false finding: heartbeats come first, each
		// host's join 2 s later, and a querier asks throughout.
		name: "heartbeats first, joins 2 s later, querier present",
		build: func(w *igmpWorld) {
			w.beat(0, 0, 90*s)
			w.beat(1, 0, 90*s)
			w.report(0, 2100*time.Millisecond, false)
			w.report(1, 2600*time.Millisecond, false)
			w.queries(500*time.Millisecond, 20*s, 90*s, false, 0, 1)
		},
		verdict: analyze.VerdictTargetedIfMACGroup, neverFlooding: true,
	}, {
		name: "host 2 joins 50 s late, after two queries it did not answer",
		build: func(w *igmpWorld) {
			w.beat(0, 0, 90*s)
			w.beat(1, 0, 90*s)
			w.report(0, 2100*time.Millisecond, false)
			w.queries(500*time.Millisecond, 20*s, 50*s, false, 0)
			w.report(1, 50*s, false)
			w.queries(60500*time.Millisecond, 20*s, 90*s, false, 0, 1)
		},
		verdict: analyze.VerdictTargetedIfMACGroup,
		// Host 2 was missing from its first heartbeat (0.6 s) until its
		// report at 50 s; so was the flooding.
		flooding: []episode{{sev: finding.Warning, start: 600 * time.Millisecond, end: 50 * s, words: []string{"until"}}},
		missing2: []episode{{sev: finding.Warning, start: 600 * time.Millisecond, end: 50 * s, words: []string{"until"}}},
	}, {
		name: "host 2 never reports, querier present",
		build: func(w *igmpWorld) {
			w.beat(0, 0, 90*s)
			w.beat(1, 0, 90*s)
			w.report(0, 2100*time.Millisecond, false)
			w.queries(500*time.Millisecond, 20*s, 90*s, false, 0)
		},
		verdict:  analyze.VerdictFlooding,
		flooding: []episode{{sev: finding.Warning, start: 600 * time.Millisecond, words: []string{"1 of 2 hosts"}}},
		missing2: []episode{{sev: finding.Warning, start: 600 * time.Millisecond, words: []string{"sent no IGMP report"}}},
	}, {
		name: "host 2 leaves twice and rejoins",
		build: func(w *igmpWorld) {
			w.beat(0, 0, 160*s)
			w.beat(1, 0, 160*s)
			w.report(0, 2100*time.Millisecond, false)
			w.report(1, 2600*time.Millisecond, false)
			w.queries(500*time.Millisecond, 20*s, 160*s, false, 0)
			w.leave(1, 40*s)
			w.report(1, 70*s, false)
			w.leave(1, 100*s)
			w.report(1, 130*s, false)
		},
		verdict: analyze.VerdictTargetedIfMACGroup,
		flooding: []episode{{sev: finding.Warning, start: 40 * s, end: 70 * s},
			{sev: finding.Warning, start: 100 * s, end: 130 * s}},
		missing2: []episode{{sev: finding.Warning, start: 40 * s, end: 70 * s, words: []string{"left"}},
			{sev: finding.Warning, start: 100 * s, end: 130 * s, words: []string{"left"}}},
	}, {
		name: "every host joined, no query yet in 60 s",
		build: func(w *igmpWorld) {
			w.beat(0, 0, 60*s)
			w.beat(1, 0, 60*s)
			w.report(0, 1100*time.Millisecond, true)
			w.report(1, 1600*time.Millisecond, true)
		},
		verdict: analyze.VerdictUnknown, neverFlooding: true,
		nq: []episode{{sev: finding.Info, words: []string{"too short"}}},
	}, {
		name: "no querier for 300 s",
		build: func(w *igmpWorld) {
			w.beat(0, 0, 300*s)
			w.beat(1, 0, 300*s)
			w.report(0, 1100*time.Millisecond, true)
			w.report(1, 1600*time.Millisecond, true)
		},
		verdict: analyze.VerdictFlooding,
		// Memberships age out 260 s after the first report.
		flooding: []episode{{sev: finding.Warning, start: 261100 * time.Millisecond, words: []string{"no querier"}}},
		nq:       []episode{{sev: finding.Warning, start: 1100 * time.Millisecond, words: []string{"no querier asked"}}},
	}, {
		name: "the querier comes at 280 s",
		build: func(w *igmpWorld) {
			w.beat(0, 0, 330*s)
			w.beat(1, 0, 330*s)
			w.report(0, 1100*time.Millisecond, true)
			w.report(1, 1600*time.Millisecond, true)
			w.queries(280*s, 20*s, 330*s, true, 0, 1)
		},
		verdict:  analyze.VerdictTargetedIfMACGroup,
		flooding: []episode{{sev: finding.Warning, start: 261100 * time.Millisecond, end: 280 * s}},
		nq:       []episode{{sev: finding.Warning, start: 1100 * time.Millisecond, end: 280 * s, words: []string{"until"}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newIGMPWorld()
			c.build(w)
			r, events := w.run(analyze.VantageSpan)
			w.checkConsistent(t, r, events, c.verdict)
			if fl := raised(events, finding.MulticastFlooding); c.neverFlooding && len(fl) > 0 {
				t.Errorf("multicast-flooding streamed: %s", describe(w, fl))
			}
			w.checkEpisodes(t, r, finding.MulticastFlooding, "", c.flooding)
			w.checkEpisodes(t, r, finding.IGMPMemberMissing, host1, nil)
			w.checkEpisodes(t, r, finding.IGMPMemberMissing, host2, c.missing2)
			w.checkEpisodes(t, r, finding.IGMPNoQuerier, "", c.nq)
		})
	}
}

// TestIGMPMemberMissingVantage: from a nonmember port a missing report
// proves something only where reports reach the port and the host had no
// reason to keep its own: IGMPv1/v2 hosts that hear another member's report
// for the group in the same query's response window do not send theirs
// (report suppression, RFC 2236 section 3), and a snooping switch sends
// reports to its router ports only. A span sees every report, so there a
// host that never reports to a querier is missing whatever the others do.
func TestIGMPMemberMissingVantage(t *testing.T) {
	s := time.Second
	cases := []struct {
		name    string
		vantage analyze.Vantage
		build   func(w *igmpWorld)
		// host1, host2: the igmp-member-missing findings (open) of each.
		host1, host2 []episode
	}{{
		name:    "v2 report suppression, nonmember",
		vantage: analyze.VantageNonMember,
		build: func(w *igmpWorld) {
			w.beat(0, 0, 90*s)
			w.beat(1, 0, 90*s)
			w.queries(5*s, 20*s, 90*s, false, 0)
		},
		host2: []episode{{sev: finding.Info, start: 600 * time.Millisecond, words: []string{"cannot tell", "host 1", "report suppression"}}},
	}, {
		name:    "v2 report suppression seen on a span is still missing",
		vantage: analyze.VantageSpan,
		build: func(w *igmpWorld) {
			w.beat(0, 0, 90*s)
			w.beat(1, 0, 90*s)
			w.queries(5*s, 20*s, 90*s, false, 0)
		},
		host2: []episode{{sev: finding.Warning, start: 600 * time.Millisecond, words: []string{"sent no IGMP report"}}},
	}, {
		name:    "IGMPv3 has no suppression, nonmember",
		vantage: analyze.VantageNonMember,
		build: func(w *igmpWorld) {
			w.beat(0, 0, 90*s)
			w.beat(1, 0, 90*s)
			w.queries(5*s, 20*s, 90*s, true, 0)
		},
		host2: []episode{{sev: finding.Warning, start: 600 * time.Millisecond, words: []string{"sent no IGMP report"}}},
	}, {
		name:    "no report reaches a nonmember port of a snooping switch",
		vantage: analyze.VantageNonMember,
		build: func(w *igmpWorld) {
			w.beat(0, 0, 90*s)
			w.beat(1, 0, 90*s)
			w.queries(5*s, 20*s, 90*s, false)
		},
		host1: []episode{{sev: finding.Info, start: 100 * time.Millisecond, words: []string{"cannot tell", "router ports"}}},
		host2: []episode{{sev: finding.Info, start: 600 * time.Millisecond, words: []string{"cannot tell", "router ports"}}},
	}, {
		name:    "a v2 window without another member's report proves it, nonmember",
		vantage: analyze.VantageNonMember,
		build: func(w *igmpWorld) {
			w.beat(0, 0, 90*s)
			w.beat(1, 0, 90*s)
			w.queries(5*s, 20*s, 30*s, false, 0)
			w.queries(45*s, 20*s, 90*s, false)
			w.otherReport(46 * s)
			w.otherReport(66 * s)
		},
		host2: []episode{{sev: finding.Warning, start: 600 * time.Millisecond, words: []string{"sent no IGMP report"}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newIGMPWorld()
			c.build(w)
			r, events := w.run(c.vantage)
			w.checkEpisodes(t, r, finding.IGMPMemberMissing, "host 1", c.host1)
			w.checkEpisodes(t, r, finding.IGMPMemberMissing, "host 2", c.host2)
			for _, want := range []struct {
				subject string
				eps     []episode
			}{{"host 1", c.host1}, {"host 2", c.host2}} {
				if slices.ContainsFunc(want.eps, func(e episode) bool { return e.sev >= finding.Warning }) {
					continue
				}
				for _, f := range raised(events, finding.IGMPMemberMissing) {
					if strings.Contains(f.Subject, want.subject) && f.Severity >= finding.Warning {
						t.Errorf("%s streamed as a %v: %s", f.Subject, f.Severity, f.Message)
					}
				}
			}
		})
	}
}
