package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/capture"
)

func init() {
	register(command{name: "watch", summary: "capture live on an interface (span or access port), stream findings, report on exit",
		synopsis: watchSynopsis, example: watchExamples,
		flags: func() *pflag.FlagSet { return watchFlagSet(io.Discard, new(watchFlags), new(analysisFlags)) }, run: runWatch})
}

// watchMemoryLimit is the soft limit of the Go heap during a watch.
const watchMemoryLimit = 96 << 20

// watchFlags are watch's own flags; the analysis flags are shared with read.
type watchFlags struct {
	iface        string
	duration     time.Duration
	interval     time.Duration
	jsonStream   bool
	write        string
	writeAll     bool
	writeMaxSize string
	writeFiles   int
	metrics      string
	snaplen      int
	all          bool
	ringSize     string
	noPromisc    bool
	neighEvery   time.Duration
	list         bool
	count        uint64
	// filter is the capture filter given after the flags.
	filter string
}

const watchExamples = "  sudo nlbprobe watch -i eth1                                # a span port: stream findings, report on Ctrl-C\n" +
	"  nlbprobe watch -i eth1 --vantage nonmember --duration 10m   # an access port with no NLB node\n" +
	"  nlbprobe watch -i eth1 --json-stream --write evidence.pcapng --metrics-listen :9716"

const watchSynopsis = "watch -i IFACE [flags] [EXPRESSION]"

