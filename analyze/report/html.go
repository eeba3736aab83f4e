package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"hash/fnv"
	"html/template"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/igmp"
)

// The HTML page's bounds: a capture of any length or size gives a page of
// a few hundred kilobytes at most (the histories themselves are bounded by
// the engine's timeline, analyze/timeline). What is left out is counted on
// the page.
const (
	htmlMaxClusters      = 64  // cluster sections drawn
	htmlMaxMembers       = 64  // IGMP member lanes per cluster
	htmlMaxOtherBindings = 32  // lanes of bindings that changed outside the clusters
	htmlMaxFindings      = 500 // findings listed and marked
	htmlWorst            = 5   // findings in the summary
)

// Geometry of the drawing, in CSS pixels.
const (
	plotWidth  = 960.0 // the time axis
	laneHeight = 26.0
)

//go:embed html.tmpl
var htmlTemplateText string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"px":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"attrs": dataAttrs,
}).Parse(htmlTemplateText))

// dataAttrs writes a lane's data-* attributes. The names are this file's
// constants (checked here); the values, which may come from the capture,
// are escaped, as html/template would.
func dataAttrs(as []attr) template.HTMLAttr {
	var b strings.Builder
	for _, a := range as {
		if !strings.HasPrefix(a.Name, "data-") || strings.Trim(a.Name[5:], "abcdefghijklmnopqrstuvwxyz-") != "" {
			panic("report: bad data attribute name " + a.Name)
		}
		b.WriteString(" " + a.Name + `="` + template.HTMLEscapeString(a.Value) + `"`)
	}
	return template.HTMLAttr(b.String())
}

// WriteHTML writes the report as one self-contained HTML page: a summary,
// then on one time axis a lane per host of each cluster (heartbeats per
// second, gaps shaded and labelled, MAC and mode changes marked), the ARP
// bindings of its VIP and of the hosts whose binding moved (a band per
// MAC), the frames per second to its cluster MAC with the flooding verdict,
// the IGMP membership of its hosts and the querier, and every finding as a
// marker linked to its text, evidence and remedy. Inline CSS and SVG only:
// no script, no font or image from anywhere, and a Content-Security-Policy
// that forbids them, so the page opens from a mail attachment or a file
// share. Every string from the capture (host names, file names) is escaped
// by html/template and isolated from the page's text direction (bdi).
func WriteHTML(w io.Writer, r *analyze.Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := htmlTemplate.Execute(bw, buildPage(r)); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	return bw.Flush()
}

// page is what the template draws.
type page struct {
	Version  string
	Inputs   []analyze.Input
	Capture  string
	Vantage  string
	Frames   string
	Axis     axisView
	Summary  []clusterSummary
	Worst    []findingView
	Counts   string
	Clusters []clusterView
	Other    []laneView // bindings that changed outside the clusters
	Marks    []markView // findings on the axis
	Findings []findingView
	Notes    []string
	Empty    bool
}

type axisView struct {
	Width  float64
	Ticks  []tickView
	Bucket string // what one bar covers
	// Uncovered is the time no input covered, shaded on the axis and
	// every lane.
	Uncovered []uncoveredView
}

type tickView struct {
	X     float64
	Label string
}

type clusterSummary struct {
	Anchor, VIP, VLAN, Mode, MAC, Verdict string
	Hosts                                 int
	Heartbeats                            uint64
	Findings                              int
}

type clusterView struct {
	Anchor, Title, Note string
	Lanes               []laneView
}

// laneView is one row: a label and a strip of the time axis.
type laneView struct {
	Kind  string // host, arp, flood, igmp-member, querier
	Label string
	Sub   string // a second line under the label
	Attrs []attr // data-* attributes for tests and readers
	Bars  string // path of the per-bucket bars
	Class string // class of the bars
	Bands []bandView
	Gaps  []gapView
	Marks []eventMark
	Note  string // drawn in the strip when it has nothing else
	// Uncovered shades the time no input covered (the page's), so that
	// an empty stretch of a lane is not read as a silence.
	Uncovered []uncoveredView
}

