package capture_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// readAllBatches reads src to the end (or about limit packets) with
// NextBatch, through a pool of pool batches used in turn, as a pipeline
// recycles them; with mixed, every other call is a Next instead. It
// returns the packets as readAll does, and checks that every batch is non-empty and numbered on from the
// packets before.
func readAllBatches(t testing.TB, src *capture.FileSource, limit, pool int, mixed bool) ([]gotPacket, error) {
	t.Helper()
	batches := make([]capture.Batch, pool)
	var out []gotPacket
	var p capture.Packet
	for call := 0; len(out) < limit; call++ {
		if mixed && call%2 == 1 {
			err := src.Next(&p)
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			if want := uint64(len(out) + 1); p.Frame != want {
				t.Fatalf("Next after a batch: Frame %d, want %d", p.Frame, want)
			}
			g := gotPacket{p}
			g.Data = slices.Clone(p.Data)
			g.Info.AncillaryData = nil
			g.Info.InterfaceIndex = 0
			out = append(out, g)
			continue
		}
		b := &batches[call%pool]
		err := src.NextBatch(b)
		if errors.Is(err, io.EOF) {
			if b.Len() != 0 {
				t.Fatalf("io.EOF with %d packets", b.Len())
			}
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if b.Len() == 0 {
			t.Fatal("an empty batch without an error")
		}
		if want := uint64(len(out) + 1); b.FirstFrame != want {
			t.Fatalf("batch starts at frame %d, want %d", b.FirstFrame, want)
		}
		for i, bp := range b.Packets {
			data := b.Data(i)
			if len(data) != int(bp.CaptureLength) || cap(data) != len(data) {
				t.Fatalf("frame %d: len/cap(Data) %d/%d, CaptureLength %d", b.Frame(i), len(data), cap(data), bp.CaptureLength)
			}
			out = append(out, gotPacket{capture.Packet{
				Data:     slices.Clone(data),
				Info:     gopacket.CaptureInfo{Timestamp: time.Unix(0, bp.Time).UTC(), CaptureLength: len(data), Length: int(bp.Length)},
				LinkType: bp.LinkType, Frame: b.Frame(i), Input: int(bp.Input),
			}})
		}
	}
	return out, nil
}

// checkBatchesMatchNext reads the captures with Next and with NextBatch
// (batches alone and mixed with Next, buffers of several sizes) and fails
// on any difference in the packets or in what Inputs reports after.
func checkBatchesMatchNext(t *testing.T, files [][]byte, limit int) {
	t.Helper()
	ref, err := capture.OpenBytes(files, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want, wantErr := readAll(t, ref, limit)
	for i := range want {
		want[i].Info.InterfaceIndex = 0
		// A batch has the time as UnixNano, which wraps outside the years
		// 1678-2262 (found by the fuzzer in a pcapng file): compare in the
		// form the batch can hold.
		want[i].Info.Timestamp = time.Unix(0, want[i].Info.Timestamp.UnixNano()).UTC()
	}
	for _, bufSize := range []int{64, 1000, 0} {
		for _, pool := range []int{1, 3} {
			for _, mixed := range []bool{false, true} {
				name := fmt.Sprintf("buffer %d, %d batches, mixed with Next %v", bufSize, pool, mixed)
				src, err := capture.OpenBytes(files, false, bufSize)
				if err != nil {
					t.Fatal(err)
				}
				got, gotErr := readAllBatches(t, src, limit, pool, mixed)
				if (gotErr == nil) != (wantErr == nil) {
					t.Fatalf("%s: error %v, Next's %v", name, gotErr, wantErr)
				}
				if len(got) > limit {
					got = got[:limit]
				}
				if d := diffPackets(got, want); d != "" {
					t.Fatalf("%s: %s", name, d)
				}
				if len(want) < limit {
					for i, in := range src.Inputs() {
						if d := diffInfo(in, ref.Inputs()[i]); d != "" || in.Err != ref.Inputs()[i].Err {
							t.Fatalf("%s: input %d: %s (Err %q, want %q)", name, i, d, in.Err, ref.Inputs()[i].Err)
						}
					}
				}
				src.Close()
			}
		}
	}
}

func TestNextBatchMatchesNext(t *testing.T) {
	eth := layers.LinkTypeEthernet
	fr := func(file, n int) []testFrame {
		return frames(file, n, t0.Add(time.Duration(file)*time.Millisecond), time.Millisecond)
	}
	pcap := pcapBytes(t, false, 65535, eth, fr(0, 3000))
	damaged := slices.Clone(pcap)
	binary.LittleEndian.PutUint32(damaged[pcapRecordOffsets(t, damaged)[1500]+8:], 1<<30)
	cut := pcap[:pcapRecordOffsets(t, pcap)[2999]+30]
	cutInHeader := pcap[:pcapRecordOffsets(t, pcap)[2999]+7]
	// Fractions of a second of a second or more (corrupt, yet read by
	// libpcap and Wireshark), some overflowing the uint32 product.
	overSecond := slices.Clone(pcap)
	for i, off := range pcapRecordOffsets(t, overSecond)[100:110] {
		binary.LittleEndian.PutUint32(overSecond[off+4:], 999_999+uint32(i)*1_000_000)
	}
	// Records above the 256 KiB read buffer, which grows for them, and
	// one over the file's snaplen after them: the input ends there.
	big := func(i, n int) testFrame {
		return testFrame{ts: t0.Add(time.Duration(i) * time.Millisecond), data: ethFrame(5, i, n)}
	}
	overBigSnaplen := pcapBytes(t, false, 400_000, eth, []testFrame{big(0, 100), big(1, 290_000), big(2, 300_001), big(3, 100)})
	binary.LittleEndian.PutUint32(overBigSnaplen[16:], 300_000)
	tests := []struct {
		name  string
		files [][]byte
	}{
		{"pcap", [][]byte{pcap}},
		{"pcap records above 256 KiB", [][]byte{overBigSnaplen}},
		{"pcap nanoseconds big-endian", [][]byte{bigEndianPcap(t, pcapBytes(t, true, 65535, eth, fr(1, 2000)))}},
		{"pcap gzip", [][]byte{gzipBytes(t, pcapBytes(t, false, 65535, eth, fr(2, 2000)))}},
		{"pcap one packet", [][]byte{pcapBytes(t, false, 65535, eth, fr(0, 1))}},
		{"pcap no packet", [][]byte{pcapBytes(t, false, 65535, eth, nil)}},
		{"pcap damaged in the middle", [][]byte{damaged}},
		{"pcap cut in a record", [][]byte{cut}},
		{"pcap cut in a record header", [][]byte{cutInHeader}},
		{"pcap records over the snaplen", [][]byte{pcapBytes(t, false, 100, eth, fr(3, 500))}},
		{"pcap fractions of a second or more", [][]byte{overSecond}},
		{"pcapng", [][]byte{pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr(4, 2000))}},
		{"merge of three", [][]byte{pcap, damaged, gzipBytes(t, pcapBytes(t, false, 65535, eth, fr(2, 2000)))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkBatchesMatchNext(t, tt.files, 1<<20) })
	}
}

// TestNextBatchAllocatesNothing proves that reading with recycled batches
// allocates nothing in steady state, without a copy of a packet for a
// single pcap file and with one into the batch for the others.
func TestNextBatchAllocatesNothing(t *testing.T) {
	eth := layers.LinkTypeEthernet
	fr := frames(0, 60000, t0, time.Millisecond)
	files := map[string][][]byte{
		"pcap":   {pcapBytes(t, false, 65535, eth, fr)},
		"pcapng": {pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr)},
		"merge":  {pcapBytes(t, false, 65535, eth, fr), pcapBytes(t, true, 65535, eth, frames(1, 60000, t0, time.Millisecond))},
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			src, err := capture.OpenBytes(data, false, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			batches := make([]capture.Batch, 3)
			call := 0
			var failed error
			next := func() {
				if err := src.NextBatch(&batches[call%3]); err != nil && failed == nil {
					failed = err
				}
				call++
			}
			// Past the first use of every batch.
			for range 6 {
				next()
			}
			if allocs := testing.AllocsPerRun(10, next); allocs != 0 {
				t.Errorf("NextBatch allocates %v times per batch", allocs)
			}
			if failed != nil {
				t.Fatalf("NextBatch: %v (the files are too short for the test)", failed)
			}
		})
	}
}

