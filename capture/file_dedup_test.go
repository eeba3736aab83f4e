package capture_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/capture"
)

// overlapCapture is a capture of n frames 1 ms apart that has what
// overlapping captures share and must not be confused with copies: pairs
// of one frame within a capture 20 µs apart (a span port that saw both
// directions), and a frame repeated byte for byte every 300 ms (a
// heartbeat re-sent, wider apart than the window).
func overlapCapture(n int) []testFrame {
	fr := frames(0, n, t0, time.Millisecond)
	beat := ethFrame(9, 9, 60)
	for i := range fr {
		switch {
		case i%300 == 7:
			fr[i].data = beat
		case i%50 == 21:
			fr[i].data = fr[i-1].data
			fr[i].ts = fr[i-1].ts.Add(20 * time.Microsecond)
		}
	}
	return fr
}

// readDedup reads the pcap files built from parts with the copies across
// inputs dropped (the default window), in batches when batched.
func readDedup(t *testing.T, parts [][]testFrame, batched bool) ([]gotPacket, []capture.InputInfo) {
	t.Helper()
	var files [][]byte
	for _, p := range parts {
		files = append(files, pcapBytes(t, false, 65535, layers.LinkTypeEthernet, p))
	}
	src, err := capture.OpenBytesDedup(files, false, 0, capture.DefaultDedupWindow)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []gotPacket
	if batched {
		got, err = readAllBatches(t, src, 1<<20, 3, true)
	} else {
		got, err = readAll(t, src, 1<<20)
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].Input = 0
		got[i].Info.InterfaceIndex = 0
	}
	return got, src.Inputs()
}

// TestDedupAcrossInputs: inputs that hold the same frames (the same file
// twice, captures that overlap in part, with or without a clock skew
// below the window) read as the capture they were cut from, frame numbers
// included, and each input says how many of its frames were dropped as
// copies. Frames repeated within one input are kept, as reading it alone
// keeps them; so are the frames of rotated files that follow each other.
// Before, every shared frame was read twice.
func TestDedupAcrossInputs(t *testing.T) {
	orig := overlapCapture(1500)
	// Large frames, so that batches fill (1 MiB) and give a frame back.
	big := frames(0, 2000, t0, time.Millisecond)
	shift := func(fr []testFrame, d time.Duration) []testFrame {
		out := slices.Clone(fr)
		for i := range out {
			out[i].ts = out[i].ts.Add(d)
		}
		return out
	}
	tests := []struct {
		name  string
		parts [][]testFrame
		want  []testFrame // nil: only the count is checked
		count int
		dups  uint64 // all inputs'; which input's are dropped is the merge's order
	}{
		{"the same file twice", [][]testFrame{orig, orig}, orig, len(orig), 1500},
		{"the same file three times", [][]testFrame{orig, orig, orig}, orig, len(orig), 3000},
		{"two partial overlaps", [][]testFrame{orig[:900], orig[600:]}, orig, len(orig), 300},
		{"two partial overlaps given the other way", [][]testFrame{orig[600:], orig[:900]}, orig, len(orig), 300},
		{"three overlapping parts", [][]testFrame{orig[:700], orig[500:1200], orig[1000:]}, orig, len(orig), 400},
		{"a part inside another", [][]testFrame{orig, orig[300:600]}, orig, len(orig), 300},
		{"an overlap with the clock 40 ms ahead", [][]testFrame{orig[:900], shift(orig[600:], 40*time.Millisecond)}, nil, len(orig), 300},
		{"an overlap with the clock 60 ms behind", [][]testFrame{orig[:900], shift(orig[600:], -60*time.Millisecond)}, nil, len(orig), 300},
		{"rotated files with repeated frames", [][]testFrame{orig[:700], orig[700:]}, orig, len(orig), 0},
		{"large frames twice", [][]testFrame{big, big}, big, len(big), 2000},
	}
	for _, tt := range tests {
		for _, batched := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, batches %v", tt.name, batched), func(t *testing.T) {
				got, inputs := readDedup(t, tt.parts, batched)
				if len(got) != tt.count {
					t.Fatalf("%d frames, want %d", len(got), tt.count)
				}
				if tt.want != nil {
					var want []gotPacket
					for i, f := range tt.want {
						want = append(want, wantPacket(f, layers.LinkTypeEthernet, uint64(i+1), 0))
					}
					if d := diffPackets(got, want); d != "" {
						t.Fatal(d)
					}
				}
				var dups uint64
				for i, in := range inputs {
					dups += in.Duplicates
					if in.Frames != uint64(len(tt.parts[i])) {
						t.Errorf("input %d: %d frames read, want %d", i, in.Frames, len(tt.parts[i]))
					}
				}
				if dups != tt.dups {
					t.Errorf("%d duplicates dropped, want %d", dups, tt.dups)
				}
			})
		}
	}
}

// TestDedupOff: without a window (or with one input) every frame is read.
func TestDedupOff(t *testing.T) {
	orig := overlapCapture(300)
	b := pcapBytes(t, false, 65535, layers.LinkTypeEthernet, orig)
	src, err := capture.OpenBytesDedup([][]byte{b, b}, false, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src, 10000)
	if err != nil || len(got) != 2*len(orig) {
		t.Fatalf("%d frames, error %v; want %d", len(got), err, 2*len(orig))
	}
}
