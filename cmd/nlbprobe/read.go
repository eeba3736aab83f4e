package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/spf13/pflag"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/report"
	"github.com/nlbprobe/nlbprobe/capture"
)

func init() {
	register(command{name: "read", summary: "analyze pcap/pcapng capture files (also .gz), merged in time order",
		synopsis: readSynopsis, example: readExample,
		flags: func() *pflag.FlagSet { return readFlagSet(io.Discard, new(readFlags)) }, run: runRead})
}

const readSynopsis = "read [flags] FILE... [EXPRESSION]   (FILE - is standard input)"

const readExample = "  nlbprobe read capture.pcapng\n" +
	"  nlbprobe read --json --cluster 172.31.3.232 node1.pcap.gz node2.pcap > report.json\n" +
	"  nlbprobe read --vantage nonmember --fail-on warning access-port.pcap\n" +
	"  tcpdump -i eth0 -U -w - | nlbprobe read -"

// readFlags are read's flags.
type readFlags struct {
	af          analysisFlags
	files       []string
	count       uint64
	dedupWindow time.Duration
}

// readFlagSet builds read's FlagSet, bound to f.
func readFlagSet(stderr io.Writer, f *readFlags) *pflag.FlagSet {
	fs := newFlagSet("read", stderr)
	f.af.register(fs)
	fs.StringArrayVarP(&f.files, "file", "r", nil, "a capture file to read, as tcpdump -r spells it (repeatable; with the FILE arguments); - is standard input")
	fs.Uint64VarP(&f.count, "count", "c", 0, "stop after this many frames (that pass the filter), as tcpdump -c (0: read to the end)")
	fs.DurationVar(&f.dedupWindow, "dedup-window", capture.DefaultDedupWindow,
		"with several files: a frame with the same bytes as a frame of another file at most this far apart is a copy, counted once (0 keeps all)")
	return fs
}

// analysisFlags are the flags read and watch share.
type analysisFlags struct {
	json     bool
	html     string
	vantage  string
	clusters []string
	failOn   string
}

func (a *analysisFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&a.json, "json", false, "print the report as one JSON document (its JSON Schema: analyze/report/schema/report.schema.json in the source)")
	fs.StringVar(&a.html, "html", "", "also write the report as one self-contained HTML page to this file: the timeline of hosts, ARP bindings, flooding and IGMP with every finding (watch: rewritten every --interval and at the end)")
	fs.StringVar(&a.vantage, "vantage", "span", "where the capture was taken: span (a mirror, or unknown: flooding judged from the control plane) or nonmember (a port with no NLB node: frames to cluster MACs prove flooding)")
	fs.StringArrayVar(&a.clusters, "cluster", nil, "a cluster IP you expect to see (repeatable): reported if it leaves no trace")
	fs.StringVar(&a.failOn, "fail-on", "error", "exit 1 when a finding is at least this severe: info, warning, error or none")
}

// options turns the flags into engine options and the fail threshold; ok
// is false for a bad value, reported on stderr.
func (a *analysisFlags) options(cmd string, stderr io.Writer) (opts analyze.Options, failOn *finding.Severity, ok bool) {
	v, err := analyze.ParseVantage(a.vantage)
	if err != nil {
		fmt.Fprintf(stderr, "nlbprobe %s: --vantage %q: want span or nonmember\n", cmd, a.vantage)
		return opts, nil, false
	}
	opts.Vantage = v
	for _, s := range a.clusters {
		for _, part := range strings.Split(s, ",") {
			ip, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil || !ip.Is4() {
				fmt.Fprintf(stderr, "nlbprobe %s: --cluster %q is not an IPv4 address\n", cmd, part)
				return opts, nil, false
			}
			opts.Clusters = append(opts.Clusters, ip)
		}
	}
	if a.failOn != "none" {
		sev, err := finding.ParseSeverity(a.failOn)
		if err != nil {
			fmt.Fprintf(stderr, "nlbprobe %s: --fail-on %q: want info, warning, error or none\n", cmd, a.failOn)
			return opts, nil, false
		}
		failOn = &sev
	}
	return opts, failOn, true
}

// exitFor returns 1 when the report holds a finding at or above failOn.
func exitFor(r *analyze.Report, failOn *finding.Severity) int {
	if failOn == nil {
		return exitOK
	}
	for _, f := range r.Findings {
		if f.Severity >= *failOn {
			return exitFindings
		}
	}
	return exitOK
}

// writeReport prints the report as text or JSON.
func writeReport(w io.Writer, r *analyze.Report, asJSON bool) error {
	if !asJSON {
		return report.WriteText(w, r)
	}
	return report.WriteJSON(w, r, true, nil)
}

