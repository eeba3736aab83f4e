package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
	"github.com/nlbprobe/nlbprobe/analyze/report"
	"github.com/nlbprobe/nlbprobe/capture"
)

func init() {
	register(command{
		name:     "mtu",
		summary:  "find the largest frame each path carries (DF-bit pings), black holes, jumbo mismatches",
		synopsis: mtuSynopsis,
		example:  mtuExample,
		flags:    func() *pflag.FlagSet { return mtuFlagSet(io.Discard, new(mtuFlags)) },
		run:      runMTU,
	})
}

const mtuSynopsis = "mtu TARGET... [--targets-file F] [--max N] [--expect N] [--timeout D] [--retries N] [--concurrency N] [--rate N] [--every D [--metrics-listen ADDR]] [--textfile PATH] [--json] [--fail-on SEVERITY]"

const mtuExample = `  nlbprobe mtu 198.51.100.11 198.51.100.12 --expect 9000
      one sweep; exit 1 if a path is a black hole, carries less than 9000, or a target is unreachable
  nlbprobe mtu --targets-file hyperv-hosts.txt --concurrency 16 --json
      one JSON object per target per line, for scripts
  nlbprobe mtu --targets-file hosts.txt --every 10m --expect 9000
      sweep every 10 minutes until stopped; print a line only when a path changes
  nlbprobe mtu --targets-file hosts.txt --every 10m --expect 9000 --metrics-listen :9717
      the same, with Prometheus metrics at http://HOST:9717/metrics
  nlbprobe mtu --targets-file hosts.txt --expect 9000 --textfile /var/lib/prometheus/node-exporter/nlbprobe-mtu.prom
      one sweep (from cron), its metrics written for node_exporter's textfile collector`

// mtuOptions are the parsed flags of `nlbprobe mtu`.
type mtuOptions struct {
	max         int
	expect      int
	timeout     time.Duration
	retries     int
	concurrency int
	rate        float64
	every       time.Duration
	json        bool
	failOn      finding.Severity
	// metricsListen and textfile say where the sweeps' Prometheus
	// metrics go: served over HTTP (with --every), written to a file.
	metricsListen string
	textfile      string
}

// mtuTarget is one target as the user named it. addr is set for an
// address; a host name is resolved at each sweep (so a renumbered host or a
// DNS outage is that sweep's result, not the end of the run); bad says why
// a target can never be probed (a malformed address).
type mtuTarget struct {
	label string
	addr  netip.Addr
	bad   string
}

// mtuFlags are the values mtu's flags set.
type mtuFlags struct {
	o                   mtuOptions
	targetsFile, failOn string
}

// mtuFlagSet builds mtu's FlagSet, bound to f.
func mtuFlagSet(stderr io.Writer, f *mtuFlags) *pflag.FlagSet {
	fs := newFlagSet("mtu", stderr)
	o, targetsFile, failOn := &f.o, &f.targetsFile, &f.failOn
	fs.StringVar(targetsFile, "targets-file", "", "read targets from `FILE`, one per line (# starts a comment); - is stdin")
	fs.IntVar(&o.max, "max", 0, "largest IP packet size to try (default: the outgoing interface's MTU, which also caps it)")
	fs.IntVar(&o.expect, "expect", 0, "raise path-mtu-below-expected (an error) when a path carries less than `N` bytes (e.g. 9000 for Jumbo Packet 9014)")
	fs.DurationVar(&o.timeout, "timeout", pathmtu.DefaultTimeout, "how long to wait for an answer when silence decides the result")
	fs.IntVar(&o.retries, "retries", 2, "extra tries before silence counts as \"too big\" or \"dead\"")
	fs.IntVar(&o.concurrency, "concurrency", 8, "targets probed at once (one probe in flight per target)")
	fs.Float64Var(&o.rate, "rate", capture.DefaultRate, "most probes per second over all targets")
	fs.DurationVar(&o.every, "every", 0, "sweep again every `D` (e.g. 10m) until stopped; print only changes")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "with --every, serve Prometheus metrics of the last sweep at http://`ADDR`/metrics (e.g. :9717)")
	fs.StringVar(&o.textfile, "textfile", "", "after each sweep, write its Prometheus metrics to `PATH` for node_exporter's textfile collector (atomically: a temporary file in the same directory, renamed)")
	fs.BoolVar(&o.json, "json", false, "one JSON object per target per sweep, one per line (and a summary per sweep with --every)")
	fs.StringVar(failOn, "fail-on", "error", "exit 1 when a finding at or above this severity occurred (info, warning, error)")
	return fs
}

