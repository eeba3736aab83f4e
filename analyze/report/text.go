package report

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
)

// WriteText writes the report for people: the clusters, the findings most
// severe first with their evidence and what to do, the ARP bindings that
// matter, IGMP and flooding, then the counters.
func WriteText(w io.Writer, r *analyze.Report) error {
	tw := &textWriter{w: w}
	writeHeader(tw, r)
	writeClusters(tw, r)
	writeFindings(tw, r)
	writeBindings(tw, r)
	writeIGMP(tw, r)
	writeFlood(tw, r)
	writeStats(tw, r)
	return tw.err
}

// textWriter remembers the first write error, so the sections stay plain.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

// table writes aligned columns.
func (t *textWriter) table(indent string, rows [][]string) {
	if t.err != nil || len(rows) == 0 {
		return
	}
	tab := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintf(tab, "%s%s\n", indent, strings.Join(row, "\t"))
	}
	t.err = tab.Flush()
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05.000")
}

// vlanName names a VLAN as frame.VLAN.String does: "100", "200.100",
// "untagged", and for frames of a remote span their session after it,
// "100 (erspan session 7)".
func vlanName(vlan, svlan uint16, span *analyze.RemoteSpan) string {
	var s string
	switch {
	case svlan != 0:
		s = fmt.Sprintf("%d.%d", svlan, vlan)
	case vlan == 0:
		s = "untagged"
	default:
		s = fmt.Sprint(vlan)
	}
	switch {
	case span == nil:
	case span.Kind == "vxlan":
		s += fmt.Sprintf(" (vxlan vni %d)", span.ID)
	default:
		s += fmt.Sprintf(" (%s session %d)", span.Kind, span.ID)
	}
	return s
}

func writeHeader(t *textWriter, r *analyze.Report) {
	t.printf("nlbprobe report\n")
	for _, in := range r.Inputs {
		extra := ""
		if in.Snaplen != 0 {
			extra = fmt.Sprintf(", snaplen %d", in.Snaplen)
		}
		if in.Sections > 1 {
			extra += fmt.Sprintf(", %d captures joined, read one after the other", in.Sections)
		}
		if in.TruncatedAtEnd {
			extra += ", ENDS MID-RECORD"
		}
		dups := ""
		if in.DuplicatesDropped > 0 {
			dups = fmt.Sprintf(", %d of them copies of frames in another input, dropped", in.DuplicatesDropped)
		}
		path := in.Path
		if path == "-" {
			path = "- (standard input)"
		}
		// With several inputs, the time each covers: one may end before
		// the others or start after them.
		span := ""
		if len(r.Inputs) > 1 && !in.Start.IsZero() {
			span = fmt.Sprintf(", %s to %s", stampFrom(in.Start, r.Capture.Start), stampFrom(in.End, r.Capture.Start))
		}
		t.printf("  input    %s (%s, %s%s): %s%s%s\n", path, in.Format, strings.Join(in.LinkTypes, "+"), extra,
			frames(in.Frames), span, dups)
	}
	if r.Partial {
		t.printf("  PARTIAL  %s\n", r.PartialReason)
	}
	if r.Stats.Frames == 0 {
		t.printf("  capture  no frames\n\n")
		return
	}
	c := r.Capture
	// The end's date only when it is not the start's: a capture that
	// spans midnight or days must not read as minutes.
	const day, stamp = "2006-01-02 ", "15:04:05.000"
	end := c.End.Format(stamp)
	if c.End.Format(day) != c.Start.Format(day) {
		end = c.End.Format(day + stamp)
	}
	t.printf("  capture  %s from %s to %s UTC (%s)\n", frames(r.Stats.Frames),
		c.Start.Format(day+stamp), end, spanText(c.DurationSeconds))
	writeCoverage(t, r)
	if n := r.Stats.DuplicatesDropped; n > 0 {
		t.printf("  merged   the inputs overlap: %s that repeat a frame of another input (same bytes, within --dedup-window) "+
			"%s counted once\n", frames(n), finding.Verb(n, "was", "were"))
	}
	if n := r.Stats.AfterTimeJump; n > 0 {
		at := ""
		for _, f := range r.Findings {
			if f.Kind == finding.CaptureTimeJump && len(f.Evidence) > 0 {
				at = fmt.Sprintf(" at frame %d", f.Evidence[0])
			}
		}
		t.printf("  STOPPED  analysis%s: its time stamp jumps as no capture's does (capture-time-jump); "+
			"the %s from it on %s counted, not analyzed\n", at, frames(n), finding.Verb(n, "was", "were"))
	}
	t.printf("  vantage  %s\n", r.Vantage)
	if enc := r.Stats.Encapsulated; enc.Total() > 0 {
		t.printf("  remote   %s mirrored inside %s: analysed as a span capture, per session\n",
			frames(enc.Total()), encapsulations(enc))
	}
	t.printf("\n")
}

