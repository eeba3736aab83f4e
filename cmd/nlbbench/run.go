package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spf13/pflag"

	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// The tools, in the order each round runs them.
const (
	toolNLBProbe = "nlbprobe"
	toolTcpdump  = "tcpdump"
	// toolTcpdumpVLAN is tcpdump with the filter for tagged frames too.
	toolTcpdumpVLAN = "tcpdump-vlan"
	toolTshark      = "tshark"
	toolCat         = "cat"
)

var tools = []string{toolNLBProbe, toolTcpdump, toolTcpdumpVLAN, toolTshark, toolCat}

// tcpdumpFilter is what an admin would filter for by hand: the frames
// nlbprobe analyzes in depth. tcpdump only filters and writes.
const tcpdumpFilter = "arp or igmp or ether proto 0x886f"

// tcpdumpVLANFilter is tcpdumpFilter for 802.1Q-tagged frames as well.
// tcpdumpFilter looks at the ethertype after the MACs, which in a tagged
// frame is the tag's 0x8100: on a capture of a trunk, such as the mixed
// capture (every frame on VLANs 100-104), it matches nothing, and tcpdump
// writes nothing. This one matches the ARP, IGMP and heartbeats (a fifth
// of the mix), which tcpdump then writes, as the speed issue has it do.
const tcpdumpVLANFilter = tcpdumpFilter + " or (vlan and (" + tcpdumpFilter + "))"

// tsharkFields are the fields of the frames nlbprobe reports on: VLAN,
// MACs, ARP bindings, IGMP groups, NLB heartbeats.
var tsharkFields = []string{
	"frame.time_epoch", "vlan.id", "eth.src", "eth.dst", "ip.dst",
	"arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4",
	"igmp.type", "igmp.maddr",
	"msnlb.cluster_ip", "msnlb.host_ip", "msnlb.unique_host_id",
}

// startupSliceFrames is the size of the slice that measures tshark's
// start-up: a few frames of each kind, next to nothing to dissect.
const startupSliceFrames = 100

// toolCommand returns the program and arguments of tool; its standard
// output goes to /dev/null.
func toolCommand(tool, nlbprobe, file, slice string) (string, []string) {
	switch tool {
	case toolNLBProbe:
		return nlbprobe, []string{"read", "--json", file}
	case toolTcpdump:
		return "tcpdump", []string{"-r", file, "-w", "/dev/null", tcpdumpFilter}
	case toolTcpdumpVLAN:
		return "tcpdump", []string{"-r", file, "-w", "/dev/null", tcpdumpVLANFilter}
	case toolTshark:
		args := []string{"-n", "-r", slice, "-T", "fields"}
		for _, f := range tsharkFields {
			args = append(args, "-e", f)
		}
		return "tshark", args
	case toolCat:
		return "cat", []string{file}
	}
	panic("nlbbench: unknown tool " + tool)
}

// commandLine shows a command as one would type it.
func commandLine(prog string, args []string) string {
	parts := []string{filepath.Base(prog)}
	for _, a := range args {
		if strings.ContainsAny(a, " '") {
			a = "'" + a + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ") + " > /dev/null"
}

type options struct {
	frames       int
	seed         int64
	file         string
	rounds       int
	tsharkFrames int
	tsharkRounds int
	keep         bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("nlbbench", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.frames, "frames", fixtures.DefaultMixedFrames, "frames of the generated capture")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the generated capture")
	fs.StringVar(&o.file, "file", "", "capture to use: an existing file is used as it is; otherwise it is generated there and kept")
	fs.IntVar(&o.rounds, "rounds", 7, "rounds of runs (each runs every tool once, in turn; tshark only in the first --tshark-rounds)")
	fs.IntVar(&o.tsharkFrames, "tshark-frames", 0, "frames of a leading slice tshark reads instead, its time on the whole capture extrapolated (quick, but flatters tshark); 0: the whole capture")
	fs.IntVar(&o.tsharkRounds, "tshark-rounds", 1, "rounds that run tshark (minutes each on the whole capture); the other rounds compare with its median")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (the capture, the slice, the nlbprobe binary)")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: go run ./cmd/nlbbench [flags]")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "Measures nlbprobe read against tcpdump and tshark on one generated capture.")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "Examples:")
		fmt.Fprintln(stdout, "  go run ./cmd/nlbbench")
		fmt.Fprintln(stdout, "  go run ./cmd/nlbbench --frames 1000000 --rounds 5")
		fmt.Fprintln(stdout, "  go run ./cmd/nlbbench --file /var/tmp/mixed5m.pcap   # generated once, reused after")
		fmt.Fprintln(stdout, "  go run ./cmd/nlbbench --tshark-frames 50000          # quick: tshark on a slice, extrapolated")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "Flags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "nlbbench: %v\nRun 'go run ./cmd/nlbbench --help' for usage.\n", err)
		return 2
	}
	if fs.NArg() > 0 || o.frames <= 0 || o.rounds <= 0 || o.tsharkRounds <= 0 || o.tsharkFrames < 0 {
		fmt.Fprintln(stderr, "nlbbench: --frames, --rounds and --tshark-rounds must be positive, --tshark-frames 0 or more, and no arguments are taken")
		return 2
	}
	if err := bench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "nlbbench: %v\n", err)
		return 1
	}
	return 0
}