func runMTU(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var mf mtuFlags
	fs := mtuFlagSet(stderr, &mf)
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	o, targetsFile, failOn := mf.o, mf.targetsFile, mf.failOn
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "nlbprobe mtu: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'nlbprobe mtu --help' for usage.")
		return exitUsage
	}
	var err error
	if o.failOn, err = finding.ParseSeverity(failOn); err != nil {
		return usage("--fail-on: %v", err)
	}
	switch {
	case o.max != 0 && o.max < pathmtu.MinIPv4:
		return usage("--max %d is below the smallest IPv4 MTU (%d)", o.max, pathmtu.MinIPv4)
	case o.expect < 0:
		return usage("--expect must not be negative")
	case o.timeout <= 0:
		return usage("--timeout must be positive")
	case o.retries < 0:
		return usage("--retries must not be negative")
	case o.concurrency < 1:
		return usage("--concurrency must be at least 1")
	case o.rate <= 0:
		return usage("--rate must be positive")
	case o.every < 0:
		return usage("--every must not be negative")
	case o.metricsListen != "" && o.every == 0:
		return usage("--metrics-listen needs --every: a single sweep ends before a scrape (use --textfile for one-shot sweeps)")
	}
	if o.textfile != "" {
		if err := checkTextfileDir(o.textfile); err != nil {
			return usage("--textfile: %v", err)
		}
	}
	names := fs.Args()
	if targetsFile != "" {
		more, err := readTargetsFile(targetsFile)
		if err != nil {
			return usage("%v", err)
		}
		names = append(names, more...)
	}
	if len(names) == 0 {
		return usage("no target: name one or more, or use --targets-file")
	}
	targets := parseTargets(names)

	prober := capture.NewProber(capture.ProberConfig{Rate: o.rate})
	defer prober.Close()
	if err := openProber(prober, targets); err != nil {
		fmt.Fprintf(stderr, "nlbprobe mtu: %v\n", err)
		return exitUsage
	}
	build := readBuildInfo()
	m := &mtuRun{opts: o, prober: prober, stdout: stdout, stderr: stderr, version: build.Version, last: map[string]mtuState{}}
	if o.metricsListen != "" || o.textfile != "" {
		m.metrics = newMTUMetrics(build, o.expect, o.every)
	}
	if o.metricsListen != "" {
		ln, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			fmt.Fprintf(stderr, "nlbprobe mtu: --metrics-listen %s: %v\n", o.metricsListen, err)
			return exitUsage
		}
		srv := &http.Server{Handler: m.metrics.handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(stderr, "nlbprobe mtu: Prometheus metrics at http://%s/metrics\n", ln.Addr())
	}
	return m.loop(ctx, targets)
}

// checkTextfileDir makes sure the --textfile's directory takes the
// temporary file a write starts with, so that a wrong path is a usage
// error at once rather than a failed write after the first sweep.
func checkTextfileDir(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// readTargetsFile reads one or more targets per line; # starts a comment.
func readTargetsFile(path string) ([]string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("targets file: %w", err)
		}
		defer f.Close()
		r = f
	}
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		out = append(out, strings.Fields(line)...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("targets file %s: %w", path, err)
	}
	return out, nil
}

