package capture_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// fuzzFrameLimit bounds a fuzz input's frames; a gzip input can expand to
// more than it holds.
const fuzzFrameLimit = 1 << 14

// FuzzFileSource feeds arbitrary bytes as a capture file. It must never
// panic or hang; it must fail to open with an error naming the input, or
// read to an end. Classic pcap is also read with pcapgo's Reader, which
// must see the same packets and the same end. The fast reader runs with a
// 64-byte buffer so that every record straddles a refill, and the input is
// also merged with itself, and read in batches (NextBatch) both ways.
func FuzzFileSource(f *testing.F) {
	eth := layers.LinkTypeEthernet
	// Small seeds: the fuzzer minimises every new input, slowly when it
	// is large.
	fr := []testFrame{at(0, 0, 0.123456789), at(0, 1, 1), at(0, 2, 1)}
	// Synthetic seeds, so the target works without ../shared.
	f.Add(pcapBytes(f, false, 65535, eth, fr))                                                                       // pcap, microseconds
	f.Add(bigEndianPcap(f, pcapBytes(f, true, 96, eth, fr)))                                                         // pcap, nanoseconds, big-endian, snaplen 96
	f.Add(pcapngBytes(f, []pcapgo.NgInterface{ngInterface(eth, 0), ngInterface(layers.LinkTypeLinuxSLL2, 128)}, fr)) // pcapng, two interfaces
	f.Add(gzipBytes(f, pcapBytes(f, false, 65535, eth, fr)))                                                         // gzip of pcap
	f.Add([]byte("\xd4\xc3\xb2\xa1\x02\x00\x04\x00"))                                                                // pcap header cut
	f.Add(cat(pcapBytes(f, false, 65535, eth, fr), bigEndianPcap(f, pcapBytes(f, true, 96, eth, fr))))               // cat a.pcap b.pcap
	f.Add(cat(pcapBytes(f, false, 65535, eth, fr), pcapngBytes(f, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr)))   // cat a.pcap b.pcapng
	// Real captures, when the corpus is there: the NLB heartbeats, a
	// file with captured lengths above original lengths, and a pcapng
	// with no packet.
	if dir, err := sharedPcapsDir(); err == nil {
		for _, name := range []string{"msnlb.pcap", "msnlb2.pcapng", "pim_header_asan-2.pcap", "empty.pcapng"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(checkFileBytes)
}

// fuzzFindings are inputs the fuzzer found, kept as named cases.
var fuzzFindings = []struct {
	name string
	data []byte
}{
	{
		// A record header whose captured length exceeds the snaplen, in
		// a gzip stream cut soon after: the verdict was "damaged" with a
		// small buffer and "cut" with a large one, which reads ahead to
		// the cut. A bad record now wins over a later gzip error.
		name: "gzip cut after an absurd record header",
		data: []byte("\x1f\x8b\bA000000\xbarx\xd3B&\x06\x16\x0688x\x9820"),
	},
}

func TestFuzzFindings(t *testing.T) {
	for _, tt := range fuzzFindings {
		t.Run(tt.name, func(t *testing.T) { checkFileBytes(t, tt.data) })
	}
}

// checkFileBytes is the fuzz target's check of one input.
func checkFileBytes(t *testing.T, data []byte) {
	src, err := capture.OpenBytes([][]byte{data}, false, 64)
	ref, refErr := capture.OpenBytes([][]byte{data}, true, 0)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "capture: open input0: ") {
			t.Fatalf("error does not name the input: %v", err)
		}
		if refErr == nil {
			ref.Close()
			t.Fatalf("we refuse it (%v), pcapgo opens it", err)
		}
		return
	}
	defer src.Close()
	if refErr != nil {
		t.Fatalf("pcapgo refuses it (%v), we open it", refErr)
	}
	defer ref.Close()
	got, err := readAll(t, src, fuzzFrameLimit)
	if err != nil {
		t.Fatal(err)
	}
	want, err := readAll(t, ref, fuzzFrameLimit)
	if err != nil {
		t.Fatal(err)
	}
	// pcapgo reads a second file header in the stream (`cat a.pcap
	// b.pcap`) as a record, so it is no oracle for such input; the checks
	// below still hold. TestConcatenatedFiles checks what is read.
	concatenated := src.Inputs()[0].Sections > 1
	if d := diffPackets(got, want); d != "" && !concatenated {
		t.Fatalf("differs from pcapgo's reading: %s", d)
	}
	if len(got) < fuzzFrameLimit && !concatenated {
		if d := diffVerdict(src.Inputs()[0], ref.Inputs()[0]); d != "" {
			t.Fatalf("InputInfo differs from pcapgo's reading: %s", d)
		}
	}

	twice, err := capture.OpenBytes([][]byte{data, data}, false, 0)
	if err != nil {
		t.Fatalf("opens alone, not twice: %v", err)
	}
	defer twice.Close()
	merged, err := readAll(t, twice, 2*fuzzFrameLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < fuzzFrameLimit && len(merged) != 2*len(got) {
		t.Fatalf("merged with itself: %d frames, want %d", len(merged), 2*len(got))
	}
	// Merged with itself dropping copies, it is read once when its time
	// stamps never go back and no copy was forgotten (more copies of one
	// frame within the window than a bucket holds).
	dedup, err := capture.OpenBytesDedup([][]byte{data, data}, false, 0, capture.DefaultDedupWindow)
	if err != nil {
		t.Fatalf("opens alone, not twice: %v", err)
	}
	defer dedup.Close()
	once, err := readAll(t, dedup, 2*fuzzFrameLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < fuzzFrameLimit {
		if len(once) < len(got) || len(once) > 2*len(got) {
			t.Fatalf("merged with itself, copies dropped: %d frames of %d", len(once), len(got))
		}
		monotone := true
		for i := 1; i < len(got); i++ {
			monotone = monotone && !got[i].Info.Timestamp.Before(got[i-1].Info.Timestamp)
		}
		if monotone && dedup.DedupEvicted() == 0 && len(once) != len(got) {
			t.Fatalf("merged with itself, copies dropped: %d frames, want %d", len(once), len(got))
		}
	}
	// Read in batches, alone and merged, it is the same again.
	checkBatchesMatchNext(t, [][]byte{data}, fuzzFrameLimit)
	checkBatchesMatchNext(t, [][]byte{data, data}, fuzzFrameLimit)
}