// watchFlagSet builds watch's FlagSet, bound to wf and af.
func watchFlagSet(stderr io.Writer, wf *watchFlags, af *analysisFlags) *pflag.FlagSet {
	fs := newFlagSet("watch", stderr)
	fs.StringVarP(&wf.iface, "interface", "i", "", "the interface to capture on (required): a span/mirror port, or an access port")
	fs.BoolVarP(&wf.list, "list-interfaces", "D", false, "list the interfaces with their state and MTU, as tcpdump -D, and exit")
	fs.Uint64VarP(&wf.count, "count", "c", 0, "stop after this many frames (those that passed the filters) and report (0: no limit)")
	fs.DurationVar(&wf.duration, "duration", 0, "stop after this long and report (default: until Ctrl-C or SIGTERM)")
	fs.DurationVar(&wf.interval, "interval", 10*time.Second, "print a status line this often (0: never)")
	af.register(fs)
	fs.BoolVar(&wf.jsonStream, "json-stream", false, "print JSON lines: one object per finding as it is raised or updated, one per status, the report last (see README)")
	fs.StringVarP(&wf.write, "write", "w", "", "save the frames behind each finding (with --write-all: every frame captured) to this pcapng file")
	fs.BoolVar(&wf.writeAll, "write-all", false, "with --write: save every frame that passed the filter, not only the evidence")
	fs.StringVar(&wf.writeMaxSize, "write-max-size", "100MB", "with --write: start a new file (NAME.1.pcapng, NAME.2.pcapng...) past this size (0: never)")
	fs.IntVar(&wf.writeFiles, "write-files", 10, "with --write: keep at most this many files, dropping the oldest rotated one, never the first (0: keep all)")
	fs.StringVar(&wf.metrics, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. :9716)")
	fs.IntVarP(&wf.snaplen, "snaplen", "s", capture.DefaultSnaplen, "bytes kept of each frame (0: all, as tcpdump -s 0)")
	fs.BoolVar(&wf.all, "all", false, "attach no kernel pre-filter: analyze every frame, not only ARP, IGMP, ICMP, 0x886F and frames to cluster MACs")
	fs.StringVar(&wf.ringSize, "ring-size", "64MiB", "size of the kernel capture ring: a bigger ring rides out longer bursts")
	fs.BoolVar(&wf.noPromisc, "no-promisc", false, "leave the interface out of promiscuous mode")
	fs.DurationVar(&wf.neighEvery, "neigh-every", 30*time.Second, "compare this host's static ARP entries with the wire this often (0: only at the end)")
	return fs
}

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var wf watchFlags
	var af analysisFlags
	fs := watchFlagSet(stderr, &wf, &af)
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "nlbprobe watch: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'nlbprobe watch --help' for usage.")
		return exitUsage
	}
	if wf.list {
		return listInterfaces(stdout, stderr)
	}
	if wf.snaplen == 0 {
		wf.snaplen = capture.DefaultSnaplen
	}
	switch {
	case wf.iface == "":
		return usage("give the interface to capture on with -i IFACE (there are: %s)", strings.Join(capture.InterfaceNames(), ", "))
	case af.json && wf.jsonStream:
		return usage("--json and --json-stream exclude each other")
	case wf.writeAll && wf.write == "":
		return usage("--write-all needs --write FILE")
	case wf.duration < 0 || wf.interval < 0 || wf.neighEvery < 0:
		return usage("durations must not be negative")
	}
	opts, failOn, ok := af.options("watch", stderr)
	if !ok {
		return exitUsage
	}
	ring, err := parseSize(wf.ringSize)
	if err != nil {
		return usage("--ring-size: %v", err)
	}
	maxSize, err := parseSize(wf.writeMaxSize)
	if err != nil {
		return usage("--write-max-size: %v", err)
	}

	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit on the Go heap: the engine's tables are bounded,
		// and this keeps the garbage collector from letting a flood's
		// churn double the heap on top of them (the ring is extra).
		debug.SetMemoryLimit(watchMemoryLimit)
	}
	w := &watcher{flags: wf, asJSON: af.json, html: af.html, stdout: stdout, stderr: stderr}
	w.out = newStreamer(stdout, stderr, af.json, wf.jsonStream, readBuildInfo().Version)
	opts.OnFinding = w.onFinding
	w.e = analyze.New(opts)

	// The arguments after the flags are a capture filter, as tcpdump
	// takes them (quoted or not).
	wf.filter = strings.Join(fs.Args(), " ")
	live, err := capture.OpenLive(capture.LiveConfig{Interface: wf.iface, Snaplen: wf.snaplen, All: wf.all,
		FilterExpr: wf.filter, RingSize: int(ring), NoPromiscuous: wf.noPromisc})
	var syntax *capture.FilterSyntaxError
	switch {
	case errors.As(err, &syntax):
		return usage("%q is not a capture filter (%s)", syntax.Expr, syntax.Msg)
	case err != nil:
		fmt.Fprintf(stderr, "nlbprobe watch: %v\n", err)
		return exitUsage
	}
	w.live = live
	if wf.write != "" {
		filter := capture.FilterExpression + " (and the same behind VLAN tags)"
		switch {
		case wf.all && wf.filter != "":
			filter = wf.filter
		case wf.all:
			filter = ""
		case wf.filter != "":
			filter = "(" + wf.filter + ") and (" + filter + ")"
		}
		pw, err := capture.CreateWriter(capture.WriterConfig{Path: wf.write, MaxSize: maxSize, MaxFiles: wf.writeFiles,
			Interface: wf.iface, Filter: filter, Snaplen: wf.snaplen,
			Comment: "nlbprobe watch -i " + wf.iface + evidenceNote(wf.writeAll)})
		if err != nil {
			live.Close()
			fmt.Fprintf(stderr, "nlbprobe watch: %v\n", err)
			return exitUsage
		}
		w.ev = newEvidenceWriter(pw, wf.writeAll)
	}
	if wf.metrics != "" {
		ln, err := net.Listen("tcp", wf.metrics)
		if err != nil {
			live.Close()
			fmt.Fprintf(stderr, "nlbprobe watch: --metrics-listen %s: %v\n", wf.metrics, err)
			return exitUsage
		}
		w.metrics = newMetrics(wf.iface, opts.Vantage.String())
		srv := &http.Server{Handler: w.metrics.handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(stderr, "nlbprobe watch: Prometheus metrics at http://%s/metrics\n", ln.Addr())
	}
	return w.run(ctx, failOn)
}