// encapsulations lists the encapsulations seen: "ERSPAN type II (40),
// VXLAN (2)".
func encapsulations(enc analyze.Encapsulations) string {
	var parts []string
	for _, e := range []struct {
		name string
		n    uint64
	}{{"ERSPAN type I", enc.ERSPANI}, {"ERSPAN type II", enc.ERSPANII}, {"ERSPAN type III", enc.ERSPANIII}, {"VXLAN", enc.VXLAN}} {
		if e.n > 0 {
			parts = append(parts, fmt.Sprintf("%s (%d)", e.name, e.n))
		}
	}
	return strings.Join(parts, ", ")
}

// spanText writes the capture's duration: to the millisecond, and to the
// second beyond an hour.
// stampFrom writes a time of the capture: with its date when that is not
// the date of ref, the capture's start.
func stampFrom(at, ref time.Time) string {
	const day, stamp = "2006-01-02 ", "15:04:05.000"
	if at.Format(day) != ref.Format(day) {
		return at.Format(day + stamp)
	}
	return at.Format(stamp)
}

// maxCoverageStretches is how many stretches the coverage line names.
const maxCoverageStretches = 4

// writeCoverage says which stretches of the capture's time the inputs
// cover, when some of it no input covers (rotated files with a pause).
func writeCoverage(t *textWriter, r *analyze.Report) {
	c := r.Capture
	if len(c.Uncovered) == 0 {
		return
	}
	var stretches []string
	from := c.Start
	var uncovered time.Duration
	for i, h := range append(c.Uncovered, analyze.TimeSpan{Start: c.End, End: c.End}) {
		if i < maxCoverageStretches {
			stretches = append(stretches, stampFrom(from, c.Start)+" to "+stampFrom(h.Start, c.Start))
		}
		uncovered += h.End.Sub(h.Start)
		from = h.End
	}
	list := strings.Join(stretches, ", ")
	if n := len(c.Uncovered) + 1; n > maxCoverageStretches {
		list += fmt.Sprintf(" and %d more stretches", n-maxCoverageStretches)
	} else if i := strings.LastIndex(list, ", "); i >= 0 {
		list = list[:i] + " and " + list[i+2:]
	}
	t.printf("  coverage the inputs cover %s; %s in between no input covers: no heartbeat gap, rate or wait for a query counts it\n",
		list, spanText(uncovered.Seconds()))
}

