package capture_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// TestStdin reads "-" as tcpdump -r - does: pcap, pcapng and gzip from a
// pipe, with the same packets and frame numbers as the file, and from a
// regular file redirected to it, whose size progress then knows.
func TestStdin(t *testing.T) {
	eth := layers.LinkTypeEthernet
	fr := frames(0, 3000, t0, time.Millisecond)
	for _, c := range []struct {
		name   string
		data   []byte
		format string
	}{
		{"pcap", pcapBytes(t, false, 65535, eth, fr), "pcap"},
		{"pcapng", pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr), "pcapng"},
		{"gzip", gzipBytes(t, pcapBytes(t, true, 65535, eth, fr)), "pcap+gzip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := make([]gotPacket, len(fr))
			for i, f := range fr {
				want[i] = wantPacket(f, eth, uint64(i+1), 0)
			}
			// A pipe, written by another goroutine in small pieces.
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			go func() {
				for b := c.data; len(b) > 0; b = b[min(len(b), 1000):] {
					w.Write(b[:min(len(b), 1000)])
				}
				w.Close()
			}()
			done := make(chan struct{})
			defer close(done)
			src, err := capture.OpenFilesWith([]string{"-"}, capture.FileOptions{Stdin: r, Done: done})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, src, 10000)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffPackets(got, want); d != "" {
				t.Fatal(d)
			}
			in := src.Inputs()[0]
			if in.Path != "-" || in.Format != c.format || in.Frames != uint64(len(fr)) {
				t.Errorf("input %+v", in)
			}
			if done, total := src.Progress(); total != 0 || done != int64(len(c.data)) {
				t.Errorf("Progress() = %d, %d on a pipe, want %d, 0", done, total, len(c.data))
			}
			if n := src.FramesRead(); n != uint64(len(fr)) {
				t.Errorf("FramesRead() = %d, want %d", n, len(fr))
			}
			src.Close()

			// A regular file redirected: its size is known.
			f, err := os.Open(writeFile(t, t.TempDir(), "capture", c.data))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src, err = capture.OpenFilesWith([]string{"-"}, capture.FileOptions{Stdin: f})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var b capture.Batch
			n := 0
			for src.NextBatch(&b) == nil {
				n += b.Len()
			}
			if done, total := src.Progress(); n != len(fr) || total != int64(len(c.data)) || done != total {
				t.Errorf("%d frames, Progress() = %d, %d; want %d, %d, %d", n, done, total, len(fr), len(c.data), len(c.data))
			}
		})
	}
}

// TestStdinInterrupted: a read of standard input that waits on a pipe
// whose writer neither writes nor closes (a live tcpdump) fails as soon as
// Done closes, with the packets before it returned.
func TestStdinInterrupted(t *testing.T) {
	eth := layers.LinkTypeEthernet
	data := pcapBytes(t, false, 65535, eth, frames(0, 10, t0, time.Millisecond))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	src, err := capture.OpenFilesWith([]string{"-"}, capture.FileOptions{Stdin: r, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	time.AfterFunc(100*time.Millisecond, func() { close(done) })
	start := time.Now()
	var b capture.Batch
	n := 0
	var last error
	for {
		if last = src.NextBatch(&b); last != nil {
			break
		}
		n += b.Len()
	}
	if !errors.Is(last, capture.ErrInterrupted) || n != 10 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d frames, then %v after %v; want 10, then interrupted", n, last, time.Since(start))
	}
}

func TestStdinTwice(t *testing.T) {
	_, err := capture.OpenFilesWith([]string{"-", "-"}, capture.FileOptions{Stdin: bytes.NewReader(nil)})
	if err == nil || !strings.Contains(err.Error(), "standard input given twice") {
		t.Fatalf("error %v", err)
	}
}

// TestMaxFrames: FileOptions.MaxFrames ends the source after that many
// packets (tcpdump -c), with Next and NextBatch, for a single pcap (read
// without copying), pcapng and a merge.
func TestMaxFrames(t *testing.T) {
	eth := layers.LinkTypeEthernet
	dir := t.TempDir()
	pcap := writeFile(t, dir, "a.pcap", pcapBytes(t, false, 65535, eth, frames(0, 5000, t0, time.Millisecond)))
	ng := writeFile(t, dir, "b.pcapng", pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, frames(1, 5000, t0, time.Millisecond)))
	for _, paths := range [][]string{{pcap}, {ng}, {pcap, ng}} {
		for _, max := range []uint64{1, 37, 4999, 5000, 20000} {
			for _, batched := range []bool{false, true} {
				src, err := capture.OpenFilesWith(paths, capture.FileOptions{MaxFrames: max})
				if err != nil {
					t.Fatal(err)
				}
				var got []gotPacket
				if batched {
					got, err = readAllBatches(t, src, 1<<20, 2, false)
				} else {
					got, err = readAll(t, src, 1<<20)
				}
				want := min(max, uint64(5000*len(paths)))
				if err != nil || uint64(len(got)) != want {
					t.Errorf("%v -c %d batches %v: %d frames, error %v; want %d", paths, max, batched, len(got), err, want)
				}
				var p capture.Packet
				if err := src.Next(&p); err != io.EOF {
					t.Errorf("Next after the last = %v", err)
				}
				src.Close()
			}
		}
	}
}

// TestMaxFramesFiltered: with a capture filter, -c COUNT counts the frames
// that pass it, as tcpdump -c does; they keep their frame numbers.
func TestMaxFramesFiltered(t *testing.T) {
	netlab.RequireTool(t, "tcpdump")
	eth := layers.LinkTypeEthernet
	path := writeFile(t, t.TempDir(), "a.pcap", pcapBytes(t, false, 65535, eth, frames(0, 5000, t0, time.Millisecond)))
	for _, batched := range []bool{false, true} {
		src, err := capture.OpenFilesWith([]string{path}, capture.FileOptions{MaxFrames: 37})
		if err != nil {
			t.Fatal(err)
		}
		f, err := capture.NewFilter("ether[18] & 1 = 0", eth) // even frame indexes: frames 1, 3, 5...
		if err != nil {
			t.Fatal(err)
		}
		src.SetFilter(f)
		var got []gotPacket
		if batched {
			got, err = readAllBatchesFiltered(t, src)
		} else {
			var p capture.Packet
			for err = src.Next(&p); err == nil; err = src.Next(&p) {
				got = append(got, gotPacket{p})
			}
			if err == io.EOF {
				err = nil
			}
		}
		if err != nil || len(got) != 37 || got[36].Frame != 73 {
			t.Errorf("batches %v: %d frames, error %v; want 37, the last frame 73", batched, len(got), err)
		}
		src.Close()
	}
}

// readAllBatchesFiltered reads src with NextBatch, keeping each packet's
// Frame (which gaps the filter left make differ from FirstFrame+i).
func readAllBatchesFiltered(t *testing.T, src *capture.FileSource) ([]gotPacket, error) {
	t.Helper()
	var b capture.Batch
	var out []gotPacket
	for {
		err := src.NextBatch(&b)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		for i := range b.Packets {
			out = append(out, gotPacket{capture.Packet{Frame: b.Frame(i)}})
		}
	}
}