// listInterfaces prints the interfaces as tcpdump -D does, numbered, with
// what decides whether a capture there sees anything: up or down,
// carrier, MTU (a span port must take the monitored ports' largest
// frames) and the MAC.
func listInterfaces(stdout, stderr io.Writer) int {
	ifs, err := capture.Interfaces()
	if err != nil {
		fmt.Fprintf(stderr, "nlbprobe watch: %v\n", err)
		return exitUsage
	}
	for _, in := range ifs {
		var state []string
		switch {
		case !in.Up:
			state = append(state, "down")
		case in.NoCarrier:
			state = append(state, "up", "no carrier")
		default:
			state = append(state, "up", "running")
		}
		if in.Loopback {
			state = append(state, "loopback")
		}
		if in.Promiscuity > 0 {
			state = append(state, "promiscuous")
		}
		mac := ""
		if len(in.MAC) > 0 {
			mac = "  " + in.MAC.String()
		}
		fmt.Fprintf(stdout, "%d.%s [%s]  MTU %d  %s%s\n", in.Index, in.Name, strings.Join(state, ", "), in.MTU, in.Type, mac)
	}
	return exitOK
}

func evidenceNote(all bool) string {
	if all {
		return ": every frame that passed the filter"
	}
	return ": the frames behind each finding (packet comments say which), then up to " +
		strconv.Itoa(followBudget) + " later frames of its addresses"
}

// watcher is one run of watch. Everything in it belongs to the goroutine
// that runs the capture loop: the engine is not safe for concurrent use,
// so the metrics server reads snapshots the loop publishes, and the
// neighbour table is read elsewhere and handed over through a channel.
type watcher struct {
	flags          watchFlags
	asJSON         bool
	html           string // --html: the page written every status interval and at the end
	stdout, stderr io.Writer

	live    *capture.Live
	e       *analyze.Engine
	out     *streamer
	ev      *evidenceWriter
	metrics *metrics

	stop    atomic.Bool
	reason  atomic.Value // string: why the loop stopped
	kstats  capture.LiveStats
	kerr    error
	started time.Time

	// lastStats is the engine's counters after the previous frame, to
	// attribute each frame's bytes to its protocol for the metrics.
	lastStats  analyze.Stats
	protoBytes protocolBytes
	// staticARP is the latest reading of the permanent neighbour entries.
	staticARP []staticARPEntry

	status statusState
	// now is the capture time of what the engine is given (the frame's
	// time stamp, or the clock when idle), never going back: the time of
	// the stream lines its findings raise.
	now time.Time
	// frames counts the frames analyzed, for -c.
	frames uint64
}

func (w *watcher) onFinding(f *finding.Finding, isNew bool) {
	w.out.finding(f, isNew, w.now)
	if w.ev != nil {
		w.ev.noteFinding(f, isNew)
	}
}

func (w *watcher) halt(reason string) {
	if w.stop.CompareAndSwap(false, true) {
		w.reason.Store(reason)
	}
}

