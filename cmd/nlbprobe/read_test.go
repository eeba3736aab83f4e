package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

var update = flag.Bool("update", false, "rewrite the expected reports fixtures/captures/NAME.report.{json,txt}")

// moduleRoot is the repository root, found from this file's location.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// nlbprobe runs the command in-process from the module root, so that paths
// in reports read as a user at the root would type them, and validates its
// JSON output against the contract's schemas (checkContract).
func nlbprobe(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Chdir(moduleRoot())
	var o, e bytes.Buffer
	code = run(ctx, args, &o, &e)
	checkContract(t, args, o.String())
	return o.String(), e.String(), code
}

// TestGolden reads every fixture scenario with the arguments its intent
// gives and compares the JSON and text reports with the expected ones
// checked in next to the capture. `go test ./cmd/nlbprobe -run TestGolden
// -update` (or `go generate ./fixtures`) rewrites them after a deliberate
// change; review the diff. The scenario's hand-written intent is checked
// against the engine in analyze/scenario_test.go; this test pins the whole
// report, byte for byte.
func TestGolden(t *testing.T) {
	dir := filepath.Join(moduleRoot(), "fixtures", "captures")
	intents, err := filepath.Glob(filepath.Join(dir, "*.expect.json"))
	if err != nil || len(intents) == 0 {
		t.Fatalf("no scenarios in %s", dir)
	}
	for _, path := range intents {
		exp, err := fixtures.ReadExpect(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(exp.Name, func(t *testing.T) {
			file := filepath.Join("fixtures", "captures", exp.Files[0])
			args := append(append([]string{"read"}, exp.Args...), "--fail-on", "none")
			jsonOut, stderr, code := nlbprobe(t, context.Background(), append(append(args, "--json"), file)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			textOut, _, _ := nlbprobe(t, context.Background(), append(args, file)...)
			golden(t, filepath.Join(dir, exp.Name+".report.json"), jsonOut)
			golden(t, filepath.Join(dir, exp.Name+".report.txt"), textOut)

			// The other files of a scenario (pcapng, gzip) hold the same
			// frames: everything but the inputs must be the same.
			for _, other := range exp.Files[1:] {
				out, stderr, code := nlbprobe(t, context.Background(),
					append(append(args, "--json"), filepath.Join("fixtures", "captures", other))...)
				if code != exitOK {
					t.Fatalf("%s: exit %d: %s", other, code, stderr)
				}
				if a, b := withoutInputs(t, jsonOut), withoutInputs(t, out); a != b {
					t.Errorf("%s reports differently from %s", other, exp.Files[0])
				}
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/nlbprobe -run TestGolden -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the report (rerun with -update after a deliberate change):\n%s",
			filepath.Base(path), firstDifference(string(want), got))
	}
}

func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + itoa(i+1) + "\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return "(same lines, different bytes)"
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func withoutInputs(t *testing.T, report string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(report), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "inputs")
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeReport(t *testing.T, out string) analyze.Report {
	t.Helper()
	var r analyze.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	return r
}

// TestReadRealNLB is the offline issue's first promise, through the CLI:
// cluster 192.168.100.80, unicast, hosts 1 (.81) and 2 (.82), truncated.
func TestReadRealNLB(t *testing.T) {
	shared := filepath.Join(moduleRoot(), "..", "shared", "pcaps", "tcpdump-tests")
	if _, err := os.Stat(shared); err != nil {
		t.Skip("../shared/pcaps not present")
	}
	for _, name := range []string{"msnlb.pcap", "msnlb2.pcapng"} {
		t.Run(name, func(t *testing.T) {
			out, stderr, code := nlbprobe(t, context.Background(), "read", "--json", filepath.Join(shared, name))
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			r := decodeReport(t, out)
			if len(r.Clusters) != 1 || r.Clusters[0].ClusterIP.String() != "192.168.100.80" ||
				r.Clusters[0].Mode != addr.ModeUnicast || len(r.Clusters[0].Hosts) != 2 {
				t.Fatalf("clusters %+v", r.Clusters)
			}
			for i, h := range r.Clusters[0].Hosts {
				if h.Priority != uint32(i+1) || !h.Truncated {
					t.Errorf("host %+v", h)
				}
				if name == "msnlb.pcap" && h.DedicatedIP.String() != []string{"192.168.100.81", "192.168.100.82"}[i] {
					t.Errorf("host %d dedicated %v", h.Priority, h.DedicatedIP)
				}
			}
			if r.Stats.TruncatedHeartbeats != 2 {
				t.Errorf("truncated heartbeats %d", r.Stats.TruncatedHeartbeats)
			}
			text, _, _ := nlbprobe(t, context.Background(), "read", filepath.Join(shared, name))
			if !strings.Contains(text, "NLB heartbeats were truncated") || !strings.Contains(text, "192.168.100.80") {
				t.Errorf("text report does not say the heartbeats were truncated:\n%s", text)
			}
		})
	}
}

// TestReadSharedCorpus reads every capture of tcpdump's test suite through
// the CLI: each must end (no hang: a minute at most, in practice
// milliseconds) with exit 0, 1 or 2, and an unreadable one must say why.
func TestReadSharedCorpus(t *testing.T) {
	shared := filepath.Join(moduleRoot(), "..", "shared", "pcaps", "tcpdump-tests")
	entries, err := os.ReadDir(shared)
	if err != nil {
		t.Skip("../shared/pcaps not present")
	}
	counts := map[int]int{}
	for _, e := range entries {
		// Every file, the expected outputs (.out) and the LICENSE too:
		// those must be refused with a clear message.
		name := e.Name()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		done := make(chan struct{})
		var stdout, stderr string
		var code int
		go func() {
			defer close(done)
			stdout, stderr, code = nlbprobe(t, ctx, "read", "--json", filepath.Join(shared, name))
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("%s: still reading after a minute", name)
		}
		cancel()
		counts[code]++
		switch code {
		case exitOK, exitFindings:
			decodeReport(t, stdout)
		case exitUsage:
			if !strings.Contains(stderr, name) {
				t.Errorf("%s: exit 2 without naming the file: %q", name, stderr)
			}
		default:
			t.Errorf("%s: exit %d", name, code)
		}
	}
	t.Logf("exit codes over %d files: %v", len(entries), counts)
	if counts[exitOK]+counts[exitFindings] < 800 {
		t.Errorf("only %d files analyzed", counts[exitOK]+counts[exitFindings])
	}
}

func TestReadUsageAndInputErrors(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "page.pcap")
	os.WriteFile(html, []byte("<!DOCTYPE html><html>not a capture</html>"), 0o644)
	cases := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no files", []string{"read"}, "give one or more capture files"},
		{"missing file", []string{"read", filepath.Join(dir, "nope.pcap")}, "nope.pcap"},
		{"a directory", []string{"read", dir}, dir},
		{"not a capture", []string{"read", html}, "not a pcap or pcapng file"},
		{"bad vantage", []string{"read", "--vantage", "roof", "fixtures/captures/healthy-unicast.pcap"}, "--vantage"},
		{"bad cluster", []string{"read", "--cluster", "10.0.0", "fixtures/captures/healthy-unicast.pcap"}, "--cluster"},
		{"IPv6 cluster", []string{"read", "--cluster", "2001:db8::1", "fixtures/captures/healthy-unicast.pcap"}, "IPv4"},
		{"bad fail-on", []string{"read", "--fail-on", "fatal", "fixtures/captures/healthy-unicast.pcap"}, "--fail-on"},
		{"unknown flag", []string{"read", "--frobnicate", "x.pcap"}, "unknown flag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := nlbprobe(t, context.Background(), c.args...)
			if code != exitUsage || !strings.Contains(stderr, c.want) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q (want %q)", code, stdout, stderr, c.want)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		stdout, _, code := nlbprobe(t, context.Background(), "read", "--help")
		if code != exitOK || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "--vantage") {
			t.Fatalf("exit %d: %s", code, stdout)
		}
	})
}

// TestReadFailOn: healthy-unicast has a warning (unicast mode floods) and
// nothing worse.
func TestReadFailOn(t *testing.T) {
	file := "fixtures/captures/healthy-unicast.pcap"
	for _, c := range []struct {
		failOn string
		code   int
	}{{"error", exitOK}, {"warning", exitFindings}, {"info", exitFindings}, {"none", exitOK}} {
		_, stderr, code := nlbprobe(t, context.Background(), "read", "--fail-on", c.failOn, file)
		if code != c.code {
			t.Errorf("--fail-on %s: exit %d, want %d (%s)", c.failOn, code, c.code, stderr)
		}
	}
	if _, _, code := nlbprobe(t, context.Background(), "read", "fixtures/captures/duplicate-ip-plain.pcap"); code != exitFindings {
		t.Errorf("duplicate-ip-plain: exit %d, want 1 (an error finding)", code)
	}
}

// TestReadCutFile: a capture cut in the middle of a record (tcpdump killed)
// is analyzed up to the cut and says so, rather than failing.
func TestReadCutFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(), "fixtures", "captures", "migration.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := nlbprobe(t, context.Background(), "read", "--json", "--fail-on", "warning", cut)
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := decodeReport(t, out)
	var f *finding.Finding
	for i := range r.Findings {
		if r.Findings[i].Kind == finding.CaptureFileTruncated {
			f = &r.Findings[i]
		}
	}
	if f == nil || !r.Inputs[0].TruncatedAtEnd || r.Stats.Frames == 0 || r.Stats.Frames != r.Inputs[0].Frames {
		t.Fatalf("finding %+v inputs %+v frames %d", f, r.Inputs, r.Stats.Frames)
	}
	if !strings.Contains(f.Message, "ends in the middle of record") || len(f.Evidence) != 1 || f.Evidence[0] != r.Stats.Frames {
		t.Errorf("finding %+v", f)
	}
}

