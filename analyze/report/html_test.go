package report_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/report"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// scenarioReport runs a fixture scenario through the engine.
func scenarioReport(t testing.TB, name string) *analyze.Report {
	t.Helper()
	sc, ok := fixtures.Lookup(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	c, exp := sc.Build()
	opts := analyze.Options{}
	for i, a := range exp.Args {
		if a == "--vantage" && i+1 < len(exp.Args) {
			opts.Vantage, _ = analyze.ParseVantage(exp.Args[i+1])
		}
	}
	e := analyze.New(opts)
	for i, r := range c.Records() {
		e.Packet(r.Frame, analyze.Meta{Frame: uint64(i + 1), Time: c.Start.Add(r.At), Length: len(r.Frame), LinkType: c.LinkType})
	}
	r := e.Finish()
	r.NLBProbeVersion = "(test)"
	r.Inputs = []analyze.Input{{Path: name + ".pcap", Format: "pcap", LinkTypes: []string{"Ethernet"}, Frames: r.Stats.Frames}}
	return r
}

func render(t testing.TB, r *analyze.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// walk calls f on every element of the parsed page.
func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attrOf(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

// hostile is what a capture can put where the page shows a name: markup,
// both quotes, an entity, and the right-to-left override that would turn
// the text after it around.
const hostile = "<script>alert(\"x\")</script><img src=x onerror=alert(1)>'&amp;\u202Eevil"

// TestHTMLEscapesCaptureStrings puts hostile strings in every field of the
// report that comes from a capture or the command line (a host name from
// an extended heartbeat, a file name, a finding's subject and message) and
// checks that the page shows them as text: no element, attribute or
// script comes from them, the text reads back as it was, and each sits in
// a bdi element, so a right-to-left override stays inside it.
func TestHTMLEscapesCaptureStrings(t *testing.T) {
	r := scenarioReport(t, "migration")
	r.Clusters[0].Hosts[0].HostName = hostile
	r.Inputs[0].Path = hostile + ".pcap"
	r.Findings[0].Subject = hostile
	r.Findings[0].Message = hostile
	r.Findings[0].Remedy = hostile
	out := render(t, r)
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var scripts, imgs, bdis int
	var hostLabel bool
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "script":
			scripts++
		case "img":
			imgs++
		case "bdi":
			if text(n) == hostile || text(n) == "host 1 "+hostile || text(n) == hostile+".pcap" {
				bdis++
			}
			hostLabel = hostLabel || text(n) == "host 1 "+hostile
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has an event handler attribute %s=%q", n.Data, a.Key, a.Val)
			}
		}
	})
	if scripts != 0 || imgs != 0 {
		t.Errorf("the page has %d script and %d img elements:\n%s", scripts, imgs, out)
	}
	if !hostLabel {
		t.Errorf("the host's label does not read %q as text", "host 1 "+hostile)
	}
	// The host label, the input, the finding's subject and message.
	if bdis < 4 {
		t.Errorf("%d hostile strings isolated in bdi elements, want at least 4", bdis)
	}
	if strings.Contains(out, "<script>") || strings.Contains(out, "<img src=x") {
		t.Error("the hostile markup is in the page unescaped")
	}
}

// TestHTMLSelfContained checks that the page loads nothing from anywhere:
// no script, no external reference, and a Content-Security-Policy that
// forbids them.
func TestHTMLSelfContained(t *testing.T) {
	out := render(t, scenarioReport(t, "igmp-member-missing"))
	if !strings.Contains(out, `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`) {
		t.Error("no Content-Security-Policy")
	}
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "script", "link", "img", "iframe", "object", "embed":
			t.Errorf("a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if (a.Key == "href" || a.Key == "src") && !strings.HasPrefix(a.Val, "#") {
				t.Errorf("<%s %s=%q>: a reference out of the page", n.Data, a.Key, a.Val)
			}
		}
	})
}

// lanes returns the lanes of the page by kind, as data-* attribute maps.
func lanes(t *testing.T, out string) map[string][]map[string]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]map[string]string{}
	walk(doc, func(n *html.Node) {
		if kind := attrOf(n, "data-lane"); kind != "" {
			m := map[string]string{}
			for _, a := range n.Attr {
				m[a.Key] = a.Val
			}
			got[kind] = append(got[kind], m)
		}
	})
	return got
}

// TestHTMLLanes checks the lanes of two scenarios without a browser: the
// migration's hosts with host 2's 21 s gap and MAC change, and the moved
// binding; the IGMP scenario's member who never joined and the querier.
func TestHTMLLanes(t *testing.T) {
	out := render(t, scenarioReport(t, "migration"))
	l := lanes(t, out)
	if len(l["host"]) != 2 || len(l["flood"]) != 1 {
		t.Fatalf("lanes %v", l)
	}
	if !strings.Contains(out, `data-gap-seconds="20.999"`) || strings.Count(out, `class="gap`) != 1 {
		t.Errorf("no single 21 s gap in the page")
	}
	if strings.Count(out, `data-event="mac-change"`) != 1 || strings.Count(out, `data-event="arp-change"`) != 1 {
		t.Errorf("want one MAC change of host 2 and one ARP move of 10.50.0.12")
	}
	var moved bool
	for _, a := range l["arp"] {
		moved = moved || (a["data-ip"] == "10.50.0.12" && a["data-changes"] == "1")
	}
	if !moved {
		t.Errorf("no lane for the binding of 10.50.0.12 that moved: %v", l["arp"])
	}

	l = lanes(t, render(t, scenarioReport(t, "igmp-member-missing")))
	joined := map[string]int{}
	for _, a := range l["igmp-member"] {
		joined[a["data-joined"]]++
	}
	if joined["true"] != 1 || joined["false"] != 1 || len(l["querier"]) != 1 {
		t.Errorf("IGMP lanes %v, querier %v", l["igmp-member"], l["querier"])
	}
}