func (w *watcher) run(ctx context.Context, failOn *finding.Severity) int {
	info := w.live.Info()
	w.started = time.Now()
	filter := "pre-filter: ARP, IGMP, ICMP, ethertype 0x886F and frames to cluster MACs"
	if w.flags.all {
		filter = "no pre-filter (--all)"
	}
	if w.flags.filter != "" {
		filter += fmt.Sprintf(", capture filter %q", w.flags.filter)
	}
	promisc := "promiscuous"
	if w.flags.noPromisc {
		promisc = "not promiscuous"
	}
	fmt.Fprintf(w.stderr, "nlbprobe watch: capturing on %s (index %d, %v, MTU %d), %s, snaplen %d, %s; Ctrl-C to stop and report\n",
		info.Name, info.Index, info.MAC, info.MTU, filter, w.flags.snaplen, promisc)
	if info.NoCarrier {
		fmt.Fprintf(w.stderr, "nlbprobe watch: warning: %s has no carrier (operational state %s): nothing arrives until the link comes up "+
			"(cable, switch port, span session)\n", info.Name, info.OperState)
	}

	// Stop on Ctrl-C/SIGTERM (ctx) or --duration; the loop notices within
	// a poll timeout.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			w.halt("interrupted")
		case <-done:
		}
	}()
	if w.flags.duration > 0 {
		t := time.AfterFunc(w.flags.duration, func() { w.halt("--duration reached") })
		defer t.Stop()
	}
	neigh := make(chan []capture.StaticNeighbour, 1)
	if w.flags.neighEvery > 0 {
		go readNeighbours(w.flags.iface, w.flags.neighEvery, neigh, done, w.stderr)
	}

	readErr := w.loop(neigh)
	if readErr == nil {
		readErr = w.drain()
	}
	// The ring is closed here, by the goroutine that read it; the kernel
	// drops the promiscuous membership with the socket.
	w.kstats, w.kerr = w.live.Stats()
	w.live.Close()
	now := time.Now()
	w.setNow(now)
	w.e.Advance(now)
	if w.kerr == nil {
		w.e.NoteCaptureDrops(counters(w.kstats), now)
	}
	if ents, err := capture.StaticNeighbours(w.flags.iface); err == nil {
		w.e.CheckStaticARP(staticNeighbors(ents))
	}
	r := w.e.Finish()
	w.describe(r)
	if w.ev != nil {
		var ks *capture.LiveStats
		if w.kerr == nil {
			ks = &w.kstats
		}
		if err := w.ev.close(ks); err != nil {
			fmt.Fprintf(w.stderr, "nlbprobe watch: %v\n", err)
		}
	}
	if w.metrics != nil {
		w.publish(r, now)
	}
	if err := w.out.report(r); err != nil {
		fmt.Fprintf(w.stderr, "nlbprobe watch: write report: %v\n", err)
		return exitUsage
	}
	if w.html != "" {
		if err := writeHTMLFile(w.html, r); err != nil {
			fmt.Fprintf(w.stderr, "nlbprobe watch: %v\n", err)
			return exitUsage
		}
	}
	reason, _ := w.reason.Load().(string)
	if readErr != nil {
		reason = "capture error"
	}
	mem := ""
	if rss, ok := peakRSS(); ok {
		mem = fmt.Sprintf(", peak memory %.1f MiB", float64(rss)/(1<<20))
	}
	fmt.Fprintf(w.stderr, "nlbprobe watch: stopped (%s) after %s: %s analyzed, kernel: %d received, %d dropped%s\n",
		reason, time.Since(w.started).Round(time.Millisecond), finding.Plural(r.Stats.Frames, "frame", "frames"),
		w.kstats.Received, w.kstats.Dropped, mem)
	if w.ev != nil {
		w.ev.summary(w.stderr)
	}
	if readErr != nil {
		fmt.Fprintf(w.stderr, "nlbprobe watch: %v (the report covers the frames before it)\n", readErr)
		return exitUsage
	}
	return exitFor(r, failOn)
}

// loop reads frames until the watcher is halted or the capture fails.
func (w *watcher) loop(neigh <-chan []capture.StaticNeighbour) error {
	var p capture.Packet
	lastTick := time.Now()
	w.status.reset(lastTick)
	for !w.stop.Load() {
		err := w.live.Next(&p)
		var now time.Time
		switch {
		case err == nil:
			w.frame(&p)
			// The kernel's time stamp is the wall clock: no clock read
			// per frame for the once-a-second work.
			now = p.Info.Timestamp
		case errors.Is(err, capture.ErrIdle):
			now = time.Now()
			w.setNow(now)
			w.e.Advance(now)
			if w.ev != nil {
				w.ev.after(nil)
			}
		default:
			return err
		}
		if now.Sub(lastTick) >= time.Second || now.Before(lastTick) {
			lastTick = now
			w.tick(now, neigh)
		}
	}
	return nil
}

// drainLimit bounds how long watch goes on reading frames the kernel
// already captured after it was told to stop.
const drainLimit = 250 * time.Millisecond

// drain analyzes the frames still in the ring when the watch stops (the
// kernel hands a block over up to 20 ms late), until the ring is empty or
// drainLimit has passed on a port that never goes quiet.
func (w *watcher) drain() error {
	var p capture.Packet
	deadline := time.Now().Add(drainLimit)
	for n := 0; ; n++ {
		if n&63 == 0 && time.Now().After(deadline) {
			return nil
		}
		if w.flags.count > 0 && w.frames >= w.flags.count {
			return nil
		}
		err := w.live.Next(&p)
		switch {
		case errors.Is(err, capture.ErrIdle):
			return nil
		case err != nil:
			return err
		}
		w.frame(&p)
	}
}

