package report

import (
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
)

// TestTextHeader checks the header's capture line: the end's date when the
// capture spans days (before, a capture of three days read as minutes:
// "from 2024-03-05 23:59:00.000 to 00:01:00.000"), and the lines that say
// an input holds joined captures and where a time jump stopped the
// analysis.
func TestTextHeader(t *testing.T) {
	start := time.Date(2024, 3, 5, 23, 59, 0, 0, time.UTC)
	report := func(end time.Time) *analyze.Report {
		r := &analyze.Report{Vantage: analyze.VantageSpan}
		r.Stats.Frames = 10
		r.Capture = analyze.CaptureSpan{Start: start, End: end, DurationSeconds: end.Sub(start).Seconds()}
		return r
	}
	tests := []struct {
		name string
		r    *analyze.Report
		want []string
	}{
		{"same day", report(start.Add(30 * time.Second)),
			[]string{"  capture  10 frames from 2024-03-05 23:59:00.000 to 23:59:30.000 UTC (30s)\n"}},
		{"over midnight", report(start.Add(2 * time.Minute)),
			[]string{"  capture  10 frames from 2024-03-05 23:59:00.000 to 2024-03-06 00:01:00.000 UTC (2m0s)\n"}},
		{"days", report(start.Add(72*time.Hour + 1500*time.Millisecond)),
			[]string{"from 2024-03-05 23:59:00.000 to 2024-03-08 23:59:01.500 UTC (72h0m2s)\n"}},
		{"joined and stopped at a time jump", func() *analyze.Report {
			r := report(start.Add(time.Second))
			r.Inputs = []analyze.Input{{Path: "both.pcap", Format: "pcap", LinkTypes: []string{"Ethernet"}, Sections: 2, Frames: 1}}
			r.Stats.AfterTimeJump = 4
			r.Findings = []finding.Finding{{Kind: finding.CaptureTimeJump, Evidence: []uint64{7}}}
			return r
		}(), []string{
			"  input    both.pcap (pcap, Ethernet, 2 captures joined, read one after the other): 1 frame\n",
			"  STOPPED  analysis at frame 7: its time stamp jumps as no capture's does (capture-time-jump); the 4 frames from it on were counted, not analyzed\n",
		}},
		{"overlapping inputs", func() *analyze.Report {
			r := report(start.Add(time.Second))
			r.Inputs = []analyze.Input{{Path: "a.pcap", Format: "pcap", LinkTypes: []string{"Ethernet"}, Sections: 1, Frames: 6, DuplicatesDropped: 3}}
			r.Stats.DuplicatesDropped = 3
			return r
		}(), []string{
			"  input    a.pcap (pcap, Ethernet): 6 frames, 3 of them copies of frames in another input, dropped\n",
			"  merged   the inputs overlap: 3 frames that repeat a frame of another input (same bytes, within --dedup-window) were counted once\n",
		}},
		{"standard input", func() *analyze.Report {
			r := report(start.Add(time.Second))
			r.Inputs = []analyze.Input{{Path: "-", Format: "pcap+gzip", LinkTypes: []string{"Ethernet"}, Sections: 1, Frames: 10}}
			return r
		}(), []string{"  input    - (standard input) (pcap+gzip, Ethernet): 10 frames\n"}},
		{"partial", func() *analyze.Report {
			r := report(start.Add(time.Second))
			r.Partial, r.PartialReason = true, "interrupted after 10 frames: the report covers only those"
			return r
		}(), []string{"  PARTIAL  interrupted after 10 frames: the report covers only those\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			tw := &textWriter{w: &b}
			writeHeader(tw, tt.r)
			for _, line := range tt.want {
				if !strings.Contains(b.String(), line) {
					t.Errorf("header lacks %q:\n%s", line, b.String())
				}
			}
		})
	}
}