func bench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "nlbbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(stdout, "keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	nlbprobe := filepath.Join(dir, "nlbprobe")
	build := exec.CommandContext(ctx, "go", "build", "-o", nlbprobe, "github.com/nlbprobe/nlbprobe/cmd/nlbprobe")
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build nlbprobe (run nlbbench inside the nlbprobe module): %w", err)
	}

	file, frames, err := prepareCapture(o, dir, stdout)
	if err != nil {
		return err
	}
	// tshark reads the whole capture, unless --tshark-frames asks for a
	// shorter leading slice: its time per frame grows with the capture (it
	// keeps every frame's state: 18 us a frame and 0.2 GiB on 50,000
	// frames, 31 us and 7 GiB on 5,000,000 here), so a slice scaled up
	// flatters it.
	slice, startup := file, ""
	sliceFrames, startupFrames := frames, uint64(0)
	if o.tsharkFrames > 0 && uint64(o.tsharkFrames) < frames {
		slice = filepath.Join(dir, "slice.pcap")
		if sliceFrames, err = writeSlice(file, slice, o.tsharkFrames); err != nil {
			return fmt.Errorf("slice for tshark: %w", err)
		}
		startup = filepath.Join(dir, "startup.pcap")
		if startupFrames, err = writeSlice(file, startup, startupSliceFrames); err != nil {
			return fmt.Errorf("start-up slice for tshark: %w", err)
		}
	}
	for i, f := range []string{file, slice, startup} {
		if f == "" || i > 0 && f == file {
			continue // no slices: tshark reads the file itself
		}
		if err := warm(f); err != nil {
			return err
		}
	}

	fmt.Fprintf(stdout, "machine: %s\n", machine(ctx))
	available := map[string]string{}
	for _, tool := range tools {
		prog, args := toolCommand(tool, nlbprobe, file, slice)
		if _, err := exec.LookPath(prog); err != nil {
			available[tool] = "not installed"
			fmt.Fprintf(stdout, "  %-13s not installed: skipped\n", tool+":")
			continue
		}
		fmt.Fprintf(stdout, "  %-13s %s%s\n", tool+":", commandLine(prog, args), toolVersion(ctx, tool, prog))
		if tool == toolTcpdump || tool == toolTcpdumpVLAN {
			n, err := tcpdumpMatches(ctx, prog, args)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "  %-13s its filter matches %d of the %d frames\n", "", n, frames)
		}
	}
	tsharkRounds := min(o.tsharkRounds, o.rounds)
	if startup != "" {
		fmt.Fprintf(stdout, "tshark reads the first %d frames (%s) and the first %d (its start-up); its time on the whole\n"+
			"capture is extrapolated from the two: start-up once plus the time per frame between them.\n"+
			"This flatters tshark: its time per frame grows with the capture.\n", sliceFrames, slice, startupFrames)
	}
	if tsharkRounds < o.rounds {
		fmt.Fprintf(stdout, "tshark runs in the first %d round(s); the others compare nlbprobe with the median of those runs\n", tsharkRounds)
	}

	meter := newRSSMeter(ctx, dir)
	if meter.gnuTime != "" {
		fmt.Fprintf(stdout, "peak RSS: GNU time's %%M (%s)\n", meter.gnuTime)
	} else {
		fmt.Fprintln(stdout, "peak RSS: the child's ru_maxrss; '-' where it is only nlbbench's own (install GNU time for exact values)")
	}
	fmt.Fprintln(stdout)
	var rounds []map[string]result
	var tsharkRuns []result
	for r := 1; r <= o.rounds; r++ {
		got := map[string]result{}
		var list []result
		for _, tool := range tools {
			res := result{tool: tool, frames: frames, skipped: available[tool]}
			switch {
			case res.skipped != "":
			case tool == toolTshark && r > tsharkRounds:
				res = medianRun(tsharkRuns)
			case tool == toolTshark:
				if res, err = measureTshark(ctx, meter, nlbprobe, file, slice, startup, sliceFrames, startupFrames, frames); err != nil {
					return err
				}
				tsharkRuns = append(tsharkRuns, res)
			default:
				prog, args := toolCommand(tool, nlbprobe, file, slice)
				if res.elapsed, res.maxRSS, err = meter.measure(ctx, tool, prog, args); err != nil {
					return err
				}
			}
			got[tool] = res
			list = append(list, res)
		}
		rounds = append(rounds, got)
		writeRound(stdout, r, list)
		fmt.Fprintln(stdout)
	}
	writeRatios(stdout, ratios(rounds, []string{toolTcpdump, toolTcpdumpVLAN, toolTshark}), len(rounds))
	fmt.Fprintln(stdout)
	writeMedians(stdout, rounds, tools)
	return nil
}