// frame analyzes one captured frame; with -c it halts the watch at the
// COUNTth.
func (w *watcher) frame(p *capture.Packet) {
	if w.flags.count > 0 {
		w.frames++
		if w.frames >= w.flags.count {
			w.halt(fmt.Sprintf("%d frames (-c)", w.flags.count))
		}
	}
	if w.ev != nil {
		w.ev.keep(p)
	}
	w.setNow(p.Info.Timestamp)
	w.e.Packet(p.Data, analyze.Meta{Frame: p.Frame, Time: p.Info.Timestamp, Length: p.Info.Length, LinkType: p.LinkType})
	if w.metrics != nil {
		w.countBytes(p.Info.Length)
	}
	if w.ev != nil {
		w.ev.after(p)
	}
}

// setNow advances w.now to t, never back: a frame stamped a few
// milliseconds before an idle poll's clock reading (the kernel hands a
// block over up to 20 ms late) keeps the lines in order.
func (w *watcher) setNow(t time.Time) {
	if t.After(w.now) {
		w.now = t
	}
}

// tick does the once-a-second work: kernel counters, evidence flush,
// static ARP entries, metrics and the status line.
func (w *watcher) tick(now time.Time, neigh <-chan []capture.StaticNeighbour) {
	if ks, err := w.live.Stats(); err == nil {
		w.kstats = ks
		w.e.NoteCaptureDrops(counters(ks), now)
	}
	select {
	case ents := <-neigh:
		w.checkStaticARP(ents)
	default:
	}
	if w.ev != nil {
		w.ev.flush(now, w.stderr)
	}
	var snap *analyze.Report
	if w.metrics != nil {
		snap = w.e.Snapshot()
		w.publish(snap, now)
	}
	if w.flags.interval > 0 && now.Sub(w.status.last) >= w.flags.interval {
		if snap == nil {
			snap = w.e.Snapshot()
		}
		w.out.status(w.status.line(snap, w.kstats, w.flags.iface, now))
		if w.html != "" {
			// The whole report, tables and timeline included: the page
			// is the report so far, replaced at once.
			r := w.e.Report()
			w.describe(r)
			if err := writeHTMLFile(w.html, r); err != nil {
				fmt.Fprintf(w.stderr, "nlbprobe watch: %v\n", err)
			}
		}
	}
}

// describe fills what the engine does not know of its report: the build
// and the capture source.
func (w *watcher) describe(r *analyze.Report) {
	r.NLBProbeVersion = readBuildInfo().Version
	r.Inputs = []analyze.Input{{Path: w.flags.iface, Format: "live (AF_PACKET TPACKET_V3)", LinkTypes: []string{"Ethernet"},
		Snaplen: uint32(w.flags.snaplen), Frames: r.Stats.Frames}}
}

func (w *watcher) publish(r *analyze.Report, now time.Time) {
	w.metrics.publish(metricsSnapshot{report: r, kernel: w.kstats, protoBytes: w.protoBytes, staticARP: w.staticARP, at: now})
}

// checkStaticARP compares the probe host's permanent neighbour entries with
// the wire, one entry at a time, so the metrics can say which of them is
// stale now (the findings keep what was ever stale).
func (w *watcher) checkStaticARP(ents []capture.StaticNeighbour) {
	// A new slice each time: the metrics' published snapshot holds the
	// previous one while scrapes read it.
	entries := make([]staticARPEntry, 0, len(ents))
	for _, n := range ents {
		stale := w.e.CheckStaticARP(staticNeighbors([]capture.StaticNeighbour{n})) > 0
		entries = append(entries, staticARPEntry{entry: n, stale: stale})
	}
	w.staticARP = entries
}

func counters(s capture.LiveStats) analyze.CaptureCounters {
	return analyze.CaptureCounters{Received: s.Received, Dropped: s.Dropped, Freezes: s.Freezes}
}

func staticNeighbors(ents []capture.StaticNeighbour) []analyze.StaticNeighbor {
	out := make([]analyze.StaticNeighbor, len(ents))
	for i, n := range ents {
		out[i] = analyze.StaticNeighbor{Interface: n.Interface, VLAN: n.VLAN, IP: n.IP, MAC: n.MAC}
	}
	return out
}

