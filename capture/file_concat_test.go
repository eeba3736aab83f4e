package capture_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// TestConcatenatedFiles reads files made with `cat a b > both`, which
// people make of rotated captures: a pcap or pcapng file header in the
// middle of the stream starts the next part, read on with its own byte
// order, time stamp resolution and link type. Before, the second pcap
// header was read as a record dated 2055 and what followed as garbage.
func TestConcatenatedFiles(t *testing.T) {
	eth, sll2 := layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2
	first := frames(0, 5, t0, 100*time.Millisecond)
	second := frames(1, 6, t0.Add(time.Minute), 100*time.Millisecond)
	third := frames(2, 3, t0.Add(2*time.Minute), time.Millisecond)
	ng := func(t testing.TB, lt layers.LinkType, fr []testFrame) []byte {
		return pcapngBytes(t, []pcapgo.NgInterface{ngInterface(lt, 0)}, fr)
	}
	// A record dated where a magic would be read, but no header: the
	// fraction of a second is not version 2.4.
	magicTime := []testFrame{{ts: time.Unix(0xa1b2c3d4, 5000).UTC(), data: ethFrame(3, 0, 60)}}
	type part struct {
		lt layers.LinkType
		fr []testFrame
	}
	tests := []struct {
		name     string
		file     func(t testing.TB) []byte
		parts    []part
		sections int
		format   string
	}{
		{
			name: "pcap+pcap",
			file: func(t testing.TB) []byte {
				return cat(pcapBytes(t, false, 65535, eth, first), pcapBytes(t, false, 65535, eth, second))
			},
			parts: []part{{eth, first}, {eth, second}}, sections: 2, format: "pcap",
		},
		{
			name: "pcap+pcap+pcap, other byte order, resolution and link type",
			file: func(t testing.TB) []byte {
				return cat(pcapBytes(t, false, 65535, eth, first),
					bigEndianPcap(t, pcapBytes(t, true, 1600, sll2, second)),
					pcapBytes(t, true, 96, eth, third))
			},
			parts: []part{{eth, first}, {sll2, second}, {eth, third}}, sections: 3, format: "pcap",
		},
		{
			name: "pcap+empty pcap+pcap",
			file: func(t testing.TB) []byte {
				return cat(pcapBytes(t, false, 65535, eth, first), pcapBytes(t, false, 65535, eth, nil),
					pcapBytes(t, false, 65535, eth, second))
			},
			parts: []part{{eth, first}, {eth, second}}, sections: 3, format: "pcap",
		},
		{
			name: "gzip of pcap+pcap",
			file: func(t testing.TB) []byte {
				return gzipBytes(t, cat(pcapBytes(t, false, 65535, eth, first), pcapBytes(t, false, 65535, eth, second)))
			},
			parts: []part{{eth, first}, {eth, second}}, sections: 2, format: "pcap+gzip",
		},
		{
			name: "pcap.gz+pcap.gz (two gzip members)",
			file: func(t testing.TB) []byte {
				return cat(gzipBytes(t, pcapBytes(t, false, 65535, eth, first)), gzipBytes(t, pcapBytes(t, false, 65535, eth, second)))
			},
			parts: []part{{eth, first}, {eth, second}}, sections: 2, format: "pcap+gzip",
		},
		{
			name:  "pcapng+pcapng",
			file:  func(t testing.TB) []byte { return cat(ng(t, eth, first), ng(t, sll2, second)) },
			parts: []part{{eth, first}, {sll2, second}}, sections: 2, format: "pcapng",
		},
		{
			name:  "pcap+pcapng",
			file:  func(t testing.TB) []byte { return cat(pcapBytes(t, false, 65535, eth, first), ng(t, sll2, second)) },
			parts: []part{{eth, first}, {sll2, second}}, sections: 2, format: "pcap",
		},
		{
			name: "pcap+pcap+pcapng",
			file: func(t testing.TB) []byte {
				return cat(pcapBytes(t, false, 65535, eth, first), pcapBytes(t, false, 65535, eth, second), ng(t, eth, third))
			},
			parts: []part{{eth, first}, {eth, second}, {eth, third}}, sections: 3, format: "pcap",
		},
		{
			name: "a record dated like a magic is a record",
			file: func(t testing.TB) []byte {
				return pcapBytes(t, false, 65535, eth, append(slices.Clone(first), magicTime...))
			},
			parts: []part{{eth, append(slices.Clone(first), magicTime...)}}, sections: 1, format: "pcap",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.file(t)
			var want []gotPacket
			var lts []layers.LinkType
			for _, p := range tt.parts {
				for _, f := range p.fr {
					want = append(want, wantPacket(f, p.lt, uint64(len(want)+1), 0))
				}
				if !slices.Contains(lts, p.lt) {
					lts = append(lts, p.lt)
				}
			}
			// Small buffers make headers straddle refills.
			for _, bufSize := range []int{0, 64, 100} {
				src, err := capture.OpenBytes([][]byte{data}, false, bufSize)
				if err != nil {
					t.Fatal(err)
				}
				got, err := readAll(t, src, 1000)
				if err != nil {
					t.Fatal(err)
				}
				if d := diffPackets(got, want); d != "" {
					t.Fatalf("buffer %d: %s", bufSize, d)
				}
				in := src.Inputs()[0]
				if in.Sections != tt.sections || in.Format != tt.format || !slices.Equal(in.LinkTypes, lts) || in.Err != "" {
					t.Errorf("buffer %d: Sections %d Format %q LinkTypes %v Err %q, want %d %q %v and no error",
						bufSize, in.Sections, in.Format, in.LinkTypes, in.Err, tt.sections, tt.format, lts)
				}
				src.Close()
			}
			checkBatchesMatchNext(t, [][]byte{data}, 1000)
		})
	}
}

// TestConcatenatedFileCutInSecondHeader: a file that ends inside the
// second part's header is cut there, not damaged, and the first part is
// read whole.
func TestConcatenatedFileCutInSecondHeader(t *testing.T) {
	eth := layers.LinkTypeEthernet
	first := frames(0, 3, t0, time.Millisecond)
	a := pcapBytes(t, false, 65535, eth, first)
	b := pcapBytes(t, false, 65535, eth, frames(1, 2, t0.Add(time.Second), time.Millisecond))
	src, err := capture.OpenBytes([][]byte{cat(a, b[:20])}, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src, 100)
	if err != nil || len(got) != len(first) {
		t.Fatalf("%d packets, error %v", len(got), err)
	}
	if in := src.Inputs()[0]; !in.TruncatedAtEnd || in.Damaged || in.BadRecord != 4 {
		t.Errorf("input %+v", in)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