// parseTargets turns names into targets, in order and without duplicates.
// Something that looks like an address must be one, or it is a bad target
// (reported as that target's result, so that one typo in a targets file
// does not stop the others from being measured); anything else is a host
// name, resolved at each sweep.
func parseTargets(names []string) []mtuTarget {
	var out []mtuTarget
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		t := mtuTarget{label: name}
		if a, err := netip.ParseAddr(name); err == nil {
			t.addr = a.Unmap()
		} else if strings.Trim(name, "0123456789.") == "" || strings.Contains(name, ":") {
			t.bad = fmt.Sprintf("bad target %q: not an IP address", name)
		}
		out = append(out, t)
	}
	return out
}

// resolveTimeout bounds one target's name lookup.
const resolveTimeout = 5 * time.Second

// resolve returns the address t is probed at in this sweep: its address,
// or its name's first address.
func resolve(ctx context.Context, t mtuTarget) (netip.Addr, error) {
	if t.addr.IsValid() {
		return t.addr, nil
	}
	lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(lctx, "ip", t.label)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("lookup %s: no address", t.label)
	}
	return addrs[0].Unmap(), nil
}

// openProber opens the sockets the targets need before any sweep, so that
// a missing privilege is one clear error (exit 2), not one per target.
// Names are not resolved yet: they are assumed IPv4 (if the IPv4 socket is
// refused for want of privilege, so is the IPv6 one).
func openProber(p *capture.Prober, targets []mtuTarget) error {
	done := map[bool]bool{}
	for _, t := range targets {
		if t.bad != "" {
			continue
		}
		a := t.addr
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
		}
		if done[a.Is6()] {
			continue
		}
		done[a.Is6()] = true
		s, err := p.Session(a)
		if err != nil {
			return err
		}
		s.Close()
	}
	return nil
}

// mtuResult is one target's outcome in one sweep: a line of `nlbprobe mtu
// --json`, whose contract is analyze/report/schema/mtu-result.schema.json.
// Every field is written, also when empty, so that consumers can index it.
type mtuResult struct {
	Type            string    `json:"type"` // "result"
	SchemaVersion   int       `json:"schema_version"`
	NLBProbeVersion string    `json:"nlbprobe_version"`
	Time            time.Time `json:"time"`
	Sweep           int       `json:"sweep"`
	Target          string    `json:"target"`
	// Address is what Target resolved to (the same for an address).
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	// PathMTU is the largest IP packet (header included) the path carried.
	PathMTU int `json:"path_mtu"`
	// FrameSize is PathMTU plus the 14-byte Ethernet header: the Ethernet
	// frame that carries it; 0 when the outgoing interface is not Ethernet
	// (loopback, a tunnel) or the target is unreachable.
	FrameSize int `json:"frame_size"`
	// JumboPacket is the Windows "Jumbo Packet" NIC setting that matches
	// the path (FrameSize when one does: 1514 to 16128), else 0.
	JumboPacket  int    `json:"jumbo_packet"`
	Interface    string `json:"interface"`
	InterfaceMTU int    `json:"interface_mtu"`
	Gateway      string `json:"gateway"`
	// Max is the largest size tried.
	Max        int            `json:"max"`
	Blackhole  bool           `json:"blackhole"`
	Method     pathmtu.Method `json:"method"`
	SilentAt   int            `json:"silent_at"`
	ReportedBy string         `json:"reported_by"`
	// ReportedMTU is the next-hop MTU the last ICMP too-big carried.
	ReportedMTU int     `json:"reported_mtu"`
	Incomplete  bool    `json:"incomplete"`
	Probes      int     `json:"probes"`
	ElapsedMS   float64 `json:"elapsed_ms"`
	// Error says why the target is unreachable or could not be probed.
	Error string `json:"error"`
	// TargetError is true when the target could not be probed at all: a
	// bad address, a name that does not resolve, no route, probes refused
	// by this host. Reachable is false then too.
	TargetError bool              `json:"target_error"`
	Findings    []finding.Finding `json:"findings"`

	// targetFix is the remedy of a target error, filled in by measure.
	targetFix string
	// ethernet is true when the outgoing interface frames in Ethernet.
	ethernet bool
}

