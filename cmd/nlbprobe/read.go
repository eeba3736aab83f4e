package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/capture"
)

func init() {
	register(command{name: "read", summary: "analyze pcap/pcapng capture files (also .gz), merged in time order", run: runRead})
}

// analysisFlags are the flags read and watch share.
type analysisFlags struct {
	json     bool
	vantage  string
	clusters []string
	failOn   string
}

func (a *analysisFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&a.json, "json", false, "print the report as one JSON document (the contract in design.md)")
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
		return r.WriteText(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func runRead(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("read", "read [flags] FILE...",
		"  nlbprobe read capture.pcapng\n"+
			"  nlbprobe read --json --cluster 172.31.3.232 node1.pcap.gz node2.pcap > report.json\n"+
			"  nlbprobe read --vantage nonmember --fail-on warning access-port.pcap", stderr)
	var af analysisFlags
	af.register(fs)
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "nlbprobe read: give one or more capture files (pcap or pcapng, optionally .gz)")
		fmt.Fprintln(stderr, "Run 'nlbprobe read --help' for usage.")
		return exitUsage
	}
	opts, failOn, ok := af.options("read", stderr)
	if !ok {
		return exitUsage
	}
	src, err := capture.OpenFiles(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "nlbprobe read: %v\n", err)
		return exitUsage
	}
	defer src.Close()

	e := analyze.New(opts)
	// A progress line on stderr, drawn only when stderr is a terminal.
	prog := newProgress(stderr, src)
	interrupted, readErr := feed(ctx, src, e)
	prog.Stop()

	noteInputs(e, src.Inputs())
	r := e.Finish()
	r.Inputs = reportInputs(src.Inputs())
	if err := writeReport(stdout, r, af.json); err != nil {
		fmt.Fprintf(stderr, "nlbprobe read: write report: %v\n", err)
		return exitUsage
	}
	switch {
	case readErr != nil:
		fmt.Fprintf(stderr, "nlbprobe read: %v (the report covers the %d frames before it)\n", readErr, r.Stats.Frames)
		return exitUsage
	case interrupted:
		fmt.Fprintf(stderr, "nlbprobe read: interrupted: the report covers the first %d frames\n", r.Stats.Frames)
	}
	return exitFor(r, failOn)
}

// feed runs every packet of src through e until the end, an I/O error or
// ctx's cancellation (Ctrl-C), which it checks every few thousand frames.
func feed(ctx context.Context, src capture.Source, e *analyze.Engine) (interrupted bool, err error) {
	var p capture.Packet
	for n := 0; ; n++ {
		if n&0xfff == 0 && ctx.Err() != nil {
			return true, nil
		}
		if err := src.Next(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
		e.Packet(p.Data, analyze.Meta{Frame: p.Frame, Time: p.Info.Timestamp, Length: p.Info.Length, LinkType: p.LinkType})
	}
}

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
			Message: fmt.Sprintf("%s %s %d (%s): the %d frames before it were analyzed, nothing after",
				in.Path, what, in.BadRecord, in.Err, in.Frames),
			Remedy:   "stop captures cleanly (Ctrl-C or -c/-G for tcpdump) and copy files after the capture ends",
			Evidence: evidence,
		})
	}
}

func reportInputs(inputs []capture.InputInfo) []analyze.Input {
	out := make([]analyze.Input, 0, len(inputs))
	for _, in := range inputs {
		ri := analyze.Input{Path: in.Path, Format: in.Format, Snaplen: in.Snaplen, Frames: in.Frames,
			TruncatedAtEnd: in.TruncatedAtEnd, Error: in.Err}
		for _, lt := range in.LinkTypes {
			ri.LinkTypes = append(ri.LinkTypes, lt.String())
		}
		out = append(out, ri)
	}
	return out
}