// readStdin is what `read -` reads: os.Stdin when nil (tests set it).
var readStdin io.Reader

func runRead(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var rf readFlags
	fs := readFlagSet(stderr, &rf)
	af := &rf.af
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	// Files from -r, as tcpdump takes them, then the arguments that name
	// files (or -, standard input); the rest is a capture filter.
	named, expr := splitCaptureArgs(fs.Args())
	files := append(slices.Clone(rf.files), named...)
	if len(files) == 0 {
		if expr != "" {
			if _, err := os.Stat(fs.Arg(0)); err != nil {
				fmt.Fprintf(stderr, "nlbprobe read: %v\n", err)
			}
		}
		fmt.Fprintln(stderr, "nlbprobe read: give one or more capture files (pcap or pcapng, optionally .gz; - for standard input), then optionally a capture filter")
		fmt.Fprintln(stderr, "Run 'nlbprobe read --help' for usage.")
		return exitUsage
	}
	opts, failOn, ok := af.options("read", stderr)
	if !ok {
		return exitUsage
	}
	// A file's clock does not jump by years or go back by minutes: such a
	// jump (a damaged file, captures joined out of order) ends the
	// analysis rather than turn into gaps and rates over it.
	opts.EndAtTimeJump = true
	if rf.dedupWindow < 0 || rf.dedupWindow > capture.MaxDedupWindow {
		fmt.Fprintf(stderr, "nlbprobe read: --dedup-window %v: want 0 to %v\n", rf.dedupWindow, capture.MaxDedupWindow)
		return exitUsage
	}
	src, err := capture.OpenFilesWith(files, capture.FileOptions{
		DedupWindow: rf.dedupWindow, MaxFrames: rf.count, Stdin: readStdin, Done: ctx.Done(),
	})
	if err != nil {
		if ctx.Err() != nil {
			// Ctrl-C while standard input had not even sent its header.
			fmt.Fprintf(stderr, "nlbprobe read: interrupted before the first frame: %v\n", err)
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "nlbprobe read: %v\n", err)
		return exitUsage
	}
	defer src.Close()
	var filter *capture.Filter
	if expr != "" {
		if filter, err = newReadFilter(expr, fs.Args()[len(named)], src.Inputs()); err != nil {
			fmt.Fprintf(stderr, "nlbprobe read: %v\n", err)
			return exitUsage
		}
		src.SetFilter(filter)
	}

	if len(files) > 1 {
		// Several files: the engine learns when each was capturing
		// (capture.InputEdge) and judges silences and rates by it.
		for _, path := range files {
			opts.Inputs = append(opts.Inputs, inputName(path))
		}
	}
	e := analyze.New(opts)
	// A progress line on stderr, drawn only when stderr is a terminal.
	prog := newProgress(stderr, src)
	interrupted, readErr := feedFiles(ctx, src, e, runtime.GOMAXPROCS(0) > 1)
	prog.Stop()
	if ctx.Err() != nil {
		// Interrupted, or a read the interruption cut short (stdin).
		interrupted, readErr = true, nil
	}

	noteInputs(e, src.Inputs())
	coverInputs(e, src.Inputs())
	r := e.Finish()
	if filter != nil {
		noteFilter(stderr, filter, r.Stats.Frames, src.Inputs())
	}
	r.NLBProbeVersion = readBuildInfo().Version
	switch {
	case interrupted:
		why := "interrupted"
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			why += " (" + cause.Error() + ")"
		}
		r.Partial = true
		r.PartialReason = fmt.Sprintf("%s after %s: the report covers only those", why, finding.Plural(r.Stats.Frames, "frame", "frames"))
	case readErr != nil:
		r.Partial = true
		r.PartialReason = fmt.Sprintf("%v: the report covers the %s before it", readErr, finding.Plural(r.Stats.Frames, "frame", "frames"))
	}
	r.Inputs = reportInputs(src.Inputs())
	for _, in := range r.Inputs {
		r.Stats.DuplicatesDropped += in.DuplicatesDropped
	}
	r.Stats.Evicted.DedupWindow = src.DedupEvicted()
	if err := writeReport(stdout, r, af.json); err != nil {
		fmt.Fprintf(stderr, "nlbprobe read: write report: %v\n", err)
		return exitUsage
	}
	if af.html != "" {
		if err := writeHTMLFile(af.html, r); err != nil {
			fmt.Fprintf(stderr, "nlbprobe read: %v\n", err)
			return exitUsage
		}
	}
	switch {
	case readErr != nil:
		fmt.Fprintf(stderr, "nlbprobe read: %v (the report covers the %s before it)\n", readErr, finding.Plural(r.Stats.Frames, "frame", "frames"))
		return exitUsage
	case interrupted:
		fmt.Fprintf(stderr, "nlbprobe read: interrupted: the report covers the first %s\n", finding.Plural(r.Stats.Frames, "frame", "frames"))
		return exitInterrupted
	}
	return exitFor(r, failOn)
}

