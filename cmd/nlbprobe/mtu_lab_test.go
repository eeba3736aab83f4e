package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// buildNLBProbe compiles the command into a temporary directory, so that
// the lab tests run the real binary inside namespaces with `ip netns exec`
// and exercise the CLI as a user would.
func buildNLBProbe(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go tool to build nlbprobe: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "nlbprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runNLBProbe runs the binary inside ns and returns stdout, stderr and the
// exit code, bounded to two minutes.
func runNLBProbe(t *testing.T, ns *netlab.NS, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run nlbprobe %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// decodeResults reads the --json lines: per-target results and, with
// --every, the sweep summaries, each validated against its schema.
func decodeResults(t *testing.T, out string) (results []mtuResult, sweeps []mtuSweepSummary) {
	t.Helper()
	validateMTUJSON(t, out)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		switch head.Type {
		case "result":
			var r mtuResult
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatal(err)
			}
			results = append(results, r)
		case "summary":
			var s mtuSweepSummary
			if err := json.Unmarshal(line, &s); err != nil {
				t.Fatal(err)
			}
			sweeps = append(sweeps, s)
		default:
			t.Errorf("line of unknown type %q: %s", head.Type, line)
		}
	}
	return results, sweeps
}

// tracepathResult is what tracepath concluded.
type tracepathResult struct {
	pmtu    int  // from the "Resume:" or "Too many hops:" line
	reached bool // the target answered
	out     string
}

var tracepathEnd = regexp.MustCompile(`(?m)^\s*(Resume|Too many hops): pmtu (\d+)`)

// runTracepath runs tracepath -n in ns, bounded by maxHops and a minute.
func runTracepath(t *testing.T, ns *netlab.NS, target string, maxHops int) tracepathResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := ns.Command(ctx, "tracepath", "-n", "-m", strconv.Itoa(maxHops), target).CombinedOutput()
	r := tracepathResult{out: string(out), reached: strings.Contains(string(out), "reached")}
	if m := tracepathEnd.FindStringSubmatch(r.out); m != nil {
		r.pmtu, _ = strconv.Atoi(m[2])
	} else {
		t.Logf("tracepath printed no final pmtu:\n%s", out)
	}
	return r
}

// routedLab builds client - router - server:
//
//	client eth0 (clientMTU) 10.0.1.1 -- 10.0.1.2 eth0 (clientMTU) router
//	router eth1 (routerMTU) 10.0.2.1 -- 10.0.2.2 eth0 (serverMTU) server
//
// and the same with fd00:1::/64 and fd00:2::/64. The client routes only
// 10.0.0.0/8 and fd00::/16 to the router (no default route), so other
// addresses have no route at all.
type routedLab struct {
	client, router, server *netlab.NS
}

func newRoutedLab(t *testing.T, clientMTU, routerMTU, serverMTU int) routedLab {
	t.Helper()
	lab := netlab.New(t)
	l := routedLab{client: lab.Namespace("client"), router: lab.Namespace("router"), server: lab.Namespace("server")}
	lab.Veth(l.client, "eth0", l.router, "eth0")
	lab.Veth(l.router, "eth1", l.server, "eth0")
	l.client.Link("eth0", clientMTU, "10.0.1.1/24", "fd00:1::1/64")
	l.router.Link("eth0", clientMTU, "10.0.1.2/24", "fd00:1::2/64")
	l.router.Link("eth1", routerMTU, "10.0.2.1/24", "fd00:2::1/64")
	l.server.Link("eth0", serverMTU, "10.0.2.2/24", "fd00:2::2/64")
	l.router.Sysctl("net.ipv4.ip_forward", "1")
	l.router.Sysctl("net.ipv6.conf.all.forwarding", "1")
	l.client.Route("10.0.0.0/8", "10.0.1.2")
	l.client.Route("fd00::/16", "fd00:1::2")
	l.server.Route("default", "10.0.2.1")
	l.server.Route("default", "fd00:2::1")
	return l
}

