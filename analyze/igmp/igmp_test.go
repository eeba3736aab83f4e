package igmp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/igmp"
)

var base = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC).UnixNano()

func sec(s int) int64 { return base + int64(s)*int64(time.Second) }

type msg struct {
	at   int
	src  string
	igmp frame.IGMP
}

func group(s string) [4]byte { return netip.MustParseAddr(s).As4() }

func query(at int) msg {
	return msg{at, "10.0.0.254", frame.IGMP{Type: frame.IGMPQuery, Version: 2, MaxResp: 100}}
}

func report(at int, src, g string) msg {
	return msg{at, src, frame.IGMP{Type: frame.IGMPv2Report, Version: 2, Group: group(g)}}
}

func run(msgs []msg) (*igmp.Tables, *finding.Store) {
	store := finding.NewStore(100)
	tab := igmp.New(igmp.Config{}, store)
	for i, m := range msgs {
		g := m.igmp
		f := &frame.Frame{Kind: frame.KindIGMP, Src: addr.MAC{0, 1, 2, 3, 4, byte(i)}, IGMP: &g}
		f.IPv4.Src = netip.MustParseAddr(m.src)
		tab.Observe(f, sec(m.at), uint64(i+1))
	}
	return tab, store
}

func TestMembership(t *testing.T) {
	v3 := frame.IGMP{Type: frame.IGMPv3Report, Version: 3, NumRecords: 3, RecordsDecoded: 3}
	v3.Records[0] = frame.GroupRecord{Type: frame.RecordChangeToExclude, Group: group("239.255.0.50")}
	v3.Records[1] = frame.GroupRecord{Type: frame.RecordChangeToInclude, Group: group("239.1.1.1")}
	v3.Records[2] = frame.GroupRecord{Type: frame.RecordAllowNew, NumSources: 1, Group: group("232.1.1.1")}
	tab, _ := run([]msg{
		report(0, "10.0.0.1", "239.255.0.50"),
		report(1, "10.0.0.2", "239.1.1.1"),
		{2, "10.0.0.2", frame.IGMP{Type: frame.IGMPv2Leave, Version: 2, Group: group("239.1.1.1")}},
		{3, "10.0.0.3", v3},
		report(4, "10.0.0.4", "10.1.1.1"), // not a group
	})
	cases := []struct {
		group, member string
		left, sources bool
		version       uint8
	}{
		{"239.255.0.50", "10.0.0.1", false, false, 2},
		{"239.1.1.1", "10.0.0.2", true, false, 2},
		{"239.255.0.50", "10.0.0.3", false, false, 3},
		{"239.1.1.1", "10.0.0.3", true, false, 3},
		{"232.1.1.1", "10.0.0.3", false, true, 3},
	}
	for _, c := range cases {
		m := tab.Membership(0, group(c.group), group(c.member))
		if m == nil {
			t.Errorf("%s in %s: no membership", c.member, c.group)
			continue
		}
		if m.Left != c.left || m.WithSources != c.sources || m.Version != c.version {
			t.Errorf("%s in %s: %+v", c.member, c.group, m)
		}
	}
	if tab.Ignored != 1 {
		t.Errorf("ignored %d reports for non-groups, want 1", tab.Ignored)
	}
}

func TestQuerierInterval(t *testing.T) {
	msgs := []msg{query(0), query(0)} // a duplicate copy must not count as an interval
	for s := 125; s <= 500; s += 125 {
		msgs = append(msgs, query(s))
	}
	tab, _ := run(msgs)
	for _, q := range tab.Queriers() {
		if q.Interval != int64(125*time.Second) || q.General != 6 {
			t.Fatalf("interval %v general %d", time.Duration(q.Interval), q.General)
		}
		return
	}
	t.Fatal("no querier")
}

func TestNoQuerier(t *testing.T) {
	reports := func(until int) []msg {
		var out []msg
		for s := 0; s <= until; s += 60 {
			out = append(out, report(s, "10.0.0.1", "239.255.0.50"))
		}
		return out
	}
	cases := []struct {
		name  string
		msgs  []msg
		now   int
		final bool
		sev   finding.Severity
		none  bool
	}{
		{name: "reports for 300 s, no query", msgs: reports(300), now: 300, sev: finding.Warning},
		{name: "querier present", msgs: append(reports(300), query(10), query(135), query(260)), now: 300, none: true},
		{name: "querier stopped", msgs: append(reports(600), query(10)), now: 600, sev: finding.Warning},
		{name: "short capture, not final", msgs: reports(100), now: 100, none: true},
		{name: "short capture, final", msgs: reports(100), now: 100, final: true, sev: finding.Info},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab, store := run(c.msgs)
			tab.Check(sec(c.now), c.final)
			fs := store.Findings()
			if c.none {
				if len(fs) != 0 {
					t.Fatalf("unexpected %+v", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].Kind != finding.IGMPNoQuerier || fs[0].Severity != c.sev {
				t.Fatalf("findings %+v", fs)
			}
		})
	}
}