// failingReader returns its data, then err: a disk that fails.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestNextBatchIOError: a read that fails in the middle of a file ends
// NextBatch as it ends Next, with the error (errno kept), after the same
// packets.
func TestNextBatchIOError(t *testing.T) {
	eth := layers.LinkTypeEthernet
	pcap := pcapBytes(t, false, 65535, eth, frames(0, 3000, t0, time.Millisecond))
	cutAt := pcapRecordOffsets(t, pcap)[2000] + 40
	other := pcapBytes(t, false, 65535, eth, frames(1, 100, t0, time.Millisecond))
	for _, tt := range []struct {
		name    string
		streams func() []io.Reader
	}{
		{"one pcap file", func() []io.Reader { return []io.Reader{&failingReader{slices.Clone(pcap[:cutAt]), syscall.EIO}} }},
		{"merged with another", func() []io.Reader {
			return []io.Reader{&failingReader{slices.Clone(pcap[:cutAt]), syscall.EIO}, bytes.NewReader(other)}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			read := func(batches bool) ([]gotPacket, error) {
				src, err := capture.OpenReaders(tt.streams(), 4096)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				if batches {
					return readAllBatches(t, src, 1<<20, 2, false)
				}
				return readAll(t, src, 1<<20)
			}
			want, wantErr := read(false)
			got, gotErr := read(true)
			if !errors.Is(wantErr, syscall.EIO) || !errors.Is(gotErr, syscall.EIO) {
				t.Fatalf("errors: Next %v, NextBatch %v; want both EIO", wantErr, gotErr)
			}
			if len(want) < 1900 {
				t.Fatalf("Next gave %d packets before the error", len(want))
			}
			if d := diffPackets(got, want); d != "" {
				t.Fatal(d)
			}
		})
	}
}