func spanText(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d >= time.Hour {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

func writeClusters(t *textWriter, r *analyze.Report) {
	t.printf("CLUSTERS (%d)\n", len(r.Clusters))
	if len(r.Clusters) == 0 {
		t.printf("  no NLB heartbeats (ethertype 0x886F) were seen\n\n")
		return
	}
	for _, c := range r.Clusters {
		mac := "unknown"
		if !c.ClusterMAC.IsZero() {
			mac = fmt.Sprintf("%v (%s, %s)", c.ClusterMAC, c.ClusterMAC.Dashed(), c.ClusterMAC.Dotted())
		}
		t.printf("  %v  vlan %s  %s mode  cluster MAC %s\n", c.ClusterIP, vlanName(c.VLAN, c.SVLAN, c.RemoteSpan), c.Mode, mac)
		if c.IGMPGroup.IsValid() {
			t.printf("    IGMP group %v\n", c.IGMPGroup)
		}
		t.printf("    mode from %s; %s %s to %s\n", c.ModeBasis, finding.Plural(c.Heartbeats, "heartbeat", "heartbeats"),
			clock(c.FirstSeen), clock(c.LastSeen))
		rows := [][]string{{"prio", "dedicated IP", "MAC", "name", "ver", "heartbeats", "per s", "first", "last", "state", "port rules"}}
		for _, h := range c.Hosts {
			ded := "?"
			if h.DedicatedIP.IsValid() {
				ded = h.DedicatedIP.String()
			}
			macs := h.MAC.String()
			if len(h.MACs) > 1 {
				macs += fmt.Sprintf(" (was %v)", h.MACs[0])
			}
			state, rules := "?", "?"
			if h.ConvergenceState != nil {
				state = fmt.Sprint(*h.ConvergenceState)
			}
			if h.PortRules != nil {
				rules = fmt.Sprint(*h.PortRules)
				if h.PortRuleDigest != "" {
					rules += " #" + h.PortRuleDigest
				}
			}
			rate := "-"
			if h.Heartbeats > 1 {
				rate = fmt.Sprintf("%.2f", h.HeartbeatRate)
			}
			rows = append(rows, []string{fmt.Sprint(h.Priority), ded, macs, orDash(h.HostName), orDash(h.Version),
				fmt.Sprint(h.Heartbeats), rate, clock(h.FirstSeen), clock(h.LastSeen), state, rules})
		}
		t.table("    ", rows)
		for _, h := range c.Hosts {
			if h.Truncated {
				note := fmt.Sprintf("host %d: heartbeats cut to %d of 1496 bytes", h.Priority, h.CapturedBytes)
				if h.Inferred != "" {
					note += "; " + h.Inferred
				}
				t.printf("    %s\n", note)
			}
		}
		writeHostCoverage(t, r, c)
		t.printf("\n")
	}
}

// writeHostCoverage says, with several inputs, which hosts of c the inputs
// that hear them did not cover long enough to tell whether they went on
// after their last heartbeat or were up before their first.
func writeHostCoverage(t *textWriter, r *analyze.Report, c analyze.Cluster) {
	type note struct {
		after  bool
		at     time.Time
		input  string
		prios  []string
		plural bool
	}
	var notes []*note
	add := func(after bool, at time.Time, input string, prio uint32) {
		for _, n := range notes {
			if n.after == after && n.at.Equal(at) && n.input == input {
				n.prios = append(n.prios, fmt.Sprint(prio))
				return
			}
		}
		notes = append(notes, &note{after: after, at: at, input: input, prios: []string{fmt.Sprint(prio)}})
	}
	for _, h := range c.Hosts {
		if !h.UnknownBefore.IsZero() {
			add(false, h.UnknownBefore, h.UnknownBeforeInput, h.Priority)
		}
		if !h.UnknownAfter.IsZero() {
			add(true, h.UnknownAfter, h.UnknownAfterInput, h.Priority)
		}
	}
	for _, n := range notes {
		hosts, them, they := "host "+n.prios[0], "it", "it was"
		if len(n.prios) > 1 {
			hosts, them, they = "hosts "+strings.Join(n.prios, ", "), "them", "they were"
		}
		if n.after {
			t.printf("    %s: not heard after %s, the last input that hears %s, ended at %s: whether %s still up after is not known\n",
				hosts, n.input, them, stampFrom(n.at, r.Capture.Start), they)
		} else {
			t.printf("    %s: first heard when %s, the first input that carried %s, began at %s: whether %s up before is not known\n",
				hosts, n.input, them, stampFrom(n.at, r.Capture.Start), they)
		}
	}
}

func frames(n uint64) string { return finding.Plural(n, "frame", "frames") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeFindings(t *textWriter, r *analyze.Report) {
	var n [3]int
	for _, f := range r.Findings {
		n[f.Severity]++
	}
	t.printf("FINDINGS (%d: %s, %s, %s)\n", len(r.Findings), finding.Plural(n[finding.Error], "error", "errors"),
		finding.Plural(n[finding.Warning], "warning", "warnings"), finding.Plural(n[finding.Info], "info", "info"))
	if len(r.Findings) == 0 {
		t.printf("  none\n")
	}
	for _, f := range r.Findings {
		t.printf("  %-7s %s  %s  at %s\n", strings.ToUpper(f.Severity.String()), f.Kind, f.Subject, f.Time.Format("2006-01-02 15:04:05.000"))
		t.printf("          %s\n", f.Message)
		if len(f.Evidence) > 0 {
			ev := make([]string, len(f.Evidence))
			for i, e := range f.Evidence {
				ev[i] = fmt.Sprint(e)
			}
			more := ""
			if f.Count > uint64(len(f.Evidence)) {
				more = fmt.Sprintf(" (%d in all)", f.Count)
			}
			t.printf("          evidence: frames %s%s\n", strings.Join(ev, ", "), more)
		}
		if f.Remedy != "" {
			t.printf("          what to do: %s\n", f.Remedy)
		}
	}
	t.printf("\n")
}

// writeBindings shows the bindings that matter: those that changed, or are
// bound to an NLB form, or appear in a finding.
func writeBindings(t *textWriter, r *analyze.Report) {
	inFinding := map[netip.Addr]bool{}
	for _, f := range r.Findings {
		for _, ip := range f.IPs {
			inFinding[ip] = true
		}
	}
	rows := [][]string{{"vlan", "IP", "MAC now", "NLB", "changes", "flips", "MACs seen (Ethernet source)"}}
	for _, b := range r.Bindings {
		nlbForm := false
		for _, m := range b.MACs {
			nlbForm = nlbForm || m.Form != addr.FormOrdinary
		}
		if b.Changes == 0 && !nlbForm && !inFinding[b.IP] {
			continue
		}
		var seen []string
		for _, m := range b.MACs {
			s := m.MAC.String()
			if m.EthSource != m.MAC {
				s += " (" + m.EthSource.String() + ")"
			}
			seen = append(seen, s)
		}
		rows = append(rows, []string{vlanName(b.VLAN, b.SVLAN, b.RemoteSpan), b.IP.String(), b.MAC.String(), orDash(b.NLB),
			fmt.Sprint(b.Changes), fmt.Sprint(b.Flips), strings.Join(seen, ", ")})
	}
	t.printf("ARP BINDINGS THAT MATTER (%d of %d)\n", len(rows)-1, len(r.Bindings))
	if len(rows) == 1 {
		t.printf("  none changed or involve NLB addresses\n\n")
		return
	}
	t.table("  ", rows)
	t.printf("\n")
}

func writeIGMP(t *textWriter, r *analyze.Report) {
	t.printf("IGMP (%s, %s)\n", finding.Plural(len(r.IGMPGroups), "group", "groups"), finding.Plural(len(r.Queriers), "querier", "queriers"))
	if len(r.Queriers) > 0 {
		rows := [][]string{{"querier", "vlan", "MAC", "version", "queries", "interval", "last"}}
		for _, q := range r.Queriers {
			iv := "-"
			if q.IntervalSeconds > 0 {
				iv = fmt.Sprintf("%.0fs", q.IntervalSeconds)
			}
			rows = append(rows, []string{q.IP.String(), vlanName(q.VLAN, q.SVLAN, q.RemoteSpan), q.MAC.String(), fmt.Sprintf("v%d", q.Version),
				fmt.Sprint(q.Queries), iv, clock(q.LastSeen)})
		}
		t.table("  ", rows)
	}
	if len(r.IGMPGroups) > 0 {
		rows := [][]string{{"group", "vlan", "NLB cluster", "members (version, reports, state)"}}
		for _, g := range r.IGMPGroups {
			var ms []string
			for _, m := range g.Members {
				ms = append(ms, fmt.Sprintf("%v (v%d, %d, %s)", m.IP, m.Version, m.Reports, m.State()))
			}
			cluster := "-"
			if g.NLBCluster.IsValid() {
				cluster = g.NLBCluster.String()
			}
			rows = append(rows, []string{g.Group.String(), vlanName(g.VLAN, g.SVLAN, g.RemoteSpan), cluster, strings.Join(ms, ", ")})
		}
		t.table("  ", rows)
	}
	t.printf("\n")
}

func writeFlood(t *textWriter, r *analyze.Report) {
	t.printf("TRAFFIC TO CLUSTER MACS (%d)\n", len(r.Flood))
	if len(r.Flood) == 0 {
		t.printf("  none seen\n\n")
		return
	}
	rows := [][]string{{"vlan", "MAC", "cluster", "frames", "per s", "bytes/s", "peak/s", "verdict"}}
	for _, f := range r.Flood {
		cluster := "-"
		if f.ClusterIP.IsValid() {
			cluster = f.ClusterIP.String()
		}
		rows = append(rows, []string{vlanName(f.VLAN, f.SVLAN, f.RemoteSpan), f.MAC.String(), cluster, fmt.Sprint(f.Frames),
			fmt.Sprintf("%.1f", f.FPS), analyze.FormatBytes(f.BPS), fmt.Sprint(f.PeakFPS), f.Verdict})
	}
	t.table("  ", rows)
	for _, f := range r.Flood {
		t.printf("  %v: %s\n", f.MAC, f.Reason)
	}
	t.printf("\n")
}

func writeStats(t *textWriter, r *analyze.Report) {
	s := r.Stats
	p := s.Protocols
	t.printf("STATS\n")
	t.printf("  %s, %s on the wire, %s captured\n", frames(s.Frames), analyze.FormatBytes(float64(s.Bytes)), analyze.FormatBytes(float64(s.CapturedBytes)))
	arpOther := fmt.Sprintf("other hardware %d", p.ARPOther)
	if s.ARPOtherOpcodes > 0 {
		arpOther += fmt.Sprintf(", other opcodes %d binding nothing", s.ARPOtherOpcodes)
	}
	t.printf("  ARP %d (%s), IGMP %d, NLB heartbeats %d, other 0x886F %d, IPv4 %d, other %d; VLAN-tagged %d; to cluster MACs %d\n",
		p.ARP, arpOther, p.IGMP, p.Heartbeats, p.NLBUnknown, p.IPv4, p.Other, p.VLANTagged, p.ClusterMAC)
	t.printf("  malformed %d, cut by snaplen %d (heartbeats %d), unsupported link type %d, unattributed heartbeats %d, kernel drops %d\n",
		s.Malformed, s.Truncated, s.TruncatedHeartbeats, s.Unsupported, s.Unattributed, s.KernelDrops)
	if enc := s.Encapsulated; enc.Total() > 0 {
		t.printf("  remote span: %s; the counts above are of the mirrored frames\n", encapsulations(enc))
	}
	ev := s.Evicted
	if ev != (analyze.Evictions{}) {
		t.printf("  evicted: %s, %s, %s, %s, %s\n", finding.Plural(ev.Bindings, "binding", "bindings"),
			finding.Plural(ev.IGMP, "IGMP entry", "IGMP entries"), finding.Plural(ev.Clusters, "cluster", "clusters"),
			finding.Plural(ev.ClusterMACs, "cluster MAC", "cluster MACs"), finding.Plural(ev.Findings, "finding", "findings"))
	}
}