// splitCaptureArgs splits read's arguments as tcpdump splits its own: the
// leading ones that name files (or "-", standard input) are the captures,
// and the rest, joined with spaces, is the capture filter
// (`nlbprobe read F vlan 100` is `nlbprobe read F 'vlan 100'`). An
// argument that names no file is never taken for one: it starts the
// filter, which must then compile.
func splitCaptureArgs(args []string) (files []string, expr string) {
	i := 0
	for ; i < len(args); i++ {
		if args[i] == "-" {
			continue
		}
		if _, err := os.Stat(args[i]); err != nil {
			break
		}
	}
	return args[:i], strings.Join(args[i:], " ")
}

// newReadFilter compiles the filter expr for the link types of the inputs;
// first is the first argument of it, for the message when expr is neither
// files nor a filter.
func newReadFilter(expr, first string, inputs []capture.InputInfo) (*capture.Filter, error) {
	var types []layers.LinkType
	for _, in := range inputs {
		for _, lt := range in.LinkTypes {
			if !slices.Contains(types, lt) {
				types = append(types, lt)
			}
		}
	}
	f, err := capture.NewFilter(expr, types...)
	if err == nil {
		return f, nil
	}
	_, statErr := os.Stat(first)
	var syntax *capture.FilterSyntaxError
	switch {
	case errors.As(err, &syntax):
		return nil, fmt.Errorf("%q is neither a capture file (%v) nor a capture filter (%s)", expr, statErr, syntax.Msg)
	case errors.Is(err, capture.ErrNoFilterCompiler):
		return nil, fmt.Errorf("%q is not a capture file (%v); as a capture filter: %w", expr, statErr, err)
	}
	return nil, err
}

// noteFilter says on stderr how many frames the filter passed, and for
// which link types it could not be compiled.
func noteFilter(stderr io.Writer, f *capture.Filter, passed uint64, inputs []capture.InputInfo) {
	var read uint64
	for _, in := range inputs {
		read += in.Frames - in.Duplicates // copies of another input's frames are not offered to the filter
	}
	fmt.Fprintf(stderr, "nlbprobe read: filter %q: %d of %s passed and %s analyzed\n", f.Expr, passed,
		finding.Plural(read, "frame", "frames"), finding.Verb(passed, "was", "were"))
	for _, err := range f.Errors() {
		fmt.Fprintf(stderr, "nlbprobe read: warning: %v: its frames were skipped\n", err)
	}
}

// feed runs every packet of src through e until the end, an I/O error or
// ctx's cancellation (Ctrl-C), which it checks every few thousand frames.
func feed(ctx context.Context, src *capture.FileSource, e *analyze.Engine) (interrupted bool, err error) {
	var p capture.Packet
	var edges []capture.InputEdge
	for n := 0; ; n++ {
		if n&0xfff == 0 && ctx.Err() != nil {
			return true, nil
		}
		err := src.Next(&p)
		// The edges Next came to: an input's end is found when the
		// packet after its last is read, before that packet is analyzed.
		edges = src.TakeEdges(edges[:0])
		applyEdges(e, edges)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
		e.PacketAt(p.Data, p.Frame, p.Info.Timestamp.UnixNano(), p.Info.Length, p.LinkType, p.Input)
	}
}

// applyEdges tells e when inputs started and ended (capture.InputEdge).
func applyEdges(e *analyze.Engine, edges []capture.InputEdge) {
	for _, ed := range edges {
		if ed.End {
			e.InputEnd(ed.Input, ed.Time)
		} else {
			e.InputStart(ed.Input, ed.Time)
		}
	}
}

// coverInputs tells e, before Finish, the whole time each input covered:
// the edges of the last read (which ends with io.EOF, no batch to carry
// them) and of inputs a Ctrl-C left unfinished.
func coverInputs(e *analyze.Engine, inputs []capture.InputInfo) {
	for i, in := range inputs {
		if !in.First.IsZero() {
			e.InputStart(i, in.First)
			e.InputEnd(i, in.Last)
		}
	}
}

