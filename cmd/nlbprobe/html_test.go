package main

import (
	"context"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// requireChromium returns the headless browser the HTML tests load pages
// in; without it they skip, and under CI=true (where .ci/run installs the
// Debian package chromium) they fail.
func requireChromium(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed (.ci/run installs the Debian package chromium): %v", err)
		}
		t.Skipf("needs chromium (the Debian package) to load the HTML report: %v", err)
	}
	return path
}

// loadedPage is a page as headless Chromium loaded it.
type loadedPage struct {
	dom     *html.Node
	console []string // console messages (errors, blocked content)
	took    time.Duration
}

// loadInChromium opens the file in headless Chromium, in a profile of its
// own under the test's temporary directory, with no network service
// started, takes a screenshot (left in the temporary directory as
// shotName) and returns the DOM after load and the console messages. The
// page has no script, so any console message is an error: a blocked
// resource, a violation of its Content-Security-Policy.
func loadInChromium(t testing.TB, browser, file, shotName string) loadedPage {
	t.Helper()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(tmp, "profile"), "--enable-logging=stderr", "--v=0",
		"--hide-scrollbars", "--window-size=1280,2000", "--screenshot="+filepath.Join(tmp, shotName),
		"--dump-dom", "file://"+abs)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	p := loadedPage{took: time.Since(start)}
	if p.dom, err = html.Parse(strings.NewReader(stdout.String())); err != nil {
		t.Fatalf("chromium's DOM: %v", err)
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			p.console = append(p.console, line)
		}
	}
	if fi, err := os.Stat(filepath.Join(tmp, shotName)); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot: %v", err)
	}
	return p
}