// readNeighbours reads the static neighbour entries every period and hands
// them to the capture loop, which owns the engine. A netlink dump takes a
// few milliseconds: too long to stall the capture for.
func readNeighbours(iface string, every time.Duration, out chan<- []capture.StaticNeighbour, done <-chan struct{}, stderr io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	warned := false
	for {
		ents, err := capture.StaticNeighbours(iface)
		switch {
		case err != nil && !warned:
			warned = true
			fmt.Fprintf(stderr, "nlbprobe watch: warning: cannot read the neighbour table, static ARP entries are not checked: %v\n", err)
		case err == nil:
			select {
			case out <- ents:
			default: // the loop has not taken the last one yet
			}
		}
		select {
		case <-t.C:
		case <-done:
			return
		}
	}
}

// protocolBytes counts wire bytes per protocol, as the engine classified
// each frame.
type protocolBytes struct {
	arp, arpOther, ipv4, igmp, heartbeat, nlbUnknown, other, malformed, unsupported uint64
}

// countBytes attributes the frame just analyzed to the protocol whose
// counter it raised.
func (w *watcher) countBytes(length int) {
	s := w.e.Stats()
	n := uint64(length)
	a, b := &w.lastStats, &s
	switch {
	case b.Protocols.Heartbeats != a.Protocols.Heartbeats:
		w.protoBytes.heartbeat += n
	case b.Protocols.ARP != a.Protocols.ARP:
		w.protoBytes.arp += n
	case b.Protocols.IGMP != a.Protocols.IGMP:
		w.protoBytes.igmp += n
	case b.Protocols.IPv4 != a.Protocols.IPv4:
		w.protoBytes.ipv4 += n
	case b.Protocols.ARPOther != a.Protocols.ARPOther:
		w.protoBytes.arpOther += n
	case b.Protocols.NLBUnknown != a.Protocols.NLBUnknown:
		w.protoBytes.nlbUnknown += n
	case b.Malformed != a.Malformed:
		w.protoBytes.malformed += n
	case b.Unsupported != a.Unsupported:
		w.protoBytes.unsupported += n
	default:
		w.protoBytes.other += n
	}
	w.lastStats = s
}

// statusState makes the periodic status line.
type statusState struct {
	last   time.Time
	frames uint64
}

func (s *statusState) reset(now time.Time) { s.last = now }

// statusLine is one status report, in text or JSON (the streamer stamps
// the type and versions).
type statusLine struct {
	Type             string    `json:"type"` // "status"
	SchemaVersion    int       `json:"schema_version"`
	NLBProbeVersion  string    `json:"nlbprobe_version"`
	Time             time.Time `json:"time"`
	Interface        string    `json:"interface"`
	Frames           uint64    `json:"frames"`
	Bytes            uint64    `json:"bytes"`
	FramesPerSecond  float64   `json:"frames_per_second"`
	ClusterMACFrames uint64    `json:"to_cluster_macs"`
	Clusters         int       `json:"clusters"`
	Hosts            int       `json:"hosts"`
	Findings         int       `json:"findings"`
	Worst            string    `json:"worst"` // the most severe finding's severity, "" when none
	KernelReceived   uint64    `json:"kernel_received"`
	KernelDrops      uint64    `json:"kernel_drops"`
}

func (s *statusState) line(r *analyze.Report, ks capture.LiveStats, iface string, now time.Time) statusLine {
	l := statusLine{Type: "status", Time: now.UTC(), Interface: iface, Frames: r.Stats.Frames, Bytes: r.Stats.Bytes,
		ClusterMACFrames: r.Stats.Protocols.ClusterMAC, Clusters: len(r.Clusters), Findings: len(r.Findings),
		KernelReceived: ks.Received, KernelDrops: ks.Dropped}
	if secs := now.Sub(s.last).Seconds(); secs > 0 {
		l.FramesPerSecond = float64(int64(float64(r.Stats.Frames-min(s.frames, r.Stats.Frames))/secs*10)) / 10
	}
	for _, c := range r.Clusters {
		l.Hosts += len(c.Hosts)
	}
	if len(r.Findings) > 0 {
		l.Worst = r.Findings[0].Severity.String() // sorted most severe first
	}
	s.last, s.frames = now, r.Stats.Frames
	return l
}

// parseSize reads a size such as 100MB, 64MiB, 1G or 4096 (bytes).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"k", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 100MB, 64MiB, 1G)", s)
	}
	return int64(n * float64(mult)), nil
}
