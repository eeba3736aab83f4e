package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{3}, 3},
		{"odd count, unsorted", []float64{5, 1, 3}, 3},
		{"even count: mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"repeats", []float64{2, 2, 9}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("median reordered its argument: %v", tt.in)
			}
		})
	}
}

func TestRates(t *testing.T) {
	r := result{tool: toolNLBProbe, frames: 5_000_000, elapsed: 250 * time.Millisecond}
	if got := r.fps(); got != 20e6 {
		t.Errorf("fps = %v, want 2e7", got)
	}
	if got := r.nsPerFrame(); got != 50 {
		t.Errorf("ns/frame = %v, want 50", got)
	}
	tcpdump := result{tool: toolTcpdump, frames: 5_000_000, elapsed: 500 * time.Millisecond}
	if v, ok := ratio(r, tcpdump); !ok || v != 2 {
		t.Errorf("ratio = %v %v, want 2", v, ok)
	}
	// tshark read a slice: the ratio is of rates, not of times.
	tshark := result{tool: toolTshark, frames: 50_000, elapsed: 2 * time.Second}
	if v, ok := ratio(r, tshark); !ok || v != 800 {
		t.Errorf("ratio to tshark = %v %v, want 800", v, ok)
	}
	if _, ok := ratio(r, result{tool: toolTshark, skipped: "not installed"}); ok {
		t.Error("ratio to a skipped tool")
	}
	if got := (result{}).fps(); got != 0 || (result{}).nsPerFrame() != 0 {
		t.Errorf("empty result: fps %v", got)
	}
}

func TestRatiosOverRounds(t *testing.T) {
	round := func(nlb, tcpdump time.Duration, tshark string) map[string]result {
		return map[string]result{
			toolNLBProbe: {tool: toolNLBProbe, frames: 1000, elapsed: nlb},
			toolTcpdump:  {tool: toolTcpdump, frames: 1000, elapsed: tcpdump},
			toolTshark:   {tool: toolTshark, frames: 10, elapsed: time.Second, skipped: tshark},
		}
	}
	rounds := []map[string]result{
		round(time.Second, 2*time.Second, ""),
		round(time.Second, 3*time.Second, ""),
		round(time.Second, 1*time.Second, ""),
	}
	rows := ratios(rounds, []string{toolTcpdump, toolTshark})
	if len(rows) != 2 || rows[0].name != "nlbprobe/tcpdump" || !rows[0].ok || !slices.Equal(rows[0].rounds, []float64{2, 3, 1}) {
		t.Fatalf("tcpdump row %+v", rows[0])
	}
	if !rows[1].ok || !slices.Equal(rows[1].rounds, []float64{100, 100, 100}) {
		t.Fatalf("tshark row %+v", rows[1])
	}
	var b bytes.Buffer
	writeRatios(&b, rows, 3)
	want := "" +
		"    frames/s ratio  round 1  round 2  round 3   median\n" +
		"  nlbprobe/tcpdump    2.00x    3.00x    1.00x    2.00x\n" +
		"   nlbprobe/tshark  100.00x  100.00x  100.00x  100.00x\n"
	if b.String() != want {
		t.Errorf("ratio table:\n%s\nwant:\n%s", b.String(), want)
	}

	rounds[1] = round(time.Second, time.Second, "not installed")
	rows = ratios(rounds, []string{toolTshark})
	b.Reset()
	writeRatios(&b, rows, 3)
	if rows[0].ok || !strings.Contains(b.String(), "(a tool did not run)") {
		t.Errorf("a round without tshark: %+v\n%s", rows[0], b.String())
	}
}