// dropFragNeeded makes the router a black hole: it still drops packets too
// big for its 1400 link, but the ICMP "fragmentation needed" it sends
// about them never leaves.
func (l routedLab) dropFragNeeded(t *testing.T) {
	t.Helper()
	netlab.RequireTool(t, "nft")
	l.router.MustRun("nft", "add", "table", "inet", "f")
	l.router.MustRun("nft", "add", "chain", "inet", "f", "out", "{ type filter hook output priority 0 ; }")
	l.router.MustRun("nft", "add", "rule", "inet", "f", "out", "icmp", "type", "destination-unreachable", "icmp", "code", "frag-needed", "drop")
}

// TestMTULab runs nlbprobe and tracepath side by side on each lab path and
// checks nlbprobe's verdict. Where tracepath differs, the case says why.
func TestMTULab(t *testing.T) {
	netlab.RequireRoot(t)
	netlab.RequireTool(t, "tracepath")
	bin := buildNLBProbe(t)

	type want struct {
		pathMTU, ifMTU int
		method         string
		blackhole      bool
		findings       []finding.Kind
	}
	tests := []struct {
		name string
		// lab builds the network and returns the namespace to run in.
		lab       func(t *testing.T) *netlab.NS
		target    string
		args      []string
		want      want
		wantCode  int
		tracepath tracepathResult // pmtu and reached; out unused
		// why tracepath differs from nlbprobe, when it does.
		why string
	}{
		{
			name:      "plain 1500 path",
			lab:       func(t *testing.T) *netlab.NS { return newRoutedLab(t, 1500, 1500, 1500).client },
			target:    "10.0.2.2",
			want:      want{pathMTU: 1500, ifMTU: 1500, method: "search"},
			tracepath: tracepathResult{pmtu: 1500, reached: true},
		},
		{
			name:   "router with a 1400 link that sends ICMP",
			lab:    func(t *testing.T) *netlab.NS { return newRoutedLab(t, 1500, 1400, 1400).client },
			target: "10.0.2.2",
			// 1400 is below the expected 1500: an error, which fails
			// the default --fail-on error.
			args:      []string{"--expect", "1500"},
			want:      want{pathMTU: 1400, ifMTU: 1500, method: "icmp", findings: []finding.Kind{finding.PathMTUBelowExpected}},
			wantCode:  exitFindings,
			tracepath: tracepathResult{pmtu: 1400, reached: true},
		},
		{
			name: "same router dropping its ICMP: black hole",
			lab: func(t *testing.T) *netlab.NS {
				l := newRoutedLab(t, 1500, 1400, 1400)
				l.dropFragNeeded(t)
				return l.client
			},
			target:    "10.0.2.2",
			want:      want{pathMTU: 1400, ifMTU: 1500, method: "search", blackhole: true, findings: []finding.Kind{finding.PathMTUBlackhole}},
			wantCode:  exitFindings,
			tracepath: tracepathResult{pmtu: 1500, reached: false},
			why: "tracepath learns the path MTU only from ICMP: its 1500-byte probes to the server vanish, so it keeps " +
				"the local MTU (1500) and never reaches the target; nlbprobe's smaller probes find 1400",
		},
		{
			name: "one L2 segment whose ends disagree (9000 and 1400)",
			lab: func(t *testing.T) *netlab.NS {
				lab := netlab.New(t)
				a, b := lab.Namespace("a"), lab.Namespace("b")
				lab.Veth(a, "eth0", b, "eth0")
				a.Link("eth0", 9000, "10.0.3.1/24")
				b.Link("eth0", 1400, "10.0.3.2/24")
				return a
			},
			target: "10.0.3.2",
			// A veth (like many NICs) accepts a frame up to its MTU plus
			// a VLAN tag's 4 bytes (the kernel's is_skb_forwardable), so
			// the segment really carries 1404-byte packets; b's 1400 MTU
			// only limits what b sends, and its replies are fragmented.
			want:      want{pathMTU: 1404, ifMTU: 9000, method: "search", blackhole: true, findings: []finding.Kind{finding.PathMTUBlackhole}},
			wantCode:  exitFindings,
			tracepath: tracepathResult{pmtu: 9000, reached: false},
			why: "there is no router to send ICMP, so tracepath's 9000-byte probes vanish and it reports the local MTU 9000; " +
				"nlbprobe finds the 1404 the receiving end accepts",
		},
		{
			name:      "9000 jumbo path",
			lab:       func(t *testing.T) *netlab.NS { return newRoutedLab(t, 9000, 9000, 9000).client },
			target:    "10.0.2.2",
			args:      []string{"--expect", "9000"},
			want:      want{pathMTU: 9000, ifMTU: 9000, method: "search"},
			tracepath: tracepathResult{pmtu: 9000, reached: true},
		},
		{
			name:      "unreachable target (the server's subnet, no such host)",
			lab:       func(t *testing.T) *netlab.NS { return newRoutedLab(t, 1500, 1500, 1500).client },
			target:    "10.0.2.99",
			want:      want{ifMTU: 1500, method: "search", findings: []finding.Kind{finding.PathMTUUnreachable}},
			wantCode:  exitFindings,
			tracepath: tracepathResult{pmtu: 1500, reached: false},
			why:       "tracepath walks hop by hop and stops at its hop limit; nlbprobe only asks whether the target answers",
		},
		{
			name: "local firewall drops the probes",
			lab: func(t *testing.T) *netlab.NS {
				netlab.RequireTool(t, "nft")
				l := newRoutedLab(t, 1500, 1500, 1500)
				l.client.MustRun("nft", "add", "table", "inet", "f")
				l.client.MustRun("nft", "add", "chain", "inet", "f", "out", "{ type filter hook output priority 0 ; }")
				l.client.MustRun("nft", "add", "rule", "inet", "f", "out", "icmp", "type", "echo-request", "drop")
				return l.client
			},
			target: "10.0.2.2",
			// sendto fails with EPERM: the target cannot be probed from
			// here, reported, not a crash or a missing line.
			want:      want{ifMTU: 1500, method: "none", findings: []finding.Kind{finding.PathMTUTargetError}},
			wantCode:  exitFindings,
			tracepath: tracepathResult{pmtu: 1500, reached: true},
			why:       "tracepath probes with UDP, which the firewall lets through; nlbprobe needs ICMP echo",
		},
		{
			name:      "IPv6 path with a 1400 link",
			lab:       func(t *testing.T) *netlab.NS { return newRoutedLab(t, 1500, 1400, 1400).client },
			target:    "fd00:2::2",
			want:      want{pathMTU: 1400, ifMTU: 1500, method: "icmp"},
			tracepath: tracepathResult{pmtu: 1400, reached: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := tt.lab(t)
			args := append([]string{"mtu", "--json", tt.target}, tt.args...)
			stdout, stderr, code := runNLBProbe(t, ns, bin, args...)
			results, _ := decodeResults(t, stdout)
			if len(results) != 1 {
				t.Fatalf("nlbprobe %v: %d results, want 1\nstdout:\n%s\nstderr:\n%s", args, len(results), stdout, stderr)
			}
			r := results[0]
			t.Logf("nlbprobe: path_mtu %d method %s blackhole %v reachable %v probes %d in %.1fms %s",
				r.PathMTU, r.Method, r.Blackhole, r.Reachable, r.Probes, r.ElapsedMS, r.Error)
			var kinds []finding.Kind
			for _, f := range r.Findings {
				kinds = append(kinds, f.Kind)
			}
			got := want{pathMTU: r.PathMTU, ifMTU: r.InterfaceMTU, method: string(r.Method), blackhole: r.Blackhole, findings: kinds}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("nlbprobe\n got %+v\nwant %+v\n%s", got, tt.want, stdout)
			}
			if r.Reachable != (tt.want.pathMTU > 0) || r.Interface != "eth0" || r.Target != tt.target {
				t.Errorf("reachable %v interface %q target %q, want %v eth0 %q", r.Reachable, r.Interface, r.Target, tt.want.pathMTU > 0, tt.target)
			}
			if tt.name == "local firewall drops the probes" && !strings.Contains(r.Error, "firewall on this host") {
				t.Errorf("error %q does not name the local firewall", r.Error)
			}
			if r.Reachable && r.FrameSize != r.PathMTU+14 {
				t.Errorf("frame_size %d, want path_mtu+14", r.FrameSize)
			}
			if wantJP := map[bool]int{true: r.PathMTU + 14}[r.PathMTU >= 1500]; r.JumboPacket != wantJP {
				t.Errorf("jumbo_packet %d, want %d (only 1500 and up has a Windows Jumbo Packet setting)", r.JumboPacket, wantJP)
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.wantCode, stderr)
			}

			// The same path in text form: one line, jumbo arithmetic.
			text, _, _ := runNLBProbe(t, ns, bin, append([]string{"mtu", tt.target}, tt.args...)...)
			t.Logf("text: %s", text)
			wantText := fmt.Sprintf("path MTU %d = Windows Jumbo Packet %d", tt.want.pathMTU, tt.want.pathMTU+14)
			if tt.want.pathMTU < 1500 {
				wantText = fmt.Sprintf("path MTU %d (Ethernet frame %d,", tt.want.pathMTU, tt.want.pathMTU+14)
			}
			if tt.want.pathMTU > 0 && !strings.Contains(text, wantText) {
				t.Errorf("text output without %q:\n%s", wantText, text)
			}

			tp := runTracepath(t, ns, tt.target, 4)
			t.Logf("tracepath: pmtu %d reached %v", tp.pmtu, tp.reached)
			if tp.pmtu != tt.tracepath.pmtu || tp.reached != tt.tracepath.reached {
				t.Errorf("tracepath: pmtu %d reached %v, want pmtu %d reached %v\n%s", tp.pmtu, tp.reached, tt.tracepath.pmtu, tt.tracepath.reached, tp.out)
			}
			if tp.pmtu != r.PathMTU && tt.why == "" {
				t.Errorf("tracepath says %d, nlbprobe %d, and the case does not say why", tp.pmtu, r.PathMTU)
			}
		})
	}
}