// tcpdumpMatches runs tcpdump's command (prog, args) once more, writing
// what its filter matches to its standard output instead of /dev/null
// (tcpdump run as root drops to its own user before it opens the output,
// so a file in nlbbench's directory would not do), and counts the frames.
func tcpdumpMatches(ctx context.Context, prog string, args []string) (uint64, error) {
	args = slices.Clone(args)
	for i := range args {
		if args[i] == "-w" && i+1 < len(args) {
			args[i+1] = "-"
		}
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n, countErr := countPcap(stdout)
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", commandLine(prog, args), err, strings.TrimSpace(errOut.String()))
	}
	return n, countErr
}

// countPcap counts the frames of a pcap stream.
func countPcap(r io.Reader) (uint64, error) {
	pr, err := pcapgo.NewReader(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return 0, err
	}
	var n uint64
	for {
		_, _, err := pr.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// measureTshark runs tshark on slice, the whole capture or a leading
// slice of it; for a slice it also runs tshark on the start-up slice and
// extrapolates its time to the capture's frames.
func measureTshark(ctx context.Context, meter rssMeter, nlbprobe, file, slice, startup string, sliceFrames, startupFrames, frames uint64) (result, error) {
	res := result{tool: toolTshark, frames: sliceFrames}
	prog, args := toolCommand(toolTshark, nlbprobe, file, slice)
	var err error
	if res.elapsed, res.maxRSS, err = meter.measure(ctx, toolTshark, prog, args); err != nil {
		return res, err
	}
	if startup == "" {
		return res, nil
	}
	short := result{tool: toolTshark, frames: startupFrames}
	prog, args = toolCommand(toolTshark, nlbprobe, file, startup)
	if short.elapsed, short.maxRSS, err = meter.measure(ctx, toolTshark, prog, args); err != nil {
		return res, err
	}
	return extrapolate(short, res, frames), nil
}

// prepareCapture returns the capture to measure and its frame count:
// --file if it exists, else a generated mixed capture (at --file, or in
// dir).
func prepareCapture(o options, dir string, stdout io.Writer) (string, uint64, error) {
	path := o.file
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			n, err := countFrames(path)
			if err != nil {
				return "", 0, err
			}
			fmt.Fprintf(stdout, "capture: %s, %d frames (existing file)\n", path, n)
			return path, n, nil
		}
	} else {
		path = filepath.Join(dir, "mixed.pcap")
	}
	start := time.Now()
	if err := fixtures.WriteMixedFile(path, o.frames, o.seed); err != nil {
		return "", 0, fmt.Errorf("generate %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	fmt.Fprintf(stdout, "capture: %s, %d frames, %.0f MB, fixtures.WriteMixed seed %d (generated in %.1f s)\n",
		path, o.frames, float64(st.Size())/1e6, o.seed, time.Since(start).Seconds())
	return path, uint64(o.frames), nil
}

// countFrames reads a capture to count its frames.
func countFrames(path string) (uint64, error) {
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	var b capture.Batch
	var n uint64
	for {
		err := src.NextBatch(&b)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n += uint64(b.Len())
	}
}

// writeSlice writes the first n frames of the capture at path as a pcap
// file, and returns how many it wrote.
func writeSlice(path, slice string, n int) (uint64, error) {
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	f, err := os.Create(slice)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	var p capture.Packet
	var written uint64
	for written < uint64(n) {
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return written, err
		}
		if written == 0 {
			if err := w.WriteFileHeader(262144, p.LinkType); err != nil {
				return 0, err
			}
		}
		ci := p.Info
		ci.CaptureLength = len(p.Data)
		ci.Length = max(ci.Length, len(p.Data))
		if err := w.WritePacket(ci, p.Data); err != nil {
			return written, err
		}
		written++
	}
	if err := bw.Flush(); err != nil {
		return written, err
	}
	return written, f.Close()
}