// TestHTMLNoFrames renders the report of an empty capture.
func TestHTMLNoFrames(t *testing.T) {
	r := analyze.New(analyze.Options{}).Finish()
	out := render(t, r)
	if !strings.Contains(out, "No frames were read.") {
		t.Errorf("page of an empty capture:\n%s", out)
	}
}

// TestHTMLDownsampledNote checks that a capture longer than the timeline's
// buckets says on the page that bars were added together.
func TestHTMLDownsampledNote(t *testing.T) {
	r := scenarioReport(t, "migration")
	r.Timeline.Bucket = 16 * time.Second
	if out := render(t, r); !strings.Contains(out, "Each bar covers 16s of capture time") {
		t.Error("no downsampling note")
	}
}

// TestHTMLUncovered reads a capture as two files with a five-minute pause
// between them: the page shades the pause on the axis and on every lane,
// where it is, says what it is, and a capture without a pause has no
// shading.
func TestHTMLUncovered(t *testing.T) {
	sc, ok := fixtures.Lookup("migration")
	if !ok {
		t.Fatal("no scenario migration")
	}
	c, _ := sc.Build()
	recs := c.Records()
	half := len(recs) / 2
	const pause = 5 * time.Minute
	e := analyze.New(analyze.Options{Inputs: []string{"first.pcap", "second.pcap"}})
	var pauseStart, pauseEnd time.Time
	for i, r := range recs {
		at, input := c.Start.Add(r.At), 0
		if i >= half {
			at, input = at.Add(pause), 1
		}
		switch i {
		case 0, half:
			e.InputStart(input, at)
		case half - 1:
			e.InputEnd(0, at)
			pauseStart = at
		}
		if i == half {
			pauseEnd = at
		}
		e.Packet(r.Frame, analyze.Meta{Frame: uint64(i + 1), Time: at, Length: len(r.Frame), LinkType: c.LinkType, Input: input})
	}
	e.InputEnd(1, c.Start.Add(recs[len(recs)-1].At).Add(pause))
	r := e.Finish()
	if len(r.Capture.Uncovered) != 1 {
		t.Fatalf("uncovered %v, want the pause %v to %v", r.Capture.Uncovered, pauseStart, pauseEnd)
	}
	doc, err := html.Parse(strings.NewReader(render(t, r)))
	if err != nil {
		t.Fatal(err)
	}
	span := r.Capture.End.Sub(r.Capture.Start)
	wantX := float64(pauseStart.Sub(r.Capture.Start)) / float64(span) * 960
	wantW := float64(pauseEnd.Sub(pauseStart)) / float64(span) * 960
	var axis, inLanes, lanesSeen int
	var label, title string
	walk(doc, func(n *html.Node) {
		if attrOf(n, "data-lane") != "" {
			lanesSeen++
		}
		if n.Data != "g" || attrOf(n, "class") != "uncovered" {
			return
		}
		if attrOf(n, "data-uncovered-seconds") != "" {
			axis++
			label, title = text(n.FirstChild.NextSibling), text(n.LastChild)
		} else {
			inLanes++
		}
		if got := attrOf(n, "data-uncovered-start"); got != pauseStart.UTC().Format(time.RFC3339Nano) {
			t.Errorf("uncovered from %s, want %s", got, pauseStart.UTC().Format(time.RFC3339Nano))
		}
		rect := n.FirstChild
		var x, w float64
		if _, err := fmt.Sscan(attrOf(rect, "x"), &x); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscan(attrOf(rect, "width"), &w); err != nil {
			t.Fatal(err)
		}
		if math.Abs(x-wantX) > 1 || math.Abs(w-wantW) > 1 {
			t.Errorf("uncovered at x %.1f width %.1f, want %.1f and %.1f", x, w, wantX, wantW)
		}
	})
	if axis != 1 || lanesSeen == 0 || inLanes != lanesSeen {
		t.Errorf("uncovered on the axis %d times (want 1), on %d of %d lanes", axis, inLanes, lanesSeen)
	}
	if label != "not captured" || !strings.Contains(title, "no input covers") || !strings.Contains(title, "5m") {
		t.Errorf("axis label %q, title %q", label, title)
	}

	if out := render(t, scenarioReport(t, "migration")); strings.Contains(out, `class="uncovered"`) || strings.Contains(out, "not captured") {
		t.Error("a capture without a pause has uncovered time on its page")
	}
}
