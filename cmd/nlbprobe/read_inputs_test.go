package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// fixtureBytes reads a capture of fixtures/captures.
func fixtureBytes(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(), "fixtures", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pcapRecords returns where each record of a little-endian classic pcap
// starts, and the end of the file.
func pcapRecords(t *testing.T, b []byte) []int {
	t.Helper()
	if binary.BigEndian.Uint32(b) != 0xd4c3b2a1 {
		t.Fatal("not a little-endian microsecond pcap")
	}
	var offs []int
	for off := 24; off+16 <= len(b); off += 16 + int(binary.LittleEndian.Uint32(b[off+8:])) {
		offs = append(offs, off)
	}
	return offs
}

// splitPcap splits a pcap before record i into two pcap files, as a
// capture rotated there would be.
func splitPcap(t *testing.T, b []byte, i int) (a, c []byte) {
	t.Helper()
	off := pcapRecords(t, b)[i]
	a = bytes.Clone(b[:off])
	c = append(bytes.Clone(b[:24]), b[off:]...)
	return a, c
}

// splitPcapng reads a pcapng of one Ethernet interface and writes its
// packets before packet i and from it on as two pcapng files.
func splitPcapng(t *testing.T, b []byte, i int) (a, c []byte) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var bufs [2]bytes.Buffer
	var ws [2]*pcapgo.NgWriter
	for k := range ws {
		intf, _ := r.Interface(0)
		if ws[k], err = pcapgo.NewNgWriterInterface(&bufs[k], intf, pcapgo.DefaultNgWriterOptions); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; ; n++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		w := ws[0]
		if n >= i {
			w = ws[1]
		}
		ci.InterfaceIndex = 0
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ci.Timestamp, CaptureLength: ci.CaptureLength, Length: ci.Length}, data); err != nil {
			t.Fatal(err)
		}
	}
	for k := range ws {
		if err := ws[k].Flush(); err != nil {
			t.Fatal(err)
		}
	}
	return bufs[0].Bytes(), bufs[1].Bytes()
}

// readJSON runs `nlbprobe read --json --fail-on none` on files written
// into a temporary directory and returns the report.
func readJSON(t *testing.T, files map[string][]byte, order ...string) map[string]any {
	t.Helper()
	return readJSONArgs(t, files, nil, order...)
}

