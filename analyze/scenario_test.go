package analyze_test

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// optionsFor turns a scenario's command-line arguments into engine options.
func optionsFor(t *testing.T, args []string) analyze.Options {
	t.Helper()
	var opts analyze.Options
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--vantage":
			i++
			v, err := analyze.ParseVantage(args[i])
			if err != nil {
				t.Fatal(err)
			}
			opts.Vantage = v
		case "--cluster":
			i++
			opts.Clusters = append(opts.Clusters, netip.MustParseAddr(args[i]))
		default:
			t.Fatalf("scenario argument %q not understood by this test", args[i])
		}
	}
	return opts
}

// TestScenarios checks the engine against every fixture scenario's intent,
// which the scenario declares from how it built its frames (see
// fixtures.Expect), never from running the engine.
func TestScenarios(t *testing.T) {
	dir := filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures")
	paths, err := filepath.Glob(filepath.Join(dir, "*.expect.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenario intents in %s: %v", dir, err)
	}
	for _, path := range paths {
		exp, err := fixtures.ReadExpect(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range exp.Files {
			t.Run(file, func(t *testing.T) {
				recs := testcapture.MustRead(t, filepath.Join(dir, file))
				r := analyzeRecords(recs, optionsFor(t, exp.Args))
				checkIntent(t, exp, r)
			})
		}
	}
}

func checkIntent(t *testing.T, exp fixtures.Expect, r *analyze.Report) {
	t.Helper()
	if int(r.Stats.Frames) != exp.Frames || int(r.Stats.Truncated) != exp.TruncatedFrames {
		t.Errorf("frames %d (truncated %d), want %d (%d)", r.Stats.Frames, r.Stats.Truncated, exp.Frames, exp.TruncatedFrames)
	}
	// Clusters and hosts.
	if len(r.Clusters) != len(exp.Clusters) {
		t.Errorf("%d clusters, want %d: %+v", len(r.Clusters), len(exp.Clusters), r.Clusters)
	}
	for i := 0; i < min(len(r.Clusters), len(exp.Clusters)); i++ {
		got, want := r.Clusters[i], exp.Clusters[i]
		if got.ClusterIP != want.ClusterIP || got.VLAN != want.VLAN || !reflect.DeepEqual(got.RemoteSpan, want.RemoteSpan) {
			t.Errorf("cluster %d: %v vlan %d remote span %+v, want %v vlan %d remote span %+v", i,
				got.ClusterIP, got.VLAN, got.RemoteSpan, want.ClusterIP, want.VLAN, want.RemoteSpan)
			continue
		}
		if want.Mode != "" && (got.Mode.String() != want.Mode || got.ClusterMAC != want.ClusterMAC) {
			t.Errorf("cluster %v: mode %v MAC %v, want %s %v", got.ClusterIP, got.Mode, got.ClusterMAC, want.Mode, want.ClusterMAC)
		}
		if len(got.Hosts) != len(want.Hosts) {
			t.Errorf("cluster %v: %d hosts, want %d", got.ClusterIP, len(got.Hosts), len(want.Hosts))
			continue
		}
		for j, wh := range want.Hosts {
			gh := got.Hosts[j]
			if gh.Priority != uint32(wh.Priority) || gh.DedicatedIP != wh.DedicatedIP || int(gh.Heartbeats) != wh.Heartbeats {
				t.Errorf("cluster %v host %d: priority %d dedicated %v heartbeats %d, want %d %v %d", got.ClusterIP, j,
					gh.Priority, gh.DedicatedIP, gh.Heartbeats, wh.Priority, wh.DedicatedIP, wh.Heartbeats)
			}
			if gh.PortRules != nil && int(*gh.PortRules) != len(wh.PortRuleCodes) {
				t.Errorf("cluster %v host %d: %d port rules, want %d", got.ClusterIP, wh.Priority, *gh.PortRules, len(wh.PortRuleCodes))
			}
			if wh.HostName != "" && gh.HostName != wh.HostName {
				t.Errorf("cluster %v host %d: name %q, want %q", got.ClusterIP, wh.Priority, gh.HostName, wh.HostName)
			}
		}
	}
	// IGMP groups (members whose last word was a report) and queriers.
	var groups []string
	for _, g := range r.IGMPGroups {
		var members []string
		for _, m := range g.Members {
			if !m.Left {
				members = append(members, m.IP.String())
			}
		}
		groups = append(groups, g.Group.String()+"@"+itoa(g.VLAN)+"="+strings.Join(members, ","))
	}
	var wantGroups []string
	for _, g := range exp.IGMPGroups {
		var members []string
		for _, m := range g.Members {
			members = append(members, m.String())
		}
		wantGroups = append(wantGroups, g.Group.String()+"@"+itoa(g.VLAN)+"="+strings.Join(members, ","))
	}
	if !slices.Equal(groups, wantGroups) {
		t.Errorf("IGMP groups %v, want %v", groups, wantGroups)
	}
	var queriers, wantQueriers []string
	for _, q := range r.Queriers {
		queriers = append(queriers, q.IP.String()+"@"+itoa(q.VLAN))
	}
	for _, q := range exp.Queriers {
		wantQueriers = append(wantQueriers, q.IP.String()+"@"+itoa(q.VLAN))
	}
	if !slices.Equal(queriers, wantQueriers) {
		t.Errorf("queriers %v, want %v", queriers, wantQueriers)
	}
	checkFindings(t, exp, r)
}

func checkFindings(t *testing.T, exp fixtures.Expect, r *analyze.Report) {
	t.Helper()
	for _, want := range exp.Findings {
		var matches []finding.Finding
		for _, f := range r.Findings {
			if f.Kind == want.Kind && (!want.SubjectIP.IsValid() || about(f, want.SubjectIP)) {
				matches = append(matches, f)
			}
		}
		if len(matches) == 0 {
			t.Errorf("no %s finding about %v (%s); got %s", want.Kind, want.SubjectIP, want.Why, summary(r))
			continue
		}
		cited := map[uint64]bool{}
		for _, f := range matches {
			for _, n := range f.Evidence {
				cited[n] = true
			}
		}
		for _, n := range want.Evidence {
			if !cited[uint64(n)] {
				t.Errorf("%s does not cite frame %d (cites %v)", want.Kind, n, cited)
			}
		}
		for _, n := range want.NotEvidence {
			if cited[uint64(n)] {
				t.Errorf("%s cites frame %d, which does not show it", want.Kind, n)
			}
		}
		if !want.Start.IsZero() {
			ok := false
			for _, f := range matches {
				ok = ok || (f.Start.Equal(want.Start) && f.End.Equal(want.End))
			}
			if !ok {
				t.Errorf("%s: no finding from %v to %v: %+v", want.Kind, want.Start, want.End, matches)
			}
		}
		if want.RateFPS > 0 {
			ok := false
			for _, f := range matches {
				ok = ok || statesRate(f.Message, want.RateFPS)
			}
			if !ok {
				t.Errorf("%s: no finding states %.1f frames/s: %s", want.Kind, want.RateFPS, matches[0].Message)
			}
		}
	}
	for _, k := range exp.Absent {
		for _, f := range r.Findings {
			if f.Kind == k {
				t.Errorf("unexpected %s: %s", k, f.Message)
			}
		}
	}
	if exp.MaxSeverity != "" {
		max, err := finding.ParseSeverity(exp.MaxSeverity)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.Findings {
			if f.Severity > max {
				t.Errorf("%s is %v, above %v: %s", f.Kind, f.Severity, max, f.Message)
			}
		}
	}
}

// about reports whether a finding is about ip: in its subject or its IPs.
func about(f finding.Finding, ip netip.Addr) bool {
	if slices.Contains(f.IPs, ip) {
		return true
	}
	return strings.Contains(f.Subject+" ", ip.String()+" ")
}

// statesRate reports whether msg states a rate within 10% of fps, as
// "N frames/s".
func statesRate(msg string, fps float64) bool {
	for _, field := range strings.Split(msg, " ") {
		var v float64
		if _, err := fmtSscan(field, &v); err == nil && v >= fps*0.9 && v <= fps*1.1 &&
			strings.Contains(msg, field+" frames/s") {
			return true
		}
	}
	return false
}

func summary(r *analyze.Report) string {
	var parts []string
	for _, f := range r.Findings {
		parts = append(parts, string(f.Kind)+"("+f.Subject+")")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