// TestMTULoopback sweeps the loopback interface of a namespace: its
// 65536 MTU carries the largest IPv4 packet, which no Ethernet frame and no
// Windows "Jumbo Packet" setting matches, so neither is mentioned.
func TestMTULoopback(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildNLBProbe(t)
	ns := netlab.New(t).Namespace("lo")
	text, stderr, code := runNLBProbe(t, ns, bin, "mtu", "127.0.0.1")
	t.Logf("text: %s", text)
	want := "127.0.0.1: path MTU 65535; interface lo says 65536: the largest IPv4 packet (65535) passes"
	if code != exitOK || !strings.Contains(text, want) || strings.Contains(text, "Jumbo") || strings.Contains(text, "frame") {
		t.Errorf("exit %d, text:\n%s\nwant exit 0 and %q, no Jumbo Packet or frame size\nstderr: %s", code, text, want, stderr)
	}
	out, _, _ := runNLBProbe(t, ns, bin, "mtu", "--json", "127.0.0.1")
	results, _ := decodeResults(t, out)
	if len(results) != 1 {
		t.Fatalf("%d results, want 1:\n%s", len(results), out)
	}
	if r := results[0]; r.PathMTU != 65535 || r.FrameSize != 0 || r.JumboPacket != 0 {
		t.Errorf("path_mtu %d frame_size %d jumbo_packet %d, want 65535, 0, 0", r.PathMTU, r.FrameSize, r.JumboPacket)
	}
}