// readJSONArgs is readJSON with more arguments for read.
func readJSONArgs(t *testing.T, files map[string][]byte, extra []string, order ...string) map[string]any {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"read", "--json", "--fail-on", "none"}, extra...)
	for _, name := range order {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	out, stderr, code := nlbprobe(t, context.Background(), args...)
	if code != exitOK {
		t.Fatalf("%v: exit %d: %s", order, code, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// reportWithout returns the report as JSON without the given top-level
// keys, for comparing what must be the same.
func reportWithout(t *testing.T, m map[string]any, keys ...string) string {
	t.Helper()
	c := map[string]any{}
	for k, v := range m {
		c[k] = v
	}
	for _, k := range keys {
		delete(c, k)
	}
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadConcatenatedCaptures: a capture rotated into two files and
// joined with cat (pcap+pcap, pcapng+pcapng) reads as the capture it was:
// the same report, the input saying it holds 2 joined captures. Before,
// the second pcap header read as a frame dated 2055 and gave dozens of
// false heartbeat-gap errors.
func TestReadConcatenatedCaptures(t *testing.T) {
	for _, name := range []string{"healthy-unicast.pcap", "healthy-unicast.pcapng", "migration.pcap"} {
		t.Run(name, func(t *testing.T) {
			orig := fixtureBytes(t, name)
			var a, b []byte
			if strings.HasSuffix(name, ".pcapng") {
				a, b = splitPcapng(t, orig, 77)
			} else {
				a, b = splitPcap(t, orig, 77)
			}
			ext := filepath.Ext(name)
			files := map[string][]byte{"orig" + ext: orig, "both" + ext: append(bytes.Clone(a), b...)}
			want := readJSON(t, files, "orig"+ext)
			got := readJSON(t, files, "both"+ext)
			if w, g := reportWithout(t, want, "inputs"), reportWithout(t, got, "inputs"); w != g {
				t.Errorf("joined file reports differently:\n%s", firstDifference(w, g))
			}
			in := got["inputs"].([]any)[0].(map[string]any)
			if in["sections"] != 2.0 || in["frames"] != want["stats"].(map[string]any)["frames"] {
				t.Errorf("input %v", in)
			}
		})
	}
}

// TestReadTimeJump: a frame dated decades ahead, or going back by more
// than a capture's clock does, ends the analysis there with one
// capture-time-jump warning: the report is that of the capture cut before
// the frame, plus the warning and the frames counted after it. Before,
// the jump became a capture "lasting" decades and heartbeat-gap errors
// for every host. The same file joined to itself (cat x x) jumps back.
func TestReadTimeJump(t *testing.T) {
	orig := fixtureBytes(t, "healthy-unicast.pcap")
	recs := pcapRecords(t, orig)
	const at = 100 // the record (0-based) that jumps; frame at+1
	withTime := func(sec uint32) []byte {
		b := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(b[recs[at]:], sec)
		return b
	}
	cut, _ := splitPcap(t, orig, at)
	base := binary.LittleEndian.Uint32(orig[recs[at]:])
	tests := []struct {
		name  string
		file  []byte
		after int // frames counted after the jump, the jumping one included
	}{
		{"decades ahead", withTime(uint32(time.Date(2055, 12, 19, 16, 41, 56, 0, time.UTC).Unix())), len(recs) - at},
		{"back by a minute", withTime(base - 60), len(recs) - at},
		{"back to 1990", withTime(uint32(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix())), len(recs) - at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string][]byte{"cut.pcap": cut, "jump.pcap": tt.file}
			want := readJSON(t, files, "cut.pcap")
			got := readJSON(t, files, "jump.pcap")
			checkJumpReport(t, want, got, at+1, tt.after)
		})
	}

	t.Run("the same file joined to itself", func(t *testing.T) {
		files := map[string][]byte{"orig.pcap": orig, "twice.pcap": append(bytes.Clone(orig), orig[24:]...)}
		want := readJSON(t, files, "orig.pcap")
		got := readJSON(t, files, "twice.pcap")
		checkJumpReport(t, want, got, len(recs)+1, len(recs))
	})
}

// checkJumpReport checks that got is want with one capture-time-jump
// finding at frame jumpFrame and after frames counted, not analyzed.
func checkJumpReport(t *testing.T, want, got map[string]any, jumpFrame, after int) {
	t.Helper()
	var jumps []map[string]any
	var rest []any
	for _, f := range got["findings"].([]any) {
		if f.(map[string]any)["kind"] == string(finding.CaptureTimeJump) {
			jumps = append(jumps, f.(map[string]any))
		} else {
			rest = append(rest, f)
		}
	}
	if len(jumps) != 1 {
		t.Fatalf("%d capture-time-jump findings, want 1: %v", len(jumps), got["findings"])
	}
	j := jumps[0]
	if ev := j["evidence"].([]any); len(ev) != 1 || ev[0] != float64(jumpFrame) || j["severity"] != "warning" || j["count"] != float64(after) {
		t.Errorf("finding %v, want evidence [%d], count %d", j, jumpFrame, after)
	}
	stats := got["stats"].(map[string]any)
	wantStats := want["stats"].(map[string]any)
	if stats["after_time_jump"] != float64(after) || stats["frames"] != wantStats["frames"].(float64)+float64(after) {
		t.Errorf("stats frames %v after_time_jump %v, want %v+%d", stats["frames"], stats["after_time_jump"], wantStats["frames"], after)
	}
	// Everything else is the report of the capture before the jump.
	got["findings"] = rest
	if rest == nil {
		got["findings"] = []any{}
	}
	for _, k := range []string{"frames", "bytes", "captured_bytes", "after_time_jump"} {
		delete(stats, k)
		delete(wantStats, k)
	}
	if w, g := reportWithout(t, want, "inputs"), reportWithout(t, got, "inputs"); w != g {
		t.Errorf("differs from the capture cut before the jump:\n%s", firstDifference(w, g))
	}
}

// pcapRange returns a pcap of records [lo, hi) of the pcap b.
func pcapRange(t *testing.T, b []byte, lo, hi int) []byte {
	t.Helper()
	recs := append(pcapRecords(t, b), len(b))
	return append(bytes.Clone(b[:24]), b[recs[lo]:recs[hi]]...)
}

// TestReadOverlappingInputs: inputs that share frames (the same file
// given twice, two captures that overlap in part) report as the capture
// they hold, counting each frame once: the same report as reading the
// original alone, but for the inputs and the count of copies dropped.
// Before, `read x.pcap x.pcap` doubled every count and rate.
func TestReadOverlappingInputs(t *testing.T) {
	for _, name := range []string{"healthy-unicast.pcap", "flooding-nonmember.pcap", "stale-cluster-mac.pcap", "migration.pcap"} {
		t.Run(name, func(t *testing.T) {
			orig := fixtureBytes(t, name)
			n := len(pcapRecords(t, orig))
			a, b, c := n/2, n/3, 2*n/3
			files := map[string][]byte{
				"orig.pcap": orig,
				"a.pcap":    pcapRange(t, orig, 0, c), "b.pcap": pcapRange(t, orig, b, n),
				"c.pcap": pcapRange(t, orig, 0, a+1), "d.pcap": pcapRange(t, orig, a-5, n), "e.pcap": pcapRange(t, orig, b, c),
			}
			args := readArgs(t, name)
			want := readJSONArgs(t, files, args, "orig.pcap")
			wantStats := want["stats"].(map[string]any)
			for _, tt := range []struct {
				name  string
				order []string
				dups  int
			}{
				{"the same file twice", []string{"orig.pcap", "orig.pcap"}, n},
				{"two captures that overlap by a third", []string{"a.pcap", "b.pcap"}, c - b},
				{"three captures, one inside the others", []string{"c.pcap", "d.pcap", "e.pcap"}, a + 1 - (a - 5) + c - b},
			} {
				t.Run(tt.name, func(t *testing.T) {
					got := readJSONArgs(t, files, args, tt.order...)
					stats := got["stats"].(map[string]any)
					if stats["duplicates_dropped"] != float64(tt.dups) || stats["frames"] != wantStats["frames"] {
						t.Errorf("frames %v, duplicates dropped %v; want %v, %d", stats["frames"], stats["duplicates_dropped"], wantStats["frames"], tt.dups)
					}
					stats["duplicates_dropped"] = wantStats["duplicates_dropped"]
					w := reportWithout(t, want, "inputs")
					if g := reportWithout(t, got, "inputs"); w != g {
						t.Errorf("reports differently from %s alone:\n%s", name, firstDifference(w, g))
					}
				})
			}
		})
	}
}

// readArgs returns the scenario arguments (vantage, clusters) of a
// fixture capture.
func readArgs(t *testing.T, capture string) []string {
	t.Helper()
	name := strings.TrimSuffix(capture, filepath.Ext(capture))
	exp, err := fixtures.ReadExpect(filepath.Join(moduleRoot(), "fixtures", "captures", name+".expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	return exp.Args
}