// inputName names an input in the report's messages.
func inputName(path string) string {
	if path == capture.StdinPath {
		return "standard input"
	}
	return path
}

// pipelineBatches is how many batches circulate between the reader and the
// analyzer: one being read, one being analyzed, and slack for the
// moments one side is faster.
const pipelineBatches = 4

// splitBatch is a batch of packets and its first frames sorted for the
// engine.
type splitBatch struct {
	packets capture.Batch
	sorted  *analyze.Batch
}

// feedFiles is feed for capture files, in batches of thousands of packets
// (capture.FileSource.NextBatch). With pipelined, a goroutine reads the
// next batches while this one analyzes them (pipeline); without, this
// goroutine does both in turn. Batches are recycled, so nothing is
// allocated per batch or per packet.
func feedFiles(ctx context.Context, src *capture.FileSource, e *analyze.Engine, pipelined bool) (interrupted bool, err error) {
	if pipelined {
		return pipeline(ctx, src, e, nil)
	}
	var b capture.Batch
	for {
		if ctx.Err() != nil {
			return true, nil
		}
		if err := src.NextBatch(&b); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
		applyEdges(e, b.Edges)
		analyzeBatch(e, &b, 0)
	}
}

// sortPolicy says whether the reader sorts the next frames of a batch,
// given how many of its total it has sorted: pipeline's tests choose.
type sortPolicy func(sorted, total int) bool

// sortChunk is how many frames the reader sorts between two looks at the
// analyzer.
const sortChunk = 256

// pipeline reads batches on a goroutine of its own while this one analyzes
// them, so that reading (read(2) and indexing the records) and analysis
// each have a core, and the analysis never waits for the disk or the page
// cache.
//
// The reader also sorts the frames of each batch for the engine
// (analyze.Batch), for as long as the analyzer is busy: it has them in its
// cache, and the plain frames, most of a busy link, then cost the analyzer
// one sum per second of capture time instead of a decode each. When the
// analyzer runs out of work, the reader hands the batch over at once,
// sorted as far as it got, and the analyzer sorts the rest itself before
// it applies the batch. So the two goroutines share the work whichever
// side is the faster on a capture. Either side that runs out of work polls for the next batch
// before it blocks (receive), as blocking costs more than the wait.
// keepSorting, when not nil, replaces that choice (tests).
func pipeline(ctx context.Context, src *capture.FileSource, e *analyze.Engine, keepSorting sortPolicy) (interrupted bool, err error) {
	var analyzerIdle atomic.Bool
	if keepSorting == nil {
		keepSorting = func(int, int) bool { return !analyzerIdle.Load() }
	}
	// Neither channel ever blocks a send: each can hold every batch.
	free := make(chan *splitBatch, pipelineBatches)
	full := make(chan *splitBatch, pipelineBatches)
	for range pipelineBatches {
		free <- &splitBatch{sorted: analyze.NewBatch()}
	}
	var readErr error
	go func() {
		defer close(full)
		for {
			b, ok := receive(free)
			if !ok {
				return
			}
			if err := src.NextBatch(&b.packets); err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
			sortBatch(b, keepSorting)
			full <- b
		}
	}()
	for {
		var b *splitBatch
		var ok bool
		select {
		case b, ok = <-full:
		default:
			// About to wait: the reader stops sorting and sends.
			analyzerIdle.Store(true)
			b, ok = receive(full)
			analyzerIdle.Store(false)
		}
		if !ok {
			break
		}
		applyEdges(e, b.packets.Edges)
		// The analyzer sorts what the reader left: sorting a plain frame
		// and adding the sums costs less than PacketAt's decode.
		sortFrom(b, b.sorted.Len())
		// ApplyBatch declines the rare batch it cannot apply exactly.
		if !e.ApplyBatch(b.sorted) {
			analyzeBatch(e, &b.packets, 0)
		}
		free <- b
		// After the batch: what was read when Ctrl-C came (the frames a
		// live pipe held) is in the report.
		if ctx.Err() != nil {
			interrupted = true
			break
		}
	}
	// Stop the reader and wait until it has: src is not safe for
	// concurrent use, and the caller reads its Inputs next.
	close(free)
	for range full {
	}
	if interrupted {
		return true, nil
	}
	return false, readErr
}