// uncoveredView is a stretch of the axis that no input covered (rotated
// files with a pause between them): nothing there was captured, and no
// gap or rate counts it.
type uncoveredView struct {
	X, W         float64
	Start, Title string
	Seconds      string
	Label        string // on the axis, where it fits
}

type attr struct{ Name, Value string }

type bandView struct {
	X, W        float64
	Fill, Label string
	Title, MAC  string
}

type gapView struct {
	X, W           float64
	Label, Title   string
	Seconds, Start string
	Open           bool
}

type eventMark struct {
	X            float64
	Event, Title string
}

type markView struct {
	X, W     float64
	ID       int
	Severity string
	Kind     string
	Title    string
}

type findingView struct {
	ID                       int
	Severity, Kind, Subject  string
	Time, Message, Remedy    string
	Evidence, Span, SevUpper string
	Times                    string
}

// scale maps capture time to x on the axis.
type scale struct {
	start time.Time
	span  time.Duration
}

func (s scale) x(t time.Time) float64 {
	x := float64(t.Sub(s.start)) / float64(s.span) * plotWidth
	return math.Max(0, math.Min(plotWidth, x))
}

func buildPage(r *analyze.Report) *page {
	p := &page{Version: r.NLBProbeVersion, Inputs: r.Inputs, Vantage: r.Vantage.String(),
		Frames: finding.Plural(r.Stats.Frames, "frame", "frames")}
	p.Axis.Width = plotWidth
	if r.Stats.Frames == 0 || r.Capture.Start.IsZero() {
		p.Empty = true
		return p
	}
	sc := scale{start: r.Capture.Start, span: max(r.Capture.End.Sub(r.Capture.Start), time.Second)}
	p.Capture = fmt.Sprintf("%s to %s UTC (%s)", r.Capture.Start.Format("2006-01-02 15:04:05"),
		endFormat(r.Capture.Start, r.Capture.End), round(sc.span))
	p.Axis.Ticks = ticks(sc)
	p.Axis.Bucket = bucketNote(r.Timeline, sc.span)
	p.Axis.Uncovered = uncoveredViews(r.Capture.Uncovered, sc)

	ids := map[*finding.Finding]int{}
	for i := range r.Findings[:min(len(r.Findings), htmlMaxFindings)] {
		f := &r.Findings[i]
		ids[f] = i + 1
		fv := findingViewOf(i+1, f)
		p.Findings = append(p.Findings, fv)
		if i < htmlWorst && f.Severity > finding.Info {
			p.Worst = append(p.Worst, fv)
		}
		m := markView{X: sc.x(f.Time), ID: i + 1, Severity: f.Severity.String(), Kind: string(f.Kind),
			Title: fmt.Sprintf("%s %s: %s", strings.ToUpper(f.Severity.String()), f.Kind, f.Subject)}
		if !f.Start.IsZero() {
			end := f.End
			if end.IsZero() {
				end = r.Capture.End
			}
			m.X, m.W = sc.x(f.Start), math.Max(sc.x(end)-sc.x(f.Start), 0)
		}
		p.Marks = append(p.Marks, m)
	}
	if n := len(r.Findings) - htmlMaxFindings; n > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%s not listed here (the page lists the first %d, most severe first): "+
			"the text and JSON reports have them all.", finding.Plural(n, "finding is", "findings are"), htmlMaxFindings))
	}
	var nErr, nWarn int
	for _, f := range r.Findings {
		switch f.Severity {
		case finding.Error:
			nErr++
		case finding.Warning:
			nWarn++
		}
	}
	p.Counts = fmt.Sprintf("%s: %s, %s", finding.Plural(len(r.Findings), "finding", "findings"),
		finding.Plural(nErr, "error", "errors"), finding.Plural(nWarn, "warning", "warnings"))

	drawn := map[netip.Addr]bool{} // bindings drawn in a cluster, by IP (and VLAN below)
	for i, c := range r.Clusters {
		if i == htmlMaxClusters {
			p.Notes = append(p.Notes, fmt.Sprintf("%s not drawn (the page draws %d).",
				finding.Plural(len(r.Clusters)-htmlMaxClusters, "cluster is", "clusters are"), htmlMaxClusters))
			break
		}
		cv, sum := clusterSection(r, &r.Clusters[i], sc, drawn)
		cv.Anchor = fmt.Sprintf("cluster-%d", i+1)
		sum.Anchor = cv.Anchor
		for _, f := range r.Findings {
			if slices.Contains(f.IPs, c.ClusterIP) && f.VLAN == c.VLAN && f.SVLAN == c.SVLAN {
				sum.Findings++
			}
		}
		p.Clusters = append(p.Clusters, cv)
		p.Summary = append(p.Summary, sum)
	}
	for i := range r.Bindings {
		b := &r.Bindings[i]
		if len(b.History) == 0 || drawn[b.IP] {
			continue
		}
		if len(p.Other) == htmlMaxOtherBindings {
			p.Notes = append(p.Notes, fmt.Sprintf("More ARP bindings changed than the %d drawn under \"Other ARP changes\".", htmlMaxOtherBindings))
			break
		}
		p.Other = append(p.Other, arpLane(b, sc, r.Capture.End))
	}
	for i := range p.Clusters {
		for j := range p.Clusters[i].Lanes {
			p.Clusters[i].Lanes[j].Uncovered = p.Axis.Uncovered
		}
	}
	for i := range p.Other {
		p.Other[i].Uncovered = p.Axis.Uncovered
	}
	tl := r.Timeline
	if tl.SeriesOmitted > 0 || tl.EventsDropped > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("The timeline's limits left out %s and %s (a capture with more hosts, "+
			"cluster MACs or changes than it keeps): their lanes are empty or miss marks.",
			finding.Plural(tl.SeriesOmitted, "history", "histories"), finding.Plural(tl.EventsDropped, "change", "changes")))
	}
	return p
}