// mtuState is what a scheduled sweep compares to tell that a path changed.
type mtuState struct {
	reachable, blackhole, incomplete, targetError bool
	pathMTU, interfaceMTU                         int
	method                                        pathmtu.Method
	iface, address                                string
}

func (r *mtuResult) state() mtuState {
	return mtuState{r.Reachable, r.Blackhole, r.Incomplete, r.TargetError, r.PathMTU, r.InterfaceMTU, r.Method, r.Interface, r.Address}
}

// mtuRun is one invocation of `nlbprobe mtu`: its sweeps, findings and
// output.
type mtuRun struct {
	opts           mtuOptions
	prober         *capture.Prober
	stdout, stderr io.Writer
	// version is the build's version, written into every JSON line.
	version string
	// metrics, when set, gets each complete sweep's results.
	metrics *mtuMetrics
	// worst is the most severe finding of the run so far, when found.
	worst *finding.Severity
	last  map[string]mtuState // per target, from the previous sweep
}

// loop runs one sweep, or with --every sweeps until ctx ends, and returns
// the exit code.
func (m *mtuRun) loop(ctx context.Context, targets []mtuTarget) int {
	for sweep := 1; ; sweep++ {
		start := time.Now()
		m.sweep(ctx, targets, sweep)
		if m.opts.every == 0 || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(time.Until(start.Add(m.opts.every)))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	return m.exitCode()
}

// exitCode is 1 when a finding at or above --fail-on was raised in any
// sweep, 0 otherwise.
func (m *mtuRun) exitCode() int {
	if m.worst != nil && *m.worst >= m.opts.failOn {
		return exitFindings
	}
	return exitOK
}

// sweep probes every target, at most --concurrency at a time, and prints
// the results in target order as soon as each one's predecessors are done.
func (m *mtuRun) sweep(ctx context.Context, targets []mtuTarget, n int) {
	start := time.Now()
	results := make([]*mtuResult, len(targets))
	ready := make(chan int)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(m.opts.concurrency, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := m.measure(ctx, targets[i])
				if ctx.Err() != nil {
					r = nil // interrupted: nothing to report
				}
				results[i] = r
				ready <- i
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range targets {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(ready) }()

	var sum mtuSweepSummary
	var reported []*mtuResult
	done := make([]bool, len(targets))
	next := 0
	for i := range ready {
		done[i] = true
		for next < len(targets) && done[next] {
			if r := results[next]; r != nil {
				r.Sweep = n
				m.report(r, &sum)
				reported = append(reported, r)
			}
			next++
		}
	}
	if m.metrics != nil && ctx.Err() == nil && len(reported) == len(targets) {
		m.metrics.publish(reported, time.Now(), time.Since(start))
		if m.opts.textfile != "" {
			if err := writeTextfile(m.opts.textfile, m.metrics.reg); err != nil {
				fmt.Fprintf(m.stderr, "nlbprobe mtu: %v\n", err)
			}
		}
	}
	if m.opts.every > 0 && m.opts.json && ctx.Err() == nil {
		sum.Type, sum.SchemaVersion, sum.NLBProbeVersion = "summary", report.SchemaVersion, m.version
		sum.Sweep, sum.Time, sum.Targets, sum.ExpectedMTU = n, start.UTC(), len(targets), m.opts.expect
		sum.ElapsedMS = ms(time.Since(start))
		m.printJSON(sum)
	}
	if m.opts.every == 0 && !m.opts.json {
		fmt.Fprintln(m.stdout, sum.text(m.opts.expect))
	}
}

// mtuSweepSummary is the line that ends each sweep of `--every --json`
// (analyze/report/schema/mtu-summary.schema.json). Its counts are named
// targets_* so that none can be taken for a result's boolean of the same
// word (reachable, blackhole, target_error).
type mtuSweepSummary struct {
	Type                 string    `json:"type"` // "summary"
	SchemaVersion        int       `json:"schema_version"`
	NLBProbeVersion      string    `json:"nlbprobe_version"`
	Sweep                int       `json:"sweep"`
	Time                 time.Time `json:"time"`
	ElapsedMS            float64   `json:"elapsed_ms"`
	ExpectedMTU          int       `json:"expected_mtu"`
	Targets              int       `json:"targets"`
	TargetsReachable     int       `json:"targets_reachable"`
	TargetsUnreachable   int       `json:"targets_unreachable"`
	TargetsTargetError   int       `json:"targets_target_error"`
	TargetsBlackhole     int       `json:"targets_blackhole"`
	TargetsBelowExpected int       `json:"targets_below_expected"`
	TargetsChanged       int       `json:"targets_changed"`
}

func (s mtuSweepSummary) text(expect int) string {
	out := fmt.Sprintf("%s: %d reachable, %s, %d unreachable, %d could not be probed",
		countOf(s.TargetsReachable+s.TargetsUnreachable+s.TargetsTargetError, "target"), s.TargetsReachable,
		countOf(s.TargetsBlackhole, "black hole"), s.TargetsUnreachable, s.TargetsTargetError)
	if expect > 0 {
		out += fmt.Sprintf(", %d below --expect %d", s.TargetsBelowExpected, expect)
	}
	return out
}

// measure runs one path-MTU search to t. Whatever goes wrong with this
// target (its name, its route, a probe this host refuses to send) is its
// result, so the other targets are still measured; only an interrupted
// run (ctx done) leaves a result the caller drops.
func (m *mtuRun) measure(ctx context.Context, t mtuTarget) *mtuResult {
	start := time.Now()
	r := &mtuResult{Time: start.UTC(), Target: t.label, Method: pathmtu.MethodSearch}
	defer func() { r.ElapsedMS = ms(time.Since(start)) }()
	fail := func(msg, fix string) *mtuResult {
		r.Error, r.targetFix, r.TargetError, r.Method = msg, fix, true, pathmtu.MethodNone
		return r
	}
	if t.bad != "" {
		return fail(t.bad, fmt.Sprintf("correct or remove %q in the targets: each must be an IPv4 or IPv6 address or a host name", t.label))
	}
	addr, err := resolve(ctx, t)
	if err != nil {
		return fail("cannot resolve the name: "+resolveErrText(err), fmt.Sprintf("check the name and this host's DNS: getent hosts %s", t.label))
	}
	r.Address = addr.String()
	rt, err := capture.RouteTo(addr)
	if err != nil {
		return fail("no route: "+errnoText(err), fmt.Sprintf("add a route to %s on this host (ip route get %s shows what is missing), or probe from a host on that network", addr, addr))
	}
	r.Interface, r.InterfaceMTU, r.ethernet = rt.Interface, rt.InterfaceMTU, rt.Ethernet
	if rt.Gateway.IsValid() {
		r.Gateway = rt.Gateway.String()
	}
	r.Max = rt.InterfaceMTU
	if addr.Is4() {
		r.Max = min(r.Max, 65535) // the IPv4 total length field (loopback says 65536)
	}
	if m.opts.max > 0 {
		r.Max = min(r.Max, m.opts.max)
	}
	search, err := pathmtu.New(pathmtu.Config{IPv6: addr.Is6(), Max: r.Max, Retries: m.opts.retries, Timeout: m.opts.timeout})
	if err != nil {
		return fail(err.Error(), fmt.Sprintf("give a --max of at least %d", baseSize(addr)))
	}
	sess, err := m.prober.Session(addr)
	if err != nil {
		return fail(err.Error(), "see the error: this host could not open the probe socket for "+r.Address)
	}
	defer sess.Close()
	for {
		p, ok := search.Next()
		if !ok {
			break
		}
		o, late, err := sess.Probe(ctx, p.Size, p.Wait)
		for _, l := range late {
			search.Observe(l)
		}
		if ctx.Err() != nil {
			return r
		}
		if err != nil {
			// The probe could not be sent (a local firewall rejecting
			// it, say): this target cannot be probed from here, and the
			// other targets go on.
			r.Probes = search.Result().Probes
			if errors.Is(err, syscall.EPERM) {
				return fail("cannot send probes: a firewall on this host drops them (sendto: operation not permitted)",
					"allow outgoing ICMP echo requests in this host's firewall (nft list ruleset shows the rule that drops them)")
			}
			return fail(err.Error(), "see the error: this host could not send the probe")
		}
		search.Observe(o)
	}
	res := search.Result()
	r.Reachable, r.PathMTU, r.Blackhole, r.Method = res.Reachable, res.PathMTU, res.Blackhole, res.Method
	r.SilentAt, r.ReportedMTU, r.Incomplete, r.Probes = res.SilentAt, res.ReportedMTU, res.Incomplete, res.Probes
	if res.ReportedBy.IsValid() {
		r.ReportedBy = res.ReportedBy.String()
	}
	if r.Reachable {
		r.setFrame()
	} else {
		switch {
		case res.UnreachableFrom.IsValid():
			r.Error = res.UnreachableFrom.String() + " says destination unreachable"
		case res.Incomplete:
			r.Error = fmt.Sprintf("no answer before the probe budget ran out (%d probes)", res.Probes)
		default:
			r.Error = fmt.Sprintf("no answer to %d-byte echo requests (%d probes)", min(r.Max, baseSize(addr)), res.Probes)
		}
	}
	return r
}

// resolveErrText is the resolver's reason without Go's "lookup NAME on
// SERVER:" prefix, which repeats the name the line already shows.
func resolveErrText(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "no such host"
		}
		if dnsErr.IsTimeout {
			return "the DNS server did not answer in time"
		}
		return dnsErr.Err
	}
	return err.Error()
}

