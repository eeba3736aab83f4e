package capture_test

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// writeBenchFile writes n frames of size bytes, 1 µs apart from start, to
// path as nanosecond pcap or pcapng, gzip-compressed with "+gzip". The
// frames of different files differ (ethFrame), so that merged they are
// not copies of each other. It streams, so a million frames take no
// memory.
func writeBenchFile(tb testing.TB, path, format string, file, n, size int, start time.Time) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	out := bufio.NewWriterSize(f, 1<<20)
	var sink io.Writer = out
	var zw *gzip.Writer
	if strings.HasSuffix(format, "+gzip") {
		zw = gzip.NewWriter(out)
		sink = zw
	}
	frame := ethFrame(file, 0, size)
	ci := gopacket.CaptureInfo{CaptureLength: size, Length: size}
	var write func() error
	flush := func() error { return nil }
	switch strings.TrimSuffix(format, "+gzip") {
	case "pcap":
		w := pcapgo.NewWriterNanos(sink)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			tb.Fatal(err)
		}
		write = func() error { return w.WritePacket(ci, frame) }
	case "pcapng":
		w, err := pcapgo.NewNgWriterInterface(sink, ngInterface(layers.LinkTypeEthernet, 65535), pcapgo.DefaultNgWriterOptions)
		if err != nil {
			tb.Fatal(err)
		}
		write = func() error { return w.WritePacket(ci, frame) }
		flush = w.Flush
	default:
		tb.Fatalf("format %q", format)
	}
	for i := range n {
		ci.Timestamp = start.Add(time.Duration(i) * time.Microsecond)
		frame[15], frame[16], frame[17] = byte(i>>16), byte(i>>8), byte(i)
		if err := write(); err != nil {
			tb.Fatal(err)
		}
	}
	err = flush()
	if zw != nil && err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = out.Flush()
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// openInMemory returns an opener that reads the files into memory once and
// then opens them from there.
func openInMemory(b *testing.B) func([]string) (*capture.FileSource, error) {
	var data [][]byte
	return func(paths []string) (*capture.FileSource, error) {
		if data == nil {
			for _, p := range paths {
				d, err := os.ReadFile(p)
				if err != nil {
					b.Fatal(err)
				}
				data = append(data, d)
			}
		}
		return capture.OpenBytes(data, false, 0)
	}
}

// BenchmarkFileSource reads generated captures of 1M 100-byte frames; one
// op is one frame, so ns/op is ns/frame and allocs/op is allocations per
// frame (opening the file again after its last frame is included).
// "pcap-pcapgo" is the same file through pcapgo's Reader, the baseline the
// fast reader replaced.
func BenchmarkFileSource(b *testing.B) {
	const frames, size = 1 << 20, 100
	dir := b.TempDir()
	file := func(name, format string, id int, start time.Time) string {
		path := filepath.Join(dir, name)
		writeBenchFile(b, path, format, id, frames, size, start)
		return path
	}
	pcap := file("a.pcap", "pcap", 0, t0)
	pcap2 := file("b.pcap", "pcap", 1, t0.Add(500*time.Nanosecond))
	ng := file("a.pcapng", "pcapng", 0, t0)
	gz := file("a.pcap.gz", "pcap+gzip", 0, t0)
	cases := []struct {
		name  string
		paths []string
		open  func([]string) (*capture.FileSource, error)
	}{
		{"pcap", []string{pcap}, capture.OpenFiles},
		{"pcap-pcapgo", []string{pcap}, capture.OpenFilesPcapgo},
		{"pcapng", []string{ng}, capture.OpenFiles},
		{"pcap-gzip", []string{gz}, capture.OpenFiles},
		{"merge-2-pcap", []string{pcap, pcap2}, capture.OpenFiles},
		// The same file twice: every other packet is dropped as a copy,
		// so each frame returned costs two read (ns/op is per frame returned).
		{"merge-2-pcap-copies", []string{pcap, pcap}, capture.OpenFiles},
		// The file already in memory: no read(2) copy from the page cache,
		// which costs about 12 ns a frame here (dd: 9 GB/s). What is left
		// is the parsing.
		{"pcap-in-memory", []string{pcap}, openInMemory(b)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var bytes int64
			for _, p := range c.paths {
				st, err := os.Stat(p)
				if err != nil {
					b.Fatal(err)
				}
				bytes += st.Size()
			}
			// MB/s is of the files on disk (compressed for gzip).
			b.SetBytes(bytes / int64(frames*len(c.paths)))
			b.ReportAllocs()
			src, err := c.open(c.paths)
			if err != nil {
				b.Fatal(err)
			}
			var p capture.Packet
			for b.Loop() {
				if err := src.Next(&p); err != nil {
					src.Close()
					if src, err = c.open(c.paths); err != nil {
						b.Fatal(err)
					}
					if err := src.Next(&p); err != nil {
						b.Fatal(err)
					}
				}
			}
			src.Close()
		})
	}
}

// BenchmarkFileSourceBatch is BenchmarkFileSource read with NextBatch
// through three recycled batches, as the read pipeline does. One op is one
// frame.
func BenchmarkFileSourceBatch(b *testing.B) {
	const frames, size = 1 << 20, 100
	dir := b.TempDir()
	pcap := filepath.Join(dir, "a.pcap")
	writeBenchFile(b, pcap, "pcap", 0, frames, size, t0)
	pcap2 := filepath.Join(dir, "b.pcap")
	writeBenchFile(b, pcap2, "pcap", 1, frames, size, t0.Add(500*time.Nanosecond))
	ng := filepath.Join(dir, "a.pcapng")
	writeBenchFile(b, ng, "pcapng", 0, frames, size, t0)
	// The rotated file follows a.pcap: a merge whose inputs never
	// overlap, as a ring of tcpdump -C files.
	next := filepath.Join(dir, "c.pcap")
	writeBenchFile(b, next, "pcap", 2, frames, size, t0.Add(2*time.Second))
	dedup, noDedup := capture.FileOptions{DedupWindow: capture.DefaultDedupWindow}, capture.FileOptions{}
	for _, c := range []struct {
		name  string
		paths []string
		opts  capture.FileOptions
	}{
		{"pcap", []string{pcap}, dedup}, {"pcapng", []string{ng}, dedup},
		// Overlapping in time: every frame is hashed and looked up to
		// find copies (none); without, the merge alone.
		{"merge-2-pcap", []string{pcap, pcap2}, dedup}, {"merge-2-pcap-no-dedup", []string{pcap, pcap2}, noDedup},
		{"merge-2-pcap-rotated", []string{pcap, next}, dedup},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			src, err := capture.OpenFilesWith(c.paths, c.opts)
			if err != nil {
				b.Fatal(err)
			}
			batches := make([]capture.Batch, 3)
			var sum uint64
			n, k := 0, 0
			for n < b.N {
				bt := &batches[k%3]
				k++
				if err := src.NextBatch(bt); err != nil {
					src.Close()
					if src, err = capture.OpenFilesWith(c.paths, c.opts); err != nil {
						b.Fatal(err)
					}
					continue
				}
				// Touch each packet as a consumer would.
				for i := range bt.Packets {
					sum += uint64(bt.Packets[i].Length)
				}
				n += bt.Len()
			}
			src.Close()
			if sum == 0 {
				b.Fatal("no bytes")
			}
		})
	}
}
