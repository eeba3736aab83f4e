package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Several inputs cover different times: captures of different lengths
// taken on two nodes, rotated files with a pause between them. A host's
// silence is a heartbeat gap only while an input that hears it was
// capturing, and rates leave out the time no input covers.

// pcapRecord is one record of a classic pcap, for editPcap.
type pcapRecord struct {
	Time time.Time
	Data []byte
}

// editPcap rewrites the little-endian microsecond pcap b: every record's
// time moved by shift, and only the records keep accepts (at their new
// time) kept.
func editPcap(t *testing.T, b []byte, shift time.Duration, keep func(r pcapRecord) bool) []byte {
	t.Helper()
	out := bytes.Clone(b[:24])
	recs := append(pcapRecords(t, b), len(b))
	for i := 0; i+1 < len(recs); i++ {
		rec := bytes.Clone(b[recs[i]:recs[i+1]])
		sec, usec := binary.LittleEndian.Uint32(rec[0:]), binary.LittleEndian.Uint32(rec[4:])
		ts := time.Unix(int64(sec), int64(usec)*1000).Add(shift).UTC()
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
		if keep == nil || keep(pcapRecord{Time: ts, Data: rec[16:]}) {
			out = append(out, rec...)
		}
	}
	return out
}

// heartbeatOf reports whether a frame of healthy-unicast.pcap is a
// heartbeat of host prio: from its masked source 02:P:c0:a8:64:50.
func heartbeatOf(r pcapRecord, prio byte) bool {
	d := r.Data
	return len(d) >= 14 && d[12] == 0x88 && d[13] == 0x6f && bytes.Equal(d[6:12], []byte{0x02, prio, 0xc0, 0xa8, 0x64, 0x50})
}

// readFiles writes files into a temporary folder and runs nlbprobe read
// on them in order, with args before them.
func readFiles(t *testing.T, files map[string][]byte, args []string, order ...string) (stdout string, code int) {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{"read"}, args...)
	for _, name := range order {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	out, stderr, code := nlbprobe(t, context.Background(), args...)
	if stderr != "" {
		t.Fatalf("stderr: %s", stderr)
	}
	return strings.ReplaceAll(out, dir+"/", ""), code
}

// findingLines returns the headline and message of every finding of a
// text report, one string each.
func findingLines(out string) []string {
	var fs []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		for _, sev := range []string{"  ERROR ", "  WARNING ", "  INFO "} {
			if strings.HasPrefix(l, sev) && i+1 < len(lines) {
				fs = append(fs, l+"\n"+lines[i+1])
			}
		}
	}
	return fs
}