// spinWait is how long a pipeline goroutine that runs out of work polls
// for more before it blocks. A blocked goroutine's thread sleeps in a
// futex, and waking it took ~40 us on the 2-vCPU test VM: the analyzer
// waited ~1,100 times a read of the 5M-frame mix, 45 ms in all, mostly for
// batches the reader sent a few microseconds after it began to wait.
// Polling a little longer than that wake-up costs less than the wake-up:
// the feed of the 5M-frame mix went from 305 to 255 ms (medians of 12
// interleaved runs); 15 us of polling gave 262, 5 us 290. When the other
// side is really slow (a cold disk, a gzip stream), the poll ends and the
// goroutine blocks as before.
const spinWait = 100 * time.Microsecond

// receive returns the next value of c, as <-c does, but polls c for up to
// spinWait first, yielding the processor between polls.
func receive[T any](c <-chan T) (T, bool) {
	for deadline := time.Now().Add(spinWait); time.Now().Before(deadline); runtime.Gosched() {
		select {
		case v, ok := <-c:
			return v, ok
		default:
		}
	}
	v, ok := <-c
	return v, ok
}

// sortBatch sorts the frames of b for the engine from the first on, in
// chunks, while keepSorting says to go on.
func sortBatch(b *splitBatch, keepSorting sortPolicy) {
	p := &b.packets
	b.sorted.Reset()
	for lo := 0; lo < len(p.Packets) && keepSorting(lo, len(p.Packets)); lo += sortChunk {
		for i := lo; i < min(lo+sortChunk, len(p.Packets)); i++ {
			pk := &p.Packets[i]
			b.sorted.Add(p.Data(i), p.Frame(i), pk.Time, int(pk.Length), pk.LinkType, int(pk.Input))
		}
	}
}

// sortFrom sorts the frames of b from the from-th on.
func sortFrom(b *splitBatch, from int) {
	p := &b.packets
	for i := from; i < len(p.Packets); i++ {
		pk := &p.Packets[i]
		b.sorted.Add(p.Data(i), p.Frame(i), pk.Time, int(pk.Length), pk.LinkType, int(pk.Input))
	}
}

// analyzeBatch runs the packets of a batch from the from-th on through e.
//
// It loads a byte of the frame a few places ahead before analyzing each
// one: the reader filled the batch on the other core, so every frame's
// first cache line misses, and issuing that load early lets the miss
// overlap with the analysis of the frames before it.
func analyzeBatch(e *analyze.Engine, b *capture.Batch, from int) {
	const ahead = 6
	n := len(b.Packets)
	var sink byte
	for i := from; i < n; i++ {
		if j := i + ahead; j < n {
			if d := b.Data(j); len(d) > 12 {
				sink += d[12]
			}
		}
		p := &b.Packets[i]
		e.PacketAt(b.Data(i), b.Frame(i), p.Time, int(p.Length), p.LinkType, int(p.Input))
	}
	prefetchSink += sink
}

// prefetchSink keeps the compiler from dropping analyzeBatch's early loads.
var prefetchSink byte

// noteInputs raises capture-file-truncated for inputs that end mid-record
// or are damaged: the analysis covers what came before.
func noteInputs(e *analyze.Engine, inputs []capture.InputInfo) {
	for i, in := range inputs {
		if !in.TruncatedAtEnd && !in.Damaged {
			continue
		}
		what := "ends in the middle of record"
		if in.Damaged {
			what = "is damaged at record"
		}
		var evidence []uint64
		if in.LastFrame != 0 {
			evidence = []uint64{in.LastFrame}
		}
		e.AddFinding(finding.Key{Kind: finding.CaptureFileTruncated, N: int64(i)}, finding.Finding{
			Severity: finding.Warning, Subject: in.Path, Time: in.Last,
			Message: fmt.Sprintf("%s %s %d (%s): the %s before it %s analyzed, nothing after",
				in.Path, what, in.BadRecord, in.Err, finding.Plural(in.Frames, "frame", "frames"), finding.Verb(in.Frames, "was", "were")),
			Remedy:   "stop captures cleanly (Ctrl-C or -c/-G for tcpdump) and copy files after the capture ends",
			Evidence: evidence,
		})
	}
}

func reportInputs(inputs []capture.InputInfo) []analyze.Input {
	out := make([]analyze.Input, 0, len(inputs))
	for _, in := range inputs {
		ri := analyze.Input{Path: in.Path, Format: in.Format, Snaplen: in.Snaplen, Sections: in.Sections,
			Frames: in.Frames, DuplicatesDropped: in.Duplicates, TruncatedAtEnd: in.TruncatedAtEnd, Error: in.Err,
			Start: in.First.UTC(), End: in.Last.UTC()}
		for _, lt := range in.LinkTypes {
			ri.LinkTypes = append(ri.LinkTypes, lt.String())
		}
		out = append(out, ri)
	}
	return out
}