// sweepLab is one client behind a router with five server links of
// different MTUs, ten addresses on each server: 50 targets.
//
//	link 1: 9000 both ends         -> path MTU 9000
//	link 2: 1500 both ends         -> 1500, reported by ICMP
//	link 3: 1400 both ends         -> 1400, reported by ICMP
//	link 4: router 9000, server 1500 (the L2 mismatch) -> black hole at 1504
//	link 5: 4000 both ends         -> 4000, reported by ICMP
func sweepLab(t *testing.T) (client *netlab.NS, targets []string, want map[string]want50) {
	t.Helper()
	lab := netlab.New(t)
	client = lab.Namespace("client")
	router := lab.Namespace("router")
	lab.Veth(client, "eth0", router, "eth0")
	client.Link("eth0", 9000, "10.0.1.1/24")
	router.Link("eth0", 9000, "10.0.1.2/24")
	router.Sysctl("net.ipv4.ip_forward", "1")
	client.Route("10.1.0.0/16", "10.0.1.2")
	links := []struct {
		routerMTU, serverMTU int
		want                 want50
	}{
		{9000, 9000, want50{9000, "search", false}},
		{1500, 1500, want50{1500, "icmp", false}},
		{1400, 1400, want50{1400, "icmp", false}},
		{9000, 1500, want50{1504, "search", true}},
		{4000, 4000, want50{4000, "icmp", false}},
	}
	want = map[string]want50{}
	for i, l := range links {
		k := i + 1
		server := lab.Namespace(fmt.Sprintf("s%d", k))
		dev := fmt.Sprintf("eth%d", k)
		lab.Veth(router, dev, server, "eth0")
		router.Link(dev, l.routerMTU, fmt.Sprintf("10.1.%d.1/24", k))
		var addrs []string
		for h := 10; h < 20; h++ {
			addr := fmt.Sprintf("10.1.%d.%d", k, h)
			addrs = append(addrs, addr+"/24")
			targets = append(targets, addr)
			want[addr] = l.want
		}
		server.Link("eth0", l.serverMTU, addrs...)
		server.Route("default", fmt.Sprintf("10.1.%d.1", k))
	}
	return client, targets, want
}