// setFrame fills FrameSize and JumboPacket from PathMTU: only an Ethernet
// path has frames, and only a frame size a Windows NIC can be set to is a
// Jumbo Packet (not loopback's 65535-byte packets).
func (r *mtuResult) setFrame() {
	r.FrameSize, r.JumboPacket = 0, 0
	if !r.ethernet {
		return
	}
	r.FrameSize = pathmtu.FrameSize(r.PathMTU)
	if jp, ok := pathmtu.JumboPacket(r.PathMTU); ok {
		r.JumboPacket = jp
	}
}

func baseSize(a netip.Addr) int {
	if a.Is6() {
		return pathmtu.MinIPv6
	}
	return pathmtu.BaseIPv4
}

// errnoText is the kernel's words for a route lookup failure.
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// report raises r's findings, counts it in sum and prints it: always for a
// single sweep and in JSON, only on change for scheduled text sweeps.
func (m *mtuRun) report(r *mtuResult, sum *mtuSweepSummary) {
	r.Findings = mtuFindings(r, m.opts.expect)
	for _, f := range r.Findings {
		if m.worst == nil || f.Severity > *m.worst {
			sev := f.Severity
			m.worst = &sev
		}
	}
	r.Type, r.SchemaVersion, r.NLBProbeVersion = "result", report.SchemaVersion, m.version
	switch {
	case r.TargetError:
		sum.TargetsTargetError++
	case !r.Reachable:
		sum.TargetsUnreachable++
	default:
		sum.TargetsReachable++
		if r.Blackhole {
			sum.TargetsBlackhole++
		}
		if m.opts.expect > 0 && r.PathMTU < m.opts.expect {
			sum.TargetsBelowExpected++
		}
	}
	prev, seen := m.last[r.Target]
	changed := !seen || prev != r.state()
	m.last[r.Target] = r.state()
	if changed && seen {
		sum.TargetsChanged++
	}
	switch {
	case m.opts.json:
		m.printJSON(r)
	case m.opts.every == 0:
		fmt.Fprintln(m.stdout, mtuText(r, m.opts))
	case changed:
		line := mtuText(r, m.opts)
		if seen {
			line += " (was " + prev.text() + ")"
		}
		fmt.Fprintf(m.stdout, "%s %s\n", r.Time.Format(time.RFC3339), line)
	}
}

