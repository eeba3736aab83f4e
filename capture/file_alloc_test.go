package capture_test

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// TestNextAllocatesNothing proves the steady-state read loop allocates
// nothing per frame, for each format and for a merge: at 20 million frames
// a second, one allocation per frame would be the garbage collector's
// whole budget.
func TestNextAllocatesNothing(t *testing.T) {
	eth := layers.LinkTypeEthernet
	const n = 12000
	fr := func(file int) []testFrame { return frames(file, n, t0, time.Millisecond) }
	files := map[string]func(t *testing.T) []byte{
		"pcap": func(t *testing.T) []byte { return pcapBytes(t, false, 65535, eth, fr(0)) },
		"pcap nano big-endian": func(t *testing.T) []byte {
			return bigEndianPcap(t, pcapBytes(t, true, 65535, eth, fr(1)))
		},
		"pcap gzip": func(t *testing.T) []byte { return gzipBytes(t, pcapBytes(t, false, 65535, eth, fr(2))) },
		"pcapng": func(t *testing.T) []byte {
			return pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr(3))
		},
		"pcapng SLL2": func(t *testing.T) []byte {
			return pcapngBytes(t, []pcapgo.NgInterface{ngInterface(layers.LinkTypeLinuxSLL2, 0)}, fr(5))
		},
		"pcapng gzip": func(t *testing.T) []byte {
			return gzipBytes(t, pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr(4)))
		},
	}
	tests := []struct {
		name   string
		files  []string
		allocs float64
	}{
		{"pcap", []string{"pcap"}, 0},
		{"pcap nanoseconds big-endian", []string{"pcap nano big-endian"}, 0},
		{"pcap gzip", []string{"pcap gzip"}, 0},
		{"pcapng", []string{"pcapng"}, 0},
		{"pcapng gzip", []string{"pcapng gzip"}, 0},
		{"merge of five files", []string{"pcap", "pcap nano big-endian", "pcap gzip", "pcapng", "pcapng gzip"}, 0},
		// Every other packet is a copy of the other input's: dropped.
		{"a file merged with itself", []string{"pcap", "pcap"}, 0},
		// pcapgo's NgReader (v1.7.7) boxes each packet's link type into
		// an interface for ci.AncillaryData; Go allocates that box for
		// values above 255, such as Linux SLL2 (276). If a pcapgo
		// upgrade makes this 0, lower the bound.
		{"pcapng Linux SLL2, one allocation in pcapgo", []string{"pcapng SLL2"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for _, name := range tt.files {
				paths = append(paths, writeFile(t, dir, name, files[name](t)))
			}
			src, err := capture.OpenFiles(paths)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var p capture.Packet
			var failed error
			next := func() {
				if err := src.Next(&p); err != nil && failed == nil {
					failed = err
				}
			}
			// Past the first refill of every buffer.
			for range 2000 {
				next()
			}
			if allocs := testing.AllocsPerRun(5000, next); allocs > tt.allocs {
				t.Errorf("Next allocates %v times per frame, want at most %v", allocs, tt.allocs)
			}
			if failed != nil {
				t.Fatalf("Next: %v (the files are too short for the test)", failed)
			}
		})
	}
}