func TestWriteRound(t *testing.T) {
	var b bytes.Buffer
	writeRound(&b, 2, []result{
		{tool: toolNLBProbe, frames: 5_000_000, elapsed: 250 * time.Millisecond, maxRSS: 150 << 20},
		{tool: toolTcpdump, frames: 5_000_000, elapsed: 500 * time.Millisecond},
		{tool: toolTshark, skipped: "not installed"},
	})
	want := "round 2\n" +
		"      tool   frames  seconds    frames/s  ns/frame  peak RSS MiB\n" +
		"  nlbprobe  5000000    0.250  20,000,000      50.0         150.0\n" +
		"   tcpdump  5000000    0.500  10,000,000     100.0             -\n" +
		"    tshark        -        -           -         -             -  skipped: not installed\n"
	if b.String() != want {
		t.Errorf("round table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestHumanRate(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 17250.4: "17,250", 20e6: "20,000,000", 123456789: "123,456,789"} {
		if got := humanRate(in); got != want {
			t.Errorf("humanRate(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestToolCommands(t *testing.T) {
	tests := []struct {
		tool string
		want string
	}{
		{toolNLBProbe, "nlbprobe read --json /c/mixed.pcap > /dev/null"},
		{toolTcpdump, "tcpdump -r /c/mixed.pcap -w /dev/null 'arp or igmp or ether proto 0x886f' > /dev/null"},
		{toolTcpdumpVLAN, "tcpdump -r /c/mixed.pcap -w /dev/null " +
			"'arp or igmp or ether proto 0x886f or (vlan and (arp or igmp or ether proto 0x886f))' > /dev/null"},
		{toolTshark, "tshark -n -r /c/slice.pcap -T fields -e frame.time_epoch -e vlan.id -e eth.src -e eth.dst -e ip.dst " +
			"-e arp.opcode -e arp.src.hw_mac -e arp.src.proto_ipv4 -e igmp.type -e igmp.maddr " +
			"-e msnlb.cluster_ip -e msnlb.host_ip -e msnlb.unique_host_id > /dev/null"},
		{toolCat, "cat /c/mixed.pcap > /dev/null"},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			prog, args := toolCommand(tt.tool, "/tmp/x/nlbprobe", "/c/mixed.pcap", "/c/slice.pcap")
			if got := commandLine(prog, args); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n"
	if got := cpuModel(info); got != "Intel(R) Xeon(R) Processor" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel("processor\t: 0\nCPU part\t: 0xd0c\n"); got != "" {
		t.Errorf("cpuModel without a model name = %q", got)
	}
}

func TestParseKiB(t *testing.T) {
	for in, want := range map[string]int64{"6104\n": 6104, "Command exited with non-zero status 1\n134140\n": 134140, "": 0, "x": 0} {
		if got := parseKiB(in); got != want {
			t.Errorf("parseKiB(%q) = %d, want %d", in, got, want)
		}
	}
	if math.MaxInt64/1024 < 1<<40 {
		t.Fatal("KiB to bytes overflows")
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"help", []string{"--help"}, 0, "Usage: go run ./cmd/nlbbench"},
		{"bad flag", []string{"--nope"}, 2, "unknown flag"},
		{"zero rounds", []string{"--rounds", "0"}, 2, "must be positive"},
		{"zero tshark rounds", []string{"--tshark-rounds", "0"}, 2, "must be positive"},
		{"negative slice", []string{"--tshark-frames", "-1"}, 2, "0 or more"},
		{"an argument", []string{"file.pcap"}, 2, "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tt.args, &out, &out)
			if code != tt.code || !strings.Contains(out.String(), tt.out) {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.code, out.String())
			}
		})
	}
}

// TestExtrapolate checks the estimate of tshark's time on the whole
// capture: start-up once, then the slope between the two slices.
func TestExtrapolate(t *testing.T) {
	startup := result{tool: toolTshark, frames: 100, elapsed: 400 * time.Millisecond}
	slice := result{tool: toolTshark, frames: 50_100, elapsed: 1400 * time.Millisecond, maxRSS: 7}
	got := extrapolate(startup, slice, 5_000_100)
	// 20 us a frame: 0.4 s + 5,000,000 * 20 us = 100.4 s.
	if !got.estimated || got.frames != 5_000_100 || got.elapsed != 100400*time.Millisecond || got.maxRSS != 7 {
		t.Errorf("extrapolate = %+v, want 5,000,100 frames in 100.4 s, estimated", got)
	}
	// Noise that makes the slice no slower than the start-up: the mean.
	slow := result{tool: toolTshark, frames: 100, elapsed: 2 * time.Second}
	if got := extrapolate(slow, slice, 5_000_100); got.elapsed.Round(time.Millisecond) != 139723*time.Millisecond {
		t.Errorf("extrapolate with a useless slope: %v, want the slice's mean scaled (139.723 s)", got.elapsed)
	}
	// A capture no larger than the slice: the slice's own time.
	if got := extrapolate(startup, slice, 50_100); got.estimated || got.elapsed != slice.elapsed {
		t.Errorf("extrapolate to the slice itself = %+v", got)
	}
}

// TestMedianRun checks the tshark result of a round that does not run it
// again: the median of the earlier runs, compared with that round's
// nlbprobe, shown as not run, and left out of the tool's medians.
func TestMedianRun(t *testing.T) {
	runs := []result{
		{tool: toolTshark, frames: 5_000_000, elapsed: 150 * time.Second, maxRSS: 7 << 30},
		{tool: toolTshark, frames: 5_000_000, elapsed: 170 * time.Second, maxRSS: 8 << 30},
		{tool: toolTshark, frames: 5_000_000, elapsed: 155 * time.Second, maxRSS: 9 << 30},
	}
	got := medianRun(runs)
	if !got.reused || got.elapsed != 155*time.Second || got.maxRSS != 8<<30 || got.frames != 5_000_000 || got.tool != toolTshark {
		t.Fatalf("medianRun = %+v, want tshark, 155 s, 8 GiB, reused", got)
	}
	if runs[0].reused {
		t.Error("medianRun marked a run it was given")
	}

	nlb := func(d time.Duration) result {
		return result{tool: toolNLBProbe, frames: 5_000_000, elapsed: d}
	}
	rounds := []map[string]result{
		{toolNLBProbe: nlb(300 * time.Millisecond), toolTshark: runs[0]},
		{toolNLBProbe: nlb(310 * time.Millisecond), toolTshark: got},
	}
	rows := ratios(rounds, []string{toolTshark})
	if !rows[0].ok || len(rows[0].rounds) != 2 || math.Abs(rows[0].rounds[1]-500) > 1e-6 {
		t.Errorf("ratio against the reused run: %+v, want 500 in round 2", rows[0])
	}

	var b bytes.Buffer
	writeRound(&b, 2, []result{got})
	if !strings.Contains(b.String(), "not run: the median of its runs above") {
		t.Errorf("round table does not say tshark was not run:\n%s", b.String())
	}
	b.Reset()
	writeMedians(&b, []map[string]result{{toolTshark: runs[0]}, {toolTshark: got}, {toolTshark: got}}, []string{toolTshark})
	// Counted once, the one run: 150 s is 33,333 frames/s; with the reused
	// 155 s counted too it would be 32,258.
	if !strings.Contains(b.String(), "33,333") {
		t.Errorf("medians count the reused run:\n%s", b.String())
	}
}

// TestTcpdumpFilters runs both tcpdump commands on a mixed capture and
// counts what their filters match: the speed issue's filter nothing, as
// every frame of the mix is tagged, and the VLAN one exactly the frames
// nlbprobe analyzes in depth (ARP, IGMP, 0x886F), as frame.Decoder sorts
// them.
func TestTcpdumpFilters(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump is not installed; CI must have it (.ci/run installs it)")
		}
		t.Skip("tcpdump not installed")
	}
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	if err := fixtures.WriteMixedFile(path, 20000, 1); err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec := frame.NewDecoder()
	var deep, tagged uint64
	var p capture.Packet
	for {
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fr := dec.Decode(p.LinkType, p.Data, p.Info.Length)
		switch fr.Kind {
		case frame.KindARP, frame.KindARPOther, frame.KindIGMP, frame.KindHeartbeat, frame.KindNLBUnknown:
			deep++
		}
		if fr.Tags > 0 {
			tagged++
		}
	}
	if tagged != 20000 || deep < 2000 {
		t.Fatalf("the mix: %d of 20000 frames tagged, %d deep; the test expects all tagged and a fifth deep", tagged, deep)
	}
	for _, c := range []struct {
		tool string
		want uint64
	}{{toolTcpdump, 0}, {toolTcpdumpVLAN, deep}} {
		prog, args := toolCommand(c.tool, "", path, "")
		if got, err := tcpdumpMatches(context.Background(), prog, args); err != nil || got != c.want {
			t.Errorf("%s: matches %d frames (err %v), want %d", c.tool, got, err, c.want)
		}
	}
}