// elements returns the elements of the DOM that have attribute name (with
// value, unless value is "").
func elements(n *html.Node, name, value string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == name && (value == "" || a.Val == value) {
					out = append(out, n)
					break
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func domAttr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func domText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// lanesOf returns the lanes of kind whose attribute name has value.
func lanesOf(p loadedPage, kind, name, value string) []*html.Node {
	var out []*html.Node
	for _, n := range elements(p.dom, "data-lane", kind) {
		if name == "" || domAttr(n, name) == value {
			out = append(out, n)
		}
	}
	return out
}

// findingKinds returns the kinds of the findings listed on the page and of
// those marked on the axis, each marker linked to its listed finding.
func findingKinds(t *testing.T, p loadedPage) (listed, marked []string) {
	t.Helper()
	ids := map[string]string{}
	for _, n := range elements(p.dom, "data-finding", "") {
		if n.Data == "section" {
			listed = append(listed, domAttr(n, "data-kind"))
			ids[domAttr(n, "id")] = domAttr(n, "data-kind")
		}
	}
	for _, n := range elements(p.dom, "data-finding", "") {
		if n.Data != "a" {
			continue
		}
		marked = append(marked, domAttr(n, "data-kind"))
		target := strings.TrimPrefix(domAttr(n, "href"), "#")
		if ids[target] != domAttr(n, "data-kind") {
			t.Errorf("the %s marker links to %q, which is not its finding", domAttr(n, "data-kind"), domAttr(n, "href"))
		}
	}
	slices.Sort(listed)
	slices.Sort(marked)
	return listed, marked
}

// TestHTMLInChromium writes the HTML report of four fixture scenarios with
// read --html, loads each in headless Chromium, and checks that the page
// loads without a console message and that the DOM holds what the capture
// shows: the lanes of the hosts, the gap and the changes, the bindings, the
// flooding verdict, the IGMP membership, and every finding listed and
// marked on the axis. Screenshots stay in the test's temporary directory.
func TestHTMLInChromium(t *testing.T) {
	browser := requireChromium(t)
	cases := []struct {
		scenario string
		check    func(t *testing.T, p loadedPage)
	}{
		{"migration", func(t *testing.T, p loadedPage) {
			if n := len(lanesOf(p, "host", "data-cluster", "10.50.0.100")); n != 2 {
				t.Errorf("%d host lanes, want 2", n)
			}
			host2 := lanesOf(p, "host", "data-priority", "2")
			if len(host2) != 1 {
				t.Fatalf("no lane of host 2")
			}
			gaps := elements(host2[0], "data-gap-seconds", "")
			if len(gaps) != 1 {
				t.Fatalf("host 2: %d gaps, want 1", len(gaps))
			}
			if s, _ := strconv.ParseFloat(domAttr(gaps[0], "data-gap-seconds"), 64); s < 20.9 || s > 21.1 {
				t.Errorf("host 2's gap is %.3f s, want 21", s)
			}
			if !strings.Contains(domText(gaps[0]), "21s") {
				t.Errorf("the gap is labelled %q", domText(gaps[0]))
			}
			if n := len(elements(host2[0], "data-event", "mac-change")); n != 1 {
				t.Errorf("host 2: %d MAC changes marked, want 1", n)
			}
			if n := len(elements(lanesOf(p, "host", "data-priority", "1")[0], "data-gap-seconds", "")); n != 0 {
				t.Errorf("host 1: %d gaps, want none", n)
			}
			arp := lanesOf(p, "arp", "data-ip", "10.50.0.12")
			if len(arp) != 1 || len(elements(arp[0], "data-event", "arp-change")) != 1 || len(elements(arp[0], "data-mac", "")) != 2 {
				t.Errorf("the binding of 10.50.0.12 is not drawn as two MACs and one move")
			}
		}},
		{"mode-change-residue", func(t *testing.T, p loadedPage) {
			if n := len(lanesOf(p, "host", "data-cluster", "10.0.0.50")); n != 2 {
				t.Errorf("%d host lanes, want 2", n)
			}
			if n := len(elements(p.dom, "data-event", "mode-change")); n < 2 {
				t.Errorf("%d mode changes marked, want one per host", n)
			}
			vip := lanesOf(p, "arp", "data-ip", "10.0.0.50")
			if len(vip) != 1 || len(elements(vip[0], "data-event", "arp-change")) < 2 {
				t.Errorf("the VIP's binding is not drawn with its change and the residue")
			}
			if n := len(elements(p.dom, "data-severity", "error")); n < 2 {
				t.Errorf("the nlb-mode-change error is not listed and marked: %d", n)
			}
		}},
		{"flooding-nonmember", func(t *testing.T, p loadedPage) {
			fl := lanesOf(p, "flood", "data-mac", "03:bf:0a:1e:00:64")
			if len(fl) != 1 || domAttr(fl[0], "data-verdict") != "flooding" {
				t.Errorf("no flooding lane for 03:bf:0a:1e:00:64")
			}
		}},
		{"igmp-member-missing", func(t *testing.T, p loadedPage) {
			if n := len(lanesOf(p, "igmp-member", "data-joined", "true")); n != 1 {
				t.Errorf("%d members that joined, want 1", n)
			}
			missing := lanesOf(p, "igmp-member", "data-joined", "false")
			if len(missing) != 1 || !strings.Contains(domText(missing[0]), "never reported 239.255.3.232") {
				t.Errorf("the host that never joined is not drawn as such")
			}
			if n := len(lanesOf(p, "querier", "", "")); n != 1 {
				t.Errorf("%d querier lanes", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			exp, err := fixtures.ReadExpect(filepath.Join(moduleRoot(), "fixtures", "captures", c.scenario+".expect.json"))
			if err != nil {
				t.Fatal(err)
			}
			page := filepath.Join(t.TempDir(), c.scenario+".html")
			args := append(append([]string{"read"}, exp.Args...), "--fail-on", "none", "--json", "--html", page,
				filepath.Join("fixtures", "captures", exp.Files[0]))
			out, stderr, code := nlbprobe(t, context.Background(), args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			p := loadInChromium(t, browser, page, c.scenario+".png")
			if len(p.console) > 0 {
				t.Errorf("console messages:\n%s", strings.Join(p.console, "\n"))
			}
			// Every finding of the report is listed and marked.
			var want []string
			for _, f := range decodeReport(t, out).Findings {
				want = append(want, string(f.Kind))
			}
			slices.Sort(want)
			listed, marked := findingKinds(t, p)
			if !slices.Equal(listed, want) || !slices.Equal(marked, want) {
				t.Errorf("findings listed %v, marked %v; the report has %v", listed, marked, want)
			}
			c.check(t, p)
		})
	}
}

// TestHTMLHostileNamesInChromium writes a capture whose extended
// heartbeats name a host with markup, quotes and a right-to-left override,
// under a file name with markup, reads it with read --html and loads the
// page in Chromium: the names show as text (the DOM has no script and the
// label reads back as sent), and the page logs nothing (an injected script
// would log "injected", and a blocked one a CSP violation).
func TestHTMLHostileNamesInChromium(t *testing.T) {
	browser := requireChromium(t)
	const name = `<script>console.error("injected")</script>"'` + "\u202Eevil"
	c := fixtures.NewCapture()
	vip := netip.MustParseAddr("10.9.0.100")
	for prio := uint8(1); prio <= 2; prio++ {
		nic := addr.MAC{0x00, 0x15, 0x5d, 0x09, 0x00, prio}
		ded := netip.AddrFrom4([4]byte{10, 9, 0, 100 + prio})
		src, dst := fixtures.HeartbeatAddrs(addr.ModeMulticast, vip, prio, nic)
		for s := range 10 {
			at := time.Duration(s)*time.Second + time.Duration(prio)*time.Millisecond
			c.Add(at, fixtures.Heartbeat{Priority: prio, Cluster: vip, Dedicated: ded, Convergence: 1}.Frame(src, dst))
			if s == 2 {
				c.Add(at+time.Millisecond, fixtures.ExtendedHeartbeat{Priority: prio, Cluster: vip, Dedicated: ded,
					HostName: name, IPs: []netip.Addr{ded}}.Frame(src, dst))
			}
		}
	}
	dir := t.TempDir()
	capFile := filepath.Join(dir, `<b>cap"'.pcap`)
	if err := c.WriteFile(capFile); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "hostile.html")
	if _, stderr, code := nlbprobe(t, context.Background(), "read", "--fail-on", "none", "--html", page, capFile); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p := loadInChromium(t, browser, page, "hostile.png")
	if len(p.console) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(p.console, "\n"))
	}
	var scripts, labels, files int
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch {
			case n.Data == "script" || n.Data == "b":
				scripts++
			case n.Data == "bdi" && domText(n) == "host 1 "+name:
				labels++
			case n.Data == "bdi" && domText(n) == capFile:
				files++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.dom)
	if scripts != 0 {
		t.Errorf("the DOM has %d elements made from the names", scripts)
	}
	if labels != 1 || files != 1 {
		t.Errorf("host 1's label read back %d times, the file name %d times; want once each", labels, files)
	}
}

// TestHTMLUncoveredInChromium reads two rotated files with a pause of
// 3m40s between them with read --html and loads the page in Chromium: the
// pause is shaded on the axis and on every lane, labelled, and drawn as no
// host's gap, so an empty stretch of a lane is not read as a silence.
func TestHTMLUncoveredInChromium(t *testing.T) {
	browser := requireChromium(t)
	first := fixtureBytes(t, "healthy-unicast.pcap")
	page := filepath.Join(t.TempDir(), "rotated.html")
	files := map[string][]byte{"ring-1.pcap": first, "ring-2.pcap": editPcap(t, first, 4*time.Minute, nil)}
	if _, code := readFiles(t, files, []string{"--html", page}, "ring-1.pcap", "ring-2.pcap"); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	p := loadInChromium(t, browser, page, "rotated.png")
	if len(p.console) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(p.console, "\n"))
	}
	var axis int
	for _, n := range elements(p.dom, "data-uncovered-seconds", "") {
		axis++
		if s, _ := strconv.ParseFloat(domAttr(n, "data-uncovered-seconds"), 64); math.Abs(s-220.093203) > 1e-6 {
			t.Errorf("uncovered for %v s, want 220.093203", s)
		}
		if !strings.Contains(domText(n), "not captured") || !strings.Contains(domText(n), "no input covers 10:00:19.936 to 10:04:00 UTC") {
			t.Errorf("the axis says %q", domText(n))
		}
	}
	hosts := lanesOf(p, "host", "", "")
	if axis != 1 || len(hosts) != 3 {
		t.Fatalf("uncovered %d times on the axis, %d host lanes; want 1 and 3", axis, len(hosts))
	}
	for _, l := range append(hosts, lanesOf(p, "arp", "", "")...) {
		if n := len(elements(l, "data-uncovered-start", "")); n != 1 {
			t.Errorf("lane %s %s: shaded %d times, want 1", domAttr(l, "data-lane"), domText(l)[:min(len(domText(l)), 40)], n)
		}
		if n := len(elements(l, "data-gap-seconds", "")); n != 0 {
			t.Errorf("lane %s: %d gaps over the pause", domAttr(l, "data-lane"), n)
		}
	}
}