// TestReadCutAfterOneFrame: a file cut after its first record says so in
// English ("the 1 frame before it was analyzed", not "1 frames ... were").
func TestReadCutAfterOneFrame(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(), "fixtures", "captures", "migration.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	first := 24 + 16 + int(binary.LittleEndian.Uint32(data[24+8:])) // file header, record header, its bytes
	cut := filepath.Join(t.TempDir(), "one.pcap")
	if err := os.WriteFile(cut, data[:first+10], 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, _ := nlbprobe(t, context.Background(), "read", "--fail-on", "none", cut)
	if !strings.Contains(out, "the 1 frame before it was analyzed, nothing after") || !strings.Contains(out, "1 frame from") {
		t.Errorf("report of a file cut after one frame:\n%s%s", out, stderr)
	}
}

// TestReadInterrupted: Ctrl-C (a cancelled context) still prints the report
// of what was read, marked partial (the text header's PARTIAL line, JSON
// "partial" and "partial_reason"), and exits 130 so that a script tells it
// from a full read. Before, it exited 0 with nothing in the report to say
// it was cut short.
func TestReadInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupt signal received"))
	out, stderr, code := nlbprobe(t, ctx, "read", "fixtures/captures/healthy-unicast.pcap")
	if code != exitInterrupted || !strings.Contains(out, "nlbprobe report") || !strings.Contains(stderr, "interrupted") {
		t.Fatalf("exit %d, stdout %q stderr %q", code, out, stderr)
	}
	if !strings.Contains(out, "\n  PARTIAL  interrupted (interrupt signal received) after ") {
		t.Errorf("no PARTIAL line in the header:\n%s", out)
	}
	out, _, code = nlbprobe(t, ctx, "read", "--json", "--fail-on", "none", "fixtures/captures/healthy-unicast.pcap")
	r := decodeReport(t, out)
	if code != exitInterrupted || !r.Partial || !strings.HasPrefix(r.PartialReason, "interrupted (interrupt signal received) after ") {
		t.Errorf("exit %d, partial %v %q", code, r.Partial, r.PartialReason)
	}
	// A whole read is not partial.
	out, _, code = nlbprobe(t, context.Background(), "read", "--json", "--fail-on", "none", "fixtures/captures/healthy-unicast.pcap")
	if r := decodeReport(t, out); code != exitOK || r.Partial || r.PartialReason != "" {
		t.Errorf("exit %d, partial %v %q", code, r.Partial, r.PartialReason)
	}
}

// TestReadSeveralFiles merges two captures in time order, frame numbers
// counting across both.
func TestReadSeveralFiles(t *testing.T) {
	out, stderr, code := nlbprobe(t, context.Background(), "read", "--json", "--fail-on", "none",
		"fixtures/captures/duplicate-ip-plain.pcap", "fixtures/captures/port-rule-mismatch.pcap")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := decodeReport(t, out)
	if len(r.Inputs) != 2 || r.Stats.Frames != r.Inputs[0].Frames+r.Inputs[1].Frames {
		t.Fatalf("inputs %+v frames %d", r.Inputs, r.Stats.Frames)
	}
	kinds := map[finding.Kind]bool{}
	for _, f := range r.Findings {
		kinds[f.Kind] = true
	}
	if !kinds[finding.DuplicateIP] || !kinds[finding.PortRuleMismatch] {
		t.Errorf("findings of both files expected: %v", kinds)
	}
}