func (m *mtuRun) printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(m.stderr, "nlbprobe mtu: %v\n", err)
		return
	}
	m.stdout.Write(append(b, '\n'))
}

func (s mtuState) text() string {
	switch {
	case s.targetError:
		return "could not be probed"
	case !s.reachable:
		return "unreachable"
	case s.blackhole:
		return fmt.Sprintf("path MTU %d, black hole", s.pathMTU)
	}
	return fmt.Sprintf("path MTU %d by %s", s.pathMTU, s.method)
}

// mtuFindings returns the findings one result raises. Every one is an
// error: each means the sweep cannot vouch for a path it was asked to check
// (a black hole, less than the MTU the admin declared with --expect, a
// target that does not answer or cannot be probed), and a scheduled sweep
// exists to say so with its exit code under the default --fail-on error.
func mtuFindings(r *mtuResult, expect int) []finding.Finding {
	out := []finding.Finding{} // [] rather than null in JSON
	base := finding.Finding{Subject: r.Target, Time: r.Time, Evidence: []uint64{}, Count: 1, Severity: finding.Error,
		IPs: []netip.Addr{}, MACs: []addr.MAC{}}
	if addr, err := netip.ParseAddr(r.Address); err == nil {
		base.IPs = []netip.Addr{addr}
	}
	if r.TargetError {
		f := base
		f.Kind = finding.PathMTUTargetError
		f.Message = fmt.Sprintf("%s could not be probed: %s", r.Target, r.Error)
		f.Remedy = r.targetFix
		return append(out, f)
	}
	if !r.Reachable {
		f := base
		f.Kind = finding.PathMTUUnreachable
		f.Message = fmt.Sprintf("%s is unreachable, so its path MTU is unknown: %s", r.Target, r.Error)
		f.Remedy = "check that the host is up and that ICMP echo is allowed (Windows firewall: \"File and Printer Sharing (Echo Request)\")"
		return append(out, f)
	}
	if r.Blackhole {
		f := base
		f.Kind = finding.PathMTUBlackhole
		f.Message = fmt.Sprintf("packets over %d bytes (frames over %d) to %s vanish without an ICMP answer, while %s sends up to %d: large transfers (live migration, SMB) stall",
			r.PathMTU, pathmtu.FrameSize(r.PathMTU), r.Target, r.Interface, r.Max)
		f.Remedy = fmt.Sprintf("find the link set to %d (a switch port or NIC below the others) and raise it, or set the hosts to MTU %d", r.PathMTU, r.PathMTU)
		if r.JumboPacket > 0 {
			f.Remedy += fmt.Sprintf(" (Windows Jumbo Packet %d)", r.JumboPacket)
		}
		out = append(out, f)
	}
	if expect > 0 && r.PathMTU < expect {
		f := base
		f.Kind = finding.PathMTUBelowExpected
		f.Message = fmt.Sprintf("the path to %s carries %d bytes (frame %d), less than the expected %d (frame %d)",
			r.Target, r.PathMTU, pathmtu.FrameSize(r.PathMTU), expect, pathmtu.FrameSize(expect))
		f.Remedy = fmt.Sprintf("raise every link on the path to at least %d (switches: %d with a VLAN tag and FCS)", expect, pathmtu.TaggedFrameSize(expect))
		out = append(out, f)
	}
	return out
}