type want50 struct {
	pathMTU   int
	method    string
	blackhole bool
}

// TestMTUSweep50 sweeps 50 targets behind links of five MTUs, once one at
// a time and once all at once, checks every verdict both times and logs
// the wall times (no timed assertion beyond a generous sanity bound).
func TestMTUSweep50(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildNLBProbe(t)
	client, targets, want := sweepLab(t)
	var walls []time.Duration
	for _, conc := range []int{50, 1} {
		args := append([]string{"mtu", "--json", "--concurrency", strconv.Itoa(conc)}, targets...)
		start := time.Now()
		stdout, stderr, code := runNLBProbe(t, client, bin, args...)
		wall := time.Since(start)
		walls = append(walls, wall)
		results, _ := decodeResults(t, stdout)
		if len(results) != len(targets) {
			t.Fatalf("--concurrency %d: %d results, want %d\n%s", conc, len(results), len(targets), stderr)
		}
		probes := 0
		for i, r := range results {
			probes += r.Probes
			if r.Target != targets[i] {
				t.Errorf("--concurrency %d: result %d is %s, want %s (output must keep target order)", conc, i, r.Target, targets[i])
			}
			got := want50{r.PathMTU, string(r.Method), r.Blackhole}
			if got != want[r.Target] {
				t.Errorf("--concurrency %d: %s: got %+v, want %+v", conc, r.Target, got, want[r.Target])
			}
		}
		if code != exitFindings {
			t.Errorf("--concurrency %d: exit code %d, want 1 (black holes)", conc, code)
		}
		t.Logf("50-target sweep with --concurrency %d: %v wall, %d probes", conc, wall.Round(time.Millisecond), probes)
	}
	if walls[0] > 20*time.Second {
		t.Errorf("concurrent sweep took %v: the targets were not probed in parallel", walls[0])
	}
}