// TestReadInputsOfDifferentLengths: two captures of other clusters, 20 and
// 60 s long. The hosts of the short one fall silent when it ends; nothing
// listens for them after that, so no heartbeat-gap says they left (before:
// three ERRORs "was not heard again in the remaining 40s"). A host that
// does stop while its input still captures, and a real gap of the long
// one, are still reported.
func TestReadInputsOfDifferentLengths(t *testing.T) {
	short, long := fixtureBytes(t, "healthy-unicast.pcap"), fixtureBytes(t, "migration.pcap")
	// Host 3 of the short capture stops 10 s before it ends.
	host3Stops := editPcap(t, short, 0, func(r pcapRecord) bool {
		return !heartbeatOf(r, 3) || r.Time.Before(time.Date(2026, 1, 15, 10, 0, 10, 0, time.UTC))
	})
	files := map[string][]byte{"node1.pcap": short, "node2.pcap": long, "node1-host3-stops.pcap": host3Stops}
	for _, order := range [][]string{{"node1.pcap", "node2.pcap"}, {"node2.pcap", "node1.pcap"}} {
		t.Run(strings.Join(order, "+"), func(t *testing.T) {
			out, code := readFiles(t, files, nil, order...)
			if code != exitOK {
				t.Errorf("exit %d, want %d: no error", code, exitOK)
			}
			gaps := 0
			for _, f := range findingLines(out) {
				if strings.Contains(f, "heartbeat-gap") {
					gaps++
					if !strings.Contains(f, "WARNING heartbeat-gap  cluster 10.50.0.100 vlan untagged host 2") ||
						!strings.Contains(f, "sent no heartbeat for 21s (2026-01-15T10:00:19.502933Z to 2026-01-15T10:00:40.501453Z)") {
						t.Errorf("unexpected gap:\n%s", f)
					}
				}
			}
			if gaps != 1 {
				t.Errorf("%d heartbeat gaps, want 1 (migration.pcap's own):\n%s", gaps, out)
			}
			for _, want := range []string{
				"  input    node1.pcap (pcap, Ethernet, snaplen 262144): 176 frames, 10:00:00.029 to 10:00:19.936\n",
				"  input    node2.pcap (pcap, Ethernet, snaplen 262144): 235 frames, 10:00:00.251 to 10:00:59.848\n",
				"    hosts 1, 2, 3: not heard after node1.pcap, the last input that hears them, ended at 10:00:19.936: " +
					"whether they were still up after is not known\n",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the report lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "  coverage ") {
				t.Errorf("the inputs overlap, yet a coverage line:\n%s", out)
			}
		})
	}
	t.Run("a host of the short capture stops while it captures", func(t *testing.T) {
		out, code := readFiles(t, files, nil, "node1-host3-stops.pcap", "node2.pcap")
		if code != exitFindings {
			t.Errorf("exit %d, want %d", code, exitFindings)
		}
		var errs []string
		for _, f := range findingLines(out) {
			if strings.HasPrefix(f, "  ERROR") {
				errs = append(errs, f)
			}
		}
		want := "host 3 (NLB-WEB3, 192.168.100.83, 02:03:c0:a8:64:50) of cluster 192.168.100.80 sent its last heartbeat at " +
			"2026-01-15T10:00:09.351366Z and was not heard again in the 10.6s that inputs that hear it (node1-host3-stops.pcap) " +
			"went on capturing, of the remaining 50.5s of the capture: it left the cluster"
		if len(errs) != 1 || !strings.Contains(errs[0], want) {
			t.Errorf("errors %q, want one: %q", errs, want)
		}
		if !strings.Contains(out, "    hosts 1, 2: not heard after node1-host3-stops.pcap") {
			t.Errorf("no note on hosts 1 and 2:\n%s", out)
		}
	})
}

