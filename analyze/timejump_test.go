package analyze_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
)

// TestTimeJumpEndsAnalysis: with EndAtTimeJump, a frame dated decades
// ahead, or earlier than the latest by more than MaxTimeStepBack, ends the
// analysis there with one capture-time-jump finding; frames after it are
// counted, not analyzed, and the clock stays at the frame before, so no
// heartbeat gap spans the jump. Without the option (a live capture), the
// same frames made the engine see every host silent for decades.
func TestTimeJumpEndsAnalysis(t *testing.T) {
	recs := testcapture.MustRead(t, filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures", "healthy-unicast.pcap"))
	const at = 100 // index of the jumping frame: frame at+1
	last := recs[at-1].Time
	tests := []struct {
		name  string
		shift func(r []testcapture.Record)
		jumps bool
	}{
		{"decades ahead", func(r []testcapture.Record) { r[at].Time = r[at].Time.AddDate(30, 0, 0) }, true},
		{"back 11 s from a frame on", func(r []testcapture.Record) {
			for i := at; i < len(r); i++ {
				r[i].Time = last.Add(-analyze.MaxTimeStepBack - time.Second + r[i].Time.Sub(r[at].Time))
			}
		}, true},
		{"back 9 s is reordering, not a jump", func(r []testcapture.Record) {
			for i := at; i < len(r); i++ {
				r[i].Time = last.Add(-analyze.MaxTimeStepBack + time.Second + r[i].Time.Sub(r[at].Time))
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shifted := slices.Clone(recs)
			tt.shift(shifted)
			feed := func(opts analyze.Options, rs []testcapture.Record) *analyze.Report {
				e := analyze.New(opts)
				for i, r := range rs {
					e.PacketAt(r.Data, uint64(i+1), r.Time.UnixNano(), r.WireLen, r.LinkType, 0)
				}
				return e.Finish()
			}
			r := feed(analyze.Options{EndAtTimeJump: true}, shifted)
			var jumps, gaps []finding.Finding
			for _, f := range r.Findings {
				switch f.Kind {
				case finding.CaptureTimeJump:
					jumps = append(jumps, f)
				case finding.HeartbeatGap:
					gaps = append(gaps, f)
				}
			}
			if len(gaps) != 0 {
				t.Errorf("heartbeat gaps over the jump: %+v", gaps)
			}
			if !tt.jumps {
				if len(jumps) != 0 || r.Stats.AfterTimeJump != 0 {
					t.Errorf("a jump found: %+v, %d frames after it", jumps, r.Stats.AfterTimeJump)
				}
				return
			}
			after := uint64(len(recs) - at)
			if len(jumps) != 1 || !slices.Equal(jumps[0].Evidence, []uint64{at + 1}) || jumps[0].Count != after ||
				jumps[0].Severity != finding.Warning || !strings.Contains(jumps[0].Message, "frame 101 is dated") {
				t.Fatalf("time-jump findings %+v, want one at frame %d counting %d", jumps, at+1, after)
			}
			if r.Stats.Frames != uint64(len(recs)) || r.Stats.AfterTimeJump != after || !r.Capture.End.Equal(last) {
				t.Errorf("frames %d, after the jump %d, capture ends %v; want %d, %d, %v",
					r.Stats.Frames, r.Stats.AfterTimeJump, r.Capture.End, len(recs), after, last)
			}
			// The analysis is that of the frames before the jump.
			cut := feed(analyze.Options{EndAtTimeJump: true}, recs[:at])
			if len(r.Clusters) != len(cut.Clusters) || r.Clusters[0].Heartbeats != cut.Clusters[0].Heartbeats ||
				r.Stats.Protocols != cut.Stats.Protocols {
				t.Errorf("clusters %+v protocols %+v, want those of the frames before the jump %+v %+v",
					r.Clusters, r.Stats.Protocols, cut.Clusters, cut.Stats.Protocols)
			}
			// Without the option, the jump is taken as time passing.
			if tt.name == "decades ahead" {
				live := feed(analyze.Options{}, shifted)
				if live.Capture.DurationSeconds < 365*24*3600 {
					t.Errorf("without EndAtTimeJump the capture lasts %v s", live.Capture.DurationSeconds)
				}
			}
		})
	}
}