// TestMTUEvery runs scheduled sweeps over a path and a dead target,
// lowers the path's MTU in the middle, and stops the run with SIGINT:
// text mode prints the first sweep and then only the change; the dead
// target does not stop the sweeps; JSON mode prints every target every
// sweep and a summary per sweep.
func TestMTUEvery(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildNLBProbe(t)
	for _, jsonMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", jsonMode), func(t *testing.T) {
			l := newRoutedLab(t, 1500, 1400, 1400)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := []string{"mtu", "--every", "200ms", "--timeout", "200ms", "10.0.2.2", "10.0.2.99"}
			if jsonMode {
				args = append(args, "--json")
			}
			cmd := l.client.Command(ctx, bin, args...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			var out []string
			// read collects lines until one contains substr.
			read := func(substr string) {
				t.Helper()
				for {
					select {
					case line, ok := <-lines:
						if !ok {
							t.Fatalf("output ended before %q:\n%s\n%s", substr, strings.Join(out, "\n"), stderr.String())
						}
						out = append(out, line)
						if strings.Contains(line, substr) {
							return
						}
					case <-ctx.Done():
						t.Fatalf("no %q in time:\n%s", substr, strings.Join(out, "\n"))
					}
				}
			}
			if jsonMode {
				read(`"type":"summary"`) // one whole sweep
				read(`"type":"summary"`) // and a second
			} else {
				read("10.0.2.99")
				// Let two more sweeps pass unchanged before the change.
				time.Sleep(1500 * time.Millisecond)
			}
			l.router.MustRun("ip", "link", "set", "eth1", "mtu", "1300")
			l.server.MustRun("ip", "link", "set", "eth0", "mtu", "1300")
			// The result itself, not any "1300": a time stamp's
			// nanoseconds (10:00:53.513004836) matched once.
			if jsonMode {
				read(`"path_mtu":1300`)
			} else {
				read("path MTU 1300")
			}
			if jsonMode {
				// That sweep's summary: stopping at the next result
				// line lost the summary once.
				read(`"type":"summary"`)
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			for line := range lines {
				out = append(out, line)
			}
			err = cmd.Wait()
			t.Logf("output:\n%s", strings.Join(out, "\n"))
			if code := cmd.ProcessState.ExitCode(); code != exitFindings {
				t.Errorf("exit: %v, want 1 (an unreachable target is an error)\n%s", err, stderr.String())
			}
			if jsonMode {
				results, sweeps := decodeResults(t, strings.Join(out, "\n"))
				changed := 0
				for _, s := range sweeps {
					changed += s.TargetsChanged
					if s.Targets != 2 || s.TargetsReachable != 1 || s.TargetsUnreachable != 1 {
						t.Errorf("summary %+v, want 2 targets, 1 reachable, 1 unreachable", s)
					}
				}
				if len(sweeps) < 3 || changed != 1 {
					t.Errorf("%d sweep summaries with %d changes, want at least 3 and exactly 1", len(sweeps), changed)
				}
				if len(results) < 2*len(sweeps) {
					t.Errorf("%d results for %d sweeps, want both targets every sweep", len(results), len(sweeps))
				}
				return
			}
			// Text: the first sweep's two lines and the one change, nothing else.
			if len(out) != 3 || !strings.Contains(out[0], "path MTU 1400") || !strings.Contains(out[1], "unreachable") ||
				!strings.Contains(out[2], "path MTU 1300") || !strings.Contains(out[2], "(was path MTU 1400 by icmp)") {
				t.Errorf("text output: want the two targets then one change line, got:\n%s", strings.Join(out, "\n"))
			}
		})
	}
}