// uncoveredViews places the stretches no input covered on the axis, at
// least a pixel wide so that a short pause still shows.
func uncoveredViews(spans []analyze.TimeSpan, sc scale) []uncoveredView {
	var out []uncoveredView
	for _, u := range spans {
		x := sc.x(u.Start)
		w := math.Max(sc.x(u.End)-x, 1)
		d := u.End.Sub(u.Start)
		out = append(out, uncoveredView{X: x, W: w, Start: u.Start.UTC().Format(time.RFC3339Nano),
			Seconds: strconv.FormatFloat(d.Seconds(), 'f', -1, 64),
			Title: fmt.Sprintf("not captured: no input covers %s to %s UTC (%s); nothing here was seen, "+
				"and no gap or rate counts it", u.Start.UTC().Format("15:04:05.000"), endFormat(u.Start, u.End), gapLabel(d))})
		if w >= 80 {
			out[len(out)-1].Label = "not captured"
		}
	}
	return out
}

// gapLabel is a gap's length as a reader wants it at a glance: tenths of
// a second below ten seconds, whole seconds below an hour.
func gapLabel(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func endFormat(start, end time.Time) string {
	if start.Format("2006-01-02") == end.Format("2006-01-02") {
		return end.Format("15:04:05")
	}
	return end.Format("2006-01-02 15:04:05")
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// bucketNote says what one bar covers, and that a long capture was
// downsampled.
func bucketNote(tl analyze.TimelineAxis, span time.Duration) string {
	if tl.Bucket <= time.Second {
		return "Each bar covers one second of capture time."
	}
	return fmt.Sprintf("Each bar covers %s of capture time: the capture spans %s, so seconds were added together "+
		"to keep the page small (at most 600 bars a lane); rates are averages over a bar.", tl.Bucket, round(span))
}

// ticks returns about eight labelled times at round steps.
func ticks(sc scale) []tickView {
	steps := []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
		30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if sc.span/s <= 8 {
			step = s
			break
		}
	}
	for sc.span/step > 8 {
		step *= 2
	}
	layout := "15:04:05"
	if sc.span > 24*time.Hour {
		layout = "01-02 15:04"
	}
	var out []tickView
	for t := sc.start.Truncate(step); !t.After(sc.start.Add(sc.span)); t = t.Add(step) {
		if t.Before(sc.start) {
			continue
		}
		out = append(out, tickView{X: sc.x(t), Label: t.Format(layout)})
	}
	return out
}

func findingViewOf(id int, f *finding.Finding) findingView {
	fv := findingView{ID: id, Severity: f.Severity.String(), SevUpper: strings.ToUpper(f.Severity.String()),
		Kind: string(f.Kind), Subject: f.Subject, Time: f.Time.Format("2006-01-02 15:04:05.000"),
		Message: f.Message, Remedy: f.Remedy, Times: finding.Plural(f.Count, "time", "times")}
	if !f.Start.IsZero() {
		fv.Span = "from " + f.Start.Format("15:04:05.000")
		if !f.End.IsZero() {
			fv.Span += " to " + f.End.Format("15:04:05.000") + " (" + round(f.End.Sub(f.Start)).String() + ")"
		} else {
			fv.Span += ", still going on"
		}
	}
	if len(f.Evidence) > 0 {
		ev := make([]string, len(f.Evidence))
		for i, n := range f.Evidence {
			ev[i] = strconv.FormatUint(n, 10)
		}
		fv.Evidence = strings.Join(ev, ", ")
		if f.Count > uint64(len(f.Evidence)) {
			fv.Evidence += fmt.Sprintf(" (%d in all)", f.Count)
		}
	}
	return fv
}

// clusterSection draws one cluster: its hosts, the bindings of its VIP and
// of hosts whose binding moved, its cluster MAC's traffic, and in IGMP mode
// the membership of its hosts and the querier.
func clusterSection(r *analyze.Report, c *analyze.Cluster, sc scale, drawn map[netip.Addr]bool) (clusterView, clusterSummary) {
	vlan := vlanName(c.VLAN, c.SVLAN, c.RemoteSpan)
	mac := "unknown"
	if !c.ClusterMAC.IsZero() {
		mac = c.ClusterMAC.String()
	}
	cv := clusterView{Title: fmt.Sprintf("Cluster %v, vlan %s, %s mode, cluster MAC %s", c.ClusterIP, vlan, c.Mode, mac),
		Note: fmt.Sprintf("%s from %s; mode from %s", finding.Plural(len(c.Hosts), "host", "hosts"),
			finding.Plural(c.Heartbeats, "heartbeat", "heartbeats"), c.ModeBasis)}
	sum := clusterSummary{VIP: c.ClusterIP.String(), VLAN: vlan, Mode: c.Mode.String(), MAC: mac, Hosts: len(c.Hosts),
		Heartbeats: c.Heartbeats, Verdict: "-"}
	cluster := attr{"data-cluster", c.ClusterIP.String()}
	vlanAttr := attr{"data-vlan", vlanAttrValue(c.VLAN, c.SVLAN)}
	for i := range c.Hosts {
		cv.Lanes = append(cv.Lanes, hostLane(r, c, &c.Hosts[i], sc, cluster, vlanAttr))
	}
	for i := range r.Bindings {
		b := &r.Bindings[i]
		if b.VLAN != c.VLAN || b.SVLAN != c.SVLAN {
			continue
		}
		isVIP := b.IP == c.ClusterIP
		isHost := false
		for _, h := range c.Hosts {
			isHost = isHost || h.DedicatedIP == b.IP
		}
		if isVIP || (isHost && len(b.History) > 0) {
			drawn[b.IP] = true
			l := arpLane(b, sc, r.Capture.End)
			l.Attrs = append(l.Attrs, cluster)
			cv.Lanes = append(cv.Lanes, l)
		}
	}
	for i := range r.Flood {
		f := &r.Flood[i]
		if f.VLAN == c.VLAN && f.SVLAN == c.SVLAN && (f.MAC == c.ClusterMAC || f.ClusterIP == c.ClusterIP) {
			l := floodLane(f, r.Timeline, sc)
			l.Attrs = append(l.Attrs, cluster)
			cv.Lanes = append(cv.Lanes, l)
			if f.MAC == c.ClusterMAC || sum.Verdict == "-" {
				sum.Verdict = f.Verdict
			}
		}
	}
	if c.Mode == addr.ModeIGMP && c.IGMPGroup.IsValid() {
		cv.Lanes = append(cv.Lanes, igmpLanes(r, c, sc, cluster)...)
	}
	return cv, sum
}

func vlanAttrValue(vlan, svlan uint16) string {
	if svlan != 0 {
		return fmt.Sprintf("%d.%d", svlan, vlan)
	}
	return strconv.Itoa(int(vlan))
}

// bars draws per-bucket values as one path of rectangles, each run of
// equal values one rectangle, scaled so that full is the lane's height
// (higher values are clipped); it returns "" when every value is zero.
func bars(values []uint32, tl analyze.TimelineAxis, sc scale, full float64, perSecond bool) string {
	if len(values) == 0 || full <= 0 {
		return ""
	}
	var b strings.Builder
	secs := tl.Bucket.Seconds()
	for i := 0; i < len(values); {
		j := i + 1
		for j < len(values) && values[j] == values[i] {
			j++
		}
		if v := float64(values[i]); v > 0 {
			if perSecond {
				v /= secs
			}
			h := math.Min(v/full, 1) * (laneHeight - 4)
			h = math.Max(h, 1.5)
			x0 := sc.x(tl.Start.Add(time.Duration(i) * tl.Bucket))
			x1 := sc.x(tl.Start.Add(time.Duration(j) * tl.Bucket))
			if x1-x0 < 0.5 {
				x1 = x0 + 0.5
			}
			fmt.Fprintf(&b, "M%.1f %.1fh%.1fv%.1fh%.1fz", x0, laneHeight-2, x1-x0, -h, x0-x1)
		}
		i = j
	}
	return b.String()
}

func hostLane(r *analyze.Report, c *analyze.Cluster, h *analyze.Host, sc scale, cluster, vlan attr) laneView {
	l := laneView{Kind: "host", Class: "hb",
		Label: fmt.Sprintf("host %d", h.Priority),
		Attrs: []attr{cluster, vlan, {"data-priority", strconv.Itoa(int(h.Priority))}}}
	var sub []string
	if h.HostName != "" {
		l.Label += " " + h.HostName
	}
	if h.DedicatedIP.IsValid() {
		sub = append(sub, h.DedicatedIP.String())
	}
	sub = append(sub, h.MAC.String())
	sub = append(sub, finding.Plural(h.Heartbeats, "heartbeat", "heartbeats"))
	l.Sub = strings.Join(sub, ", ")
	// NLB sends one membership heartbeat a second: a full bar is 1/s.
	l.Bars = bars(h.Activity, r.Timeline, sc, 1, true)
	for _, ev := range h.Events {
		switch ev.Kind {
		case analyze.HostGap:
			end, open := ev.End, ev.End.IsZero()
			if open {
				end = r.Capture.End
			}
			d := end.Sub(ev.Start)
			g := gapView{X: sc.x(ev.Start), Label: gapLabel(d), Open: open,
				Seconds: strconv.FormatFloat(d.Seconds(), 'f', 3, 64), Start: ev.Start.Format(time.RFC3339Nano)}
			g.W = math.Max(sc.x(end)-g.X, 1)
			g.Title = fmt.Sprintf("no heartbeat from %s to %s (%s)", ev.Start.Format("15:04:05.000"), end.Format("15:04:05.000"), round(d))
			if open {
				g.Title = fmt.Sprintf("no heartbeat since %s: not heard again before the capture ended (%s)",
					ev.Start.Format("15:04:05.000"), round(d))
				g.Label += "+"
			}
			l.Gaps = append(l.Gaps, g)
		case analyze.HostMACChange:
			l.Marks = append(l.Marks, eventMark{X: sc.x(ev.Start), Event: "mac-change",
				Title: fmt.Sprintf("%s: heartbeats from %v, before from %v (frame %d)", ev.Start.Format("15:04:05.000"), ev.ToMAC, ev.FromMAC, ev.Frame)})
		case analyze.HostModeChange:
			l.Marks = append(l.Marks, eventMark{X: sc.x(ev.Start), Event: "mode-change",
				Title: fmt.Sprintf("%s: heartbeats in %s mode, before %s (frame %d)", ev.Start.Format("15:04:05.000"), ev.ToMode, ev.FromMode, ev.Frame)})
		}
	}
	if h.Activity == nil && h.Heartbeats > 0 {
		l.Note = "no history kept (the timeline's limit of hosts)"
	}
	return l
}

// macColor gives each MAC a stable colour.
func macColor(m addr.MAC) string {
	palette := []string{"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac", "#e15759"}
	h := fnv.New32a()
	h.Write(m[:])
	return palette[h.Sum32()%uint32(len(palette))]
}

// arpLane draws an IP's binding as a band per MAC: from the first
// announcement to each change, the last band to the binding's last
// announcement.
func arpLane(b *analyze.Binding, sc scale, captureEnd time.Time) laneView {
	l := laneView{Kind: "arp", Label: "ARP " + b.IP.String(), Attrs: []attr{{"data-ip", b.IP.String()},
		{"data-vlan", vlanAttrValue(b.VLAN, b.SVLAN)}, {"data-changes", strconv.Itoa(len(b.History))}}}
	l.Sub = fmt.Sprintf("vlan %s, %s", vlanName(b.VLAN, b.SVLAN, b.RemoteSpan), finding.Plural(b.Changes, "change", "changes"))
	if b.NLB != "" {
		l.Sub += "; " + b.NLB
	}
	start, cur := b.FirstSeen, b.MAC
	if len(b.History) > 0 {
		cur = b.History[0].From
	}
	band := func(from, to time.Time, m addr.MAC) {
		x0, x1 := sc.x(from), sc.x(to)
		w := math.Max(x1-x0, 2)
		bv := bandView{X: x0, W: w, Fill: macColor(m), MAC: m.String(),
			Title: fmt.Sprintf("%v bound to %v from %s to %s", b.IP, m, from.Format("15:04:05.000"), to.Format("15:04:05.000"))}
		if w > 110 {
			bv.Label = m.String()
		}
		l.Bands = append(l.Bands, bv)
	}
	for _, ch := range b.History {
		band(start, ch.Time, cur)
		l.Marks = append(l.Marks, eventMark{X: sc.x(ch.Time), Event: "arp-change",
			Title: fmt.Sprintf("%s: %v moved from %v to %v (frame %d)", ch.Time.Format("15:04:05.000"), b.IP, ch.From, ch.To, ch.Frame)})
		start, cur = ch.Time, ch.To
	}
	band(start, b.LastSeen, cur)
	return l
}

func floodLane(f *analyze.Flood, tl analyze.TimelineAxis, sc scale) laneView {
	l := laneView{Kind: "flood", Class: "fl", Label: "to " + f.MAC.String(),
		Attrs: []attr{{"data-mac", f.MAC.String()}, {"data-verdict", f.Verdict}, {"data-vlan", vlanAttrValue(f.VLAN, f.SVLAN)}}}
	l.Sub = fmt.Sprintf("%s (%s), %.1f/s, peak %d/s", f.Verdict, f.Basis, f.FPS, f.PeakFPS)
	if f.Verdict == analyze.VerdictFlooding {
		l.Class = "fl flooding"
	}
	l.Bars = bars(f.Activity, tl, sc, math.Max(float64(f.PeakFPS), 1), true)
	return l
}

// igmpLanes draws, for an IGMP-mode cluster, each host's membership of
// the cluster's group (or that it never reported it), members that are not
// hosts, and the queriers of the VLAN.
func igmpLanes(r *analyze.Report, c *analyze.Cluster, sc scale, cluster attr) []laneView {
	var group *analyze.IGMPGroup
	for i := range r.IGMPGroups {
		g := &r.IGMPGroups[i]
		if g.VLAN == c.VLAN && g.SVLAN == c.SVLAN && g.Group == c.IGMPGroup {
			group = g
		}
	}
	var out []laneView
	used := map[netip.Addr]bool{}
	member := func(label string, m *analyze.IGMPMember) laneView {
		l := laneView{Kind: "igmp-member", Label: label, Attrs: []attr{cluster, {"data-group", c.IGMPGroup.String()}}}
		if m == nil {
			l.Attrs = append(l.Attrs, attr{"data-joined", "false"})
			l.Sub = "never reported " + c.IGMPGroup.String()
			l.Note = "no IGMP report for " + c.IGMPGroup.String() + " from this host"
			return l
		}
		used[m.IP] = true
		l.Attrs = append(l.Attrs, attr{"data-joined", "true"}, attr{"data-member", m.IP.String()})
		l.Sub = fmt.Sprintf("%v, IGMPv%d, %s, %s", m.IP, m.Version, finding.Plural(m.Reports, "report", "reports"), m.State())
		end := m.LastSeen.Add(igmp.MembershipTimeout)
		if end.After(r.Capture.End) {
			end = r.Capture.End
		}
		joined := m.FirstSeen
		for _, ev := range m.History {
			if ev.Join {
				joined = ev.Time
				l.Marks = append(l.Marks, eventMark{X: sc.x(ev.Time), Event: "igmp-join",
					Title: fmt.Sprintf("%s: %v joined %v (frame %d)", ev.Time.Format("15:04:05.000"), m.IP, c.IGMPGroup, ev.Frame)})
				continue
			}
			l.Bands = append(l.Bands, bandView{X: sc.x(joined), W: math.Max(sc.x(ev.Time)-sc.x(joined), 2), Fill: "#59a14f",
				Title: fmt.Sprintf("member of %v from %s to %s", c.IGMPGroup, joined.Format("15:04:05"), ev.Time.Format("15:04:05"))})
			joined = time.Time{}
			l.Marks = append(l.Marks, eventMark{X: sc.x(ev.Time), Event: "igmp-leave",
				Title: fmt.Sprintf("%s: %v left %v (frame %d)", ev.Time.Format("15:04:05.000"), m.IP, c.IGMPGroup, ev.Frame)})
		}
		if !joined.IsZero() && !m.Left {
			l.Bands = append(l.Bands, bandView{X: sc.x(joined), W: math.Max(sc.x(end)-sc.x(joined), 2), Fill: "#59a14f",
				Title: fmt.Sprintf("member of %v from %s, last report %s", c.IGMPGroup, joined.Format("15:04:05"), m.LastSeen.Format("15:04:05"))})
		}
		return l
	}
	for _, h := range c.Hosts {
		var m *analyze.IGMPMember
		if group != nil {
			for i := range group.Members {
				gm := &group.Members[i]
				if (h.DedicatedIP.IsValid() && gm.IP == h.DedicatedIP) || gm.MAC == h.MAC {
					m = gm
				}
			}
		}
		out = append(out, member(fmt.Sprintf("IGMP host %d", h.Priority), m))
	}
	if group != nil {
		for i := range group.Members {
			if len(out) >= htmlMaxMembers {
				break
			}
			if gm := &group.Members[i]; !used[gm.IP] {
				out = append(out, member("IGMP "+gm.IP.String(), gm))
			}
		}
	}
	queriers := 0
	for i := range r.Queriers {
		q := &r.Queriers[i]
		if q.VLAN != c.VLAN || q.SVLAN != c.SVLAN {
			continue
		}
		queriers++
		l := laneView{Kind: "querier", Class: "q", Label: "querier " + q.IP.String(),
			Attrs: []attr{cluster, {"data-querier", q.IP.String()}},
			Sub:   fmt.Sprintf("IGMPv%d, %s", q.Version, finding.Plural(q.Queries, "query", "queries"))}
		l.Bars = bars(q.Activity, r.Timeline, sc, 1, false)
		out = append(out, l)
	}
	if queriers == 0 {
		out = append(out, laneView{Kind: "querier", Label: "querier", Attrs: []attr{cluster, {"data-querier", ""}},
			Sub: "none seen", Note: "no IGMP query on this VLAN: memberships age out"})
	}
	return out
}