// warm reads a file once so that every tool reads it from the page cache.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// rssMeter runs tools so that their peak RSS can be known.
//
// The peak RSS the kernel reports for a child (ru_maxrss) also counts the
// memory of the process that started it, up to the exec: Go starts
// children with vfork, so for a child of nlbbench it is at least
// nlbbench's own peak (the capture generator's buffers). GNU time forks
// from a process of a few MiB, so when it is installed the tools run under
// it and its %M is their peak; otherwise ru_maxrss is reported when it is
// above nlbbench's own peak, and as unknown when not.
type rssMeter struct {
	gnuTime string // path of GNU time, "" when not usable
	dir     string // where GNU time writes its output
}

func newRSSMeter(ctx context.Context, dir string) rssMeter {
	m := rssMeter{dir: dir}
	path, err := exec.LookPath("time")
	if err != nil {
		return m
	}
	out := filepath.Join(dir, "time.out")
	if exec.CommandContext(ctx, path, "-f", "%M", "-o", out, "true").Run() == nil {
		if b, err := os.ReadFile(out); err == nil && parseKiB(string(b)) > 0 {
			m.gnuTime = path
		}
	}
	return m
}

// parseKiB reads GNU time's %M (KiB) from its output file: the last line
// (lines before it are the child's exit notes).
func parseKiB(out string) int64 {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var kib int64
	if _, err := fmt.Sscan(strings.TrimSpace(lines[len(lines)-1]), &kib); err != nil {
		return 0
	}
	return kib
}

// measure runs a tool with its output to /dev/null and returns its wall
// time and peak RSS (0 when unknown).
func (m rssMeter) measure(ctx context.Context, tool, prog string, args []string) (time.Duration, int64, error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer null.Close()
	var errOut bytes.Buffer
	out := filepath.Join(m.dir, "time.out")
	var cmd *exec.Cmd
	if m.gnuTime != "" {
		cmd = exec.CommandContext(ctx, m.gnuTime, append([]string{"-f", "%M", "-o", out, prog}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, prog, args...)
	}
	cmd.Stdout, cmd.Stderr = null, &errOut
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	// nlbprobe exits 1 when it has findings at or above --fail-on: a
	// finished analysis.
	var exit *exec.ExitError
	if err != nil && !(tool == toolNLBProbe && errors.As(err, &exit) && exit.ExitCode() == 1) {
		return 0, 0, fmt.Errorf("%s: %w: %s", commandLine(prog, args), err, strings.TrimSpace(errOut.String()))
	}
	if m.gnuTime != "" {
		b, err := os.ReadFile(out)
		if err != nil {
			return 0, 0, err
		}
		return elapsed, parseKiB(string(b)) * 1024, nil
	}
	rss := maxRSS(cmd.ProcessState)
	if rss <= ownPeakRSS() {
		rss = 0 // nlbbench's own peak, not the tool's
	}
	return elapsed, rss, nil
}

// ownPeakRSS returns nlbbench's own peak RSS (VmHWM), 0 when unknown.
func ownPeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return parseKiB(strings.TrimSuffix(strings.TrimSpace(v), " kB")) * 1024
		}
	}
	return 0
}

// toolVersion returns " (version)" for the tools that say theirs.
func toolVersion(ctx context.Context, tool, prog string) string {
	switch tool {
	case toolTcpdump, toolTshark: // tcpdump-vlan: the same tcpdump
		out, _ := exec.CommandContext(ctx, prog, "--version").Output()
		line, _, _ := strings.Cut(string(out), "\n")
		if line = strings.TrimSpace(line); line != "" {
			return "   [" + line + "]"
		}
	}
	return ""
}

// machine describes the machine: CPU model, cores, kernel, Go.
func machine(ctx context.Context) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := cpuModel(string(b)); m != "" {
			cpu = m
		}
	}
	kernel := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel += " " + strings.TrimSpace(string(b))
	}
	goVersion := runtime.Version()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		goVersion = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, %d cores, %s, %s", cpu, runtime.NumCPU(), kernel, goVersion)
}

// cpuModel returns the first "model name" of /proc/cpuinfo's text.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