// TestReadRotatedWithPause: the two files of a rotated capture with four
// minutes between them. No input covers the pause, so it is no heartbeat
// gap (before: a heartbeat-gap per host "sent no heartbeat for 3m40s")
// and no part of a rate (before: 0.15 heartbeats/s per host, 0.77
// frames/s of flooding); the header says which time the inputs cover.
func TestReadRotatedWithPause(t *testing.T) {
	first := fixtureBytes(t, "healthy-unicast.pcap")
	files := map[string][]byte{"ring-1.pcap": first, "ring-2.pcap": editPcap(t, first, 4*time.Minute, nil)}
	out, code := readFiles(t, files, nil, "ring-1.pcap", "ring-2.pcap")
	if code != exitOK {
		t.Errorf("exit %d, want %d", code, exitOK)
	}
	if strings.Contains(out, "heartbeat-gap") {
		t.Errorf("a heartbeat gap over the pause:\n%s", out)
	}
	for _, want := range []string{
		"  coverage the inputs cover 10:00:00.029 to 10:00:19.936 and 10:04:00.029 to 10:04:19.936; 3m40.093s in between no input covers: " +
			"no heartbeat gap, rate or wait for a query counts it\n",
		"    1     192.168.100.81  02:01:c0:a8:64:50  NLB-WEB1  2.6  40          1.00 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}

	r := readJSON(t, files, "ring-1.pcap", "ring-2.pcap")
	capture := r["capture"].(map[string]any)
	uncovered := capture["uncovered"].([]any)
	if len(uncovered) != 1 {
		t.Fatalf("uncovered %v, want the pause", uncovered)
	}
	u := uncovered[0].(map[string]any)
	if u["start"] != "2026-01-15T10:00:19.936697Z" || u["end"] != "2026-01-15T10:04:00.0299Z" || u["seconds"] != 220.093203 {
		t.Errorf("uncovered %v, want 10:00:19.936697 to 10:04:00.0299", u)
	}
	inputs := r["inputs"].([]any)
	if in := inputs[1].(map[string]any); in["start"] != "2026-01-15T10:04:00.0299Z" || in["end"] != "2026-01-15T10:04:19.936697Z" {
		t.Errorf("second input %v, want it from 10:04:00.0299 to 10:04:19.936697", in)
	}
	for _, c := range r["clusters"].([]any) {
		for _, h := range c.(map[string]any)["hosts"].([]any) {
			if rate := h.(map[string]any)["heartbeat_rate"].(float64); math.Abs(rate-1) > 0.05 {
				t.Errorf("host heartbeat rate %v, want 1 a second", rate)
			}
		}
	}
	for _, f := range r["flood"].([]any) {
		if fps := f.(map[string]any)["frames_per_second"].(float64); math.Abs(fps-5) > 0.1 {
			t.Errorf("flood %v frames/s, want the 5 of each file", fps)
		}
	}
}

// TestReadRotatedRealSilence: rotated files with a pause, in which hosts
// do fall silent while a file captures. Host 1 misses 10 s inside the
// second file: a gap as in one file. Host 3 stops 10 s before the first
// file ends and is back in the second: a gap, of which only the part the
// files cover is said to be heard. Host 2 never appears in the second
// file, which hears the cluster's other hosts: it left. Host 3's and the
// others' heartbeats around the pause are no gap.
func TestReadRotatedRealSilence(t *testing.T) {
	base := fixtureBytes(t, "healthy-unicast.pcap")
	at := func(m, s int) time.Time { return time.Date(2026, 1, 15, 10, m, s, 0, time.UTC) }
	first := editPcap(t, base, 0, func(r pcapRecord) bool {
		return !heartbeatOf(r, 3) || r.Time.Before(at(0, 10))
	})
	second := editPcap(t, base, 4*time.Minute, func(r pcapRecord) bool {
		return !heartbeatOf(r, 2) && (!heartbeatOf(r, 1) || r.Time.Before(at(4, 5)) || r.Time.After(at(4, 15)))
	})
	files := map[string][]byte{"ring-1.pcap": first, "ring-2.pcap": second}
	out, code := readFiles(t, files, nil, "ring-1.pcap", "ring-2.pcap")
	if code != exitFindings {
		t.Errorf("exit %d, want %d", code, exitFindings)
	}
	want := map[string]string{
		"host 1": "WARNING heartbeat-gap  cluster 192.168.100.80 vlan untagged host 1  at 2026-01-15 10:04:10.116\n" +
			"          host 1 (NLB-WEB1, 192.168.100.81, 02:01:c0:a8:64:50) of cluster 192.168.100.80 sent no heartbeat for 11s " +
			"(2026-01-15T10:04:04.674Z to 2026-01-15T10:04:15.672142Z), more than 5 periods of 1s: the cluster dropped it and re-converged",
		"host 2": "ERROR   heartbeat-gap  cluster 192.168.100.80 vlan untagged host 2  at 2026-01-15 10:04:05.192\n" +
			"          host 2 (NLB-WEB2, 192.168.100.82, 02:02:c0:a8:64:50) of cluster 192.168.100.80 sent its last heartbeat at " +
			"2026-01-15T10:00:19.028518Z and was not heard again in the 20.7s that inputs that hear it (ring-1.pcap, ring-2.pcap) " +
			"went on capturing, of the remaining 4m0.9s of the capture: it left the cluster",
		"host 3": "WARNING heartbeat-gap  cluster 192.168.100.80 vlan untagged host 3  at 2026-01-15 10:00:15.030\n" +
			"          host 3 (NLB-WEB3, 192.168.100.83, 02:03:c0:a8:64:50) of cluster 192.168.100.80 sent no heartbeat from " +
			"2026-01-15T10:00:09.351366Z to 2026-01-15T10:04:00.351667Z: inputs that hear it were capturing for 10.8s of those 3m51s " +
			"and heard no heartbeat for 10.6s without a break, more than 5 periods of 1s: the cluster dropped it and re-converged " +
			"(for the other 3m40.2s no input that hears it was capturing)",
	}
	var gaps []string
	for _, f := range findingLines(out) {
		if strings.Contains(f, "heartbeat-gap") {
			gaps = append(gaps, f)
		}
	}
	if len(gaps) != len(want) {
		t.Errorf("%d heartbeat gaps, want %d:\n%s", len(gaps), len(want), strings.Join(gaps, "\n"))
	}
	for host, w := range want {
		found := false
		for _, g := range gaps {
			found = found || strings.Contains(g, w)
		}
		if !found {
			t.Errorf("%s: no finding\n%s\nin\n%s", host, w, strings.Join(gaps, "\n"))
		}
	}
}