// mtuText is the one line a target gets in text output, with the jumbo
// arithmetic spelled out.
func mtuText(r *mtuResult, o mtuOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", r.Target)
	if r.Address != "" && r.Address != r.Target {
		fmt.Fprintf(&b, " (%s)", r.Address)
	}
	if r.TargetError {
		fmt.Fprintf(&b, ": could not be probed: %s", r.Error)
		return b.String()
	}
	if !r.Reachable {
		fmt.Fprintf(&b, ": unreachable: %s", r.Error)
		if r.Interface != "" {
			fmt.Fprintf(&b, " [via %s, %d probes, %s]", r.Interface, r.Probes, elapsed(r.ElapsedMS))
		}
		return b.String()
	}
	b.WriteString(": path MTU ")
	if r.Incomplete {
		b.WriteString("at least ")
	}
	fmt.Fprintf(&b, "%d", r.PathMTU)
	// The jumbo arithmetic where it means something: the Windows setting
	// for a frame a NIC can be set to, else the Ethernet frame sizes
	// (1400 is set as the IP MTU, not as a Jumbo Packet), and nothing at
	// all off Ethernet (loopback).
	switch {
	case r.JumboPacket > 0 && r.Incomplete:
		fmt.Fprintf(&b, " = Windows Jumbo Packet %d", r.JumboPacket)
	case r.JumboPacket > 0:
		fmt.Fprintf(&b, " = Windows Jumbo Packet %d (%d with a VLAN tag and FCS)", r.JumboPacket, pathmtu.TaggedFrameSize(r.PathMTU))
	case r.FrameSize > 0:
		fmt.Fprintf(&b, " (Ethernet frame %d, %d with a VLAN tag and FCS)", r.FrameSize, pathmtu.TaggedFrameSize(r.PathMTU))
	}
	if r.Incomplete {
		fmt.Fprintf(&b, "; gave up after %d probes (too much loss to confirm the next size up)", r.Probes)
	}
	fmt.Fprintf(&b, "; interface %s says %d", r.Interface, r.InterfaceMTU)
	switch {
	case r.Incomplete:
	case r.PathMTU >= r.InterfaceMTU:
		b.WriteString(": the whole path carries full-size frames")
	case r.PathMTU >= r.Max && o.max == 0 && r.Max == 65535:
		b.WriteString(": the largest IPv4 packet (65535) passes")
	case r.PathMTU >= r.Max:
		fmt.Fprintf(&b, ": every size tried passes (--max %d)", r.Max)
	case r.Blackhole:
		fmt.Fprintf(&b, ": packets over %d (frames over %d) are dropped silently: black hole", r.PathMTU, r.FrameSize)
	case r.Method == pathmtu.MethodICMP:
		fmt.Fprintf(&b, ": packets over %d are refused with ICMP by %s (next-hop MTU %d), so TCP adapts", r.PathMTU, r.ReportedBy, r.ReportedMTU)
	case r.Method == pathmtu.MethodLocal:
		fmt.Fprintf(&b, ": this host refuses packets over %d (a route MTU below the interface's)", r.PathMTU)
	}
	if o.expect > 0 && r.PathMTU < o.expect {
		fmt.Fprintf(&b, "; below --expect %d", o.expect)
		if jp, ok := pathmtu.JumboPacket(o.expect); ok {
			fmt.Fprintf(&b, " (Jumbo Packet %d)", jp)
		}
	}
	fmt.Fprintf(&b, " [%s, %d probes, %s]", r.Method, r.Probes, elapsed(r.ElapsedMS))
	return b.String()
}

// countOf is "1 target", "2 targets".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func elapsed(msec float64) string {
	d := time.Duration(msec * float64(time.Millisecond))
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}
