package capture_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// testFrame is a frame to write into a test capture.
type testFrame struct {
	ts      time.Time
	data    []byte // the captured bytes
	length  int    // the original length; 0 means len(data)
	ifIndex int    // pcapng interface
}

func (f testFrame) origLen() int {
	if f.length == 0 {
		return len(f.data)
	}
	return f.length
}

// t0 is the time of the first test frame: a time stamp with nanoseconds
// that a microsecond file cannot keep is added where a test needs it.
var t0 = time.Date(2024, 3, 5, 10, 20, 30, 0, time.UTC)

// ethFrame returns an n-byte Ethernet frame (n >= 20) whose bytes say which
// file and which frame it is: destination 02:bf:c0:a8:64:50 (the unicast
// cluster MAC of 192.168.100.80), source 02:01:c0:a8:64:5X, ethertype
// 0x886F (NLB), then file, index and a pattern.
func ethFrame(file, index, n int) []byte {
	b := make([]byte, n)
	copy(b, []byte{0x02, 0xbf, 0xc0, 0xa8, 0x64, 0x50, 0x02, 0x01, 0xc0, 0xa8, 0x64, byte(0x50 + file), 0x88, 0x6f})
	b[14] = byte(file)
	binary.BigEndian.PutUint32(b[15:], uint32(index))
	for i := 19; i < n; i++ {
		b[i] = byte(i*7 + index + file*31)
	}
	return b
}

// frames returns n Ethernet frames of file, step apart from start, of
// sizes cycling from 60 to 1514 bytes.
func frames(file, n int, start time.Time, step time.Duration) []testFrame {
	sizes := []int{60, 98, 1514, 342, 64}
	out := make([]testFrame, n)
	for i := range out {
		out[i] = testFrame{ts: start.Add(time.Duration(i) * step), data: ethFrame(file, i, sizes[i%len(sizes)])}
	}
	return out
}

// pcapBytes writes frames as a little-endian pcap file.
func pcapBytes(t testing.TB, nanos bool, snaplen uint32, lt layers.LinkType, fr []testFrame) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	w := pcapgo.NewWriter(bw)
	if nanos {
		w = pcapgo.NewWriterNanos(bw)
	}
	if err := w.WriteFileHeader(snaplen, lt); err != nil {
		t.Fatal(err)
	}
	for _, f := range fr {
		ci := gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: f.origLen()}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pcapngBytes writes frames as pcapng with the given interfaces (the first
// one is written with the section header).
func pcapngBytes(t testing.TB, ifaces []pcapgo.NgInterface, fr []testFrame) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, ifaces[0], pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, intf := range ifaces[1:] {
		if _, err := w.AddInterface(intf); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fr {
		ci := gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: f.origLen(), InterfaceIndex: f.ifIndex}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ngInterface is an interface description for pcapngBytes.
func ngInterface(lt layers.LinkType, snaplen uint32) pcapgo.NgInterface {
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = lt
	intf.SnapLength = snaplen
	return intf
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bigEndianPcap turns a little-endian pcap file (as pcapgo writes) into the
// same file written by a big-endian machine: every header field swapped.
func bigEndianPcap(t testing.TB, le []byte) []byte {
	t.Helper()
	b := slices.Clone(le)
	swap32 := func(i int) { binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:])) }
	swap16 := func(i int) { binary.BigEndian.PutUint16(b[i:], binary.LittleEndian.Uint16(b[i:])) }
	swap32(0)
	swap16(4)
	swap16(6)
	for i := 8; i < 24; i += 4 {
		swap32(i)
	}
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			t.Fatalf("bigEndianPcap: record header cut at %d", off)
		}
		caplen := int(binary.LittleEndian.Uint32(b[off+8:]))
		for i := 0; i < 16; i += 4 {
			swap32(off + i)
		}
		off += 16 + caplen
	}
	return b
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// gotPacket is a Packet with its data copied.
type gotPacket struct {
	capture.Packet
}

// readAll reads src to the end (or limit packets) and returns copies of
// the packets. It checks on the way that Frame counts up from 1 and that
// len(Data) is CaptureLength.
func readAll(t testing.TB, src capture.Source, limit int) ([]gotPacket, error) {
	t.Helper()
	var out []gotPacket
	var p capture.Packet
	for len(out) < limit {
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if want := uint64(len(out) + 1); p.Frame != want {
			t.Fatalf("packet %d: Frame = %d", want, p.Frame)
		}
		if len(p.Data) != p.Info.CaptureLength {
			t.Fatalf("frame %d: len(Data) %d, CaptureLength %d", p.Frame, len(p.Data), p.Info.CaptureLength)
		}
		g := gotPacket{p}
		g.Data = slices.Clone(p.Data)
		g.Info.AncillaryData = nil
		out = append(out, g)
	}
	return out, nil
}

// wantPacket is the packet a reader should return for f, as the frame'th
// packet, from input.
func wantPacket(f testFrame, lt layers.LinkType, frame uint64, input int) gotPacket {
	return gotPacket{capture.Packet{
		Data: f.data,
		Info: gopacket.CaptureInfo{
			Timestamp:      f.ts,
			CaptureLength:  len(f.data),
			Length:         f.origLen(),
			InterfaceIndex: f.ifIndex,
		},
		LinkType: lt,
		Frame:    frame,
		Input:    input,
	}}
}

// diffPackets describes the first difference between two packet lists, or
// returns "".
func diffPackets(got, want []gotPacket) string {
	for i := range min(len(got), len(want)) {
		if d := diffPacket(got[i], want[i]); d != "" {
			return fmt.Sprintf("packet %d: %s", i+1, d)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d packets, want %d", len(got), len(want))
	}
	return ""
}

func diffPacket(g, w gotPacket) string {
	switch {
	case !g.Info.Timestamp.Equal(w.Info.Timestamp):
		return fmt.Sprintf("Timestamp %v, want %v", g.Info.Timestamp, w.Info.Timestamp)
	case g.Info.CaptureLength != w.Info.CaptureLength || g.Info.Length != w.Info.Length:
		return fmt.Sprintf("CaptureLength/Length %d/%d, want %d/%d", g.Info.CaptureLength, g.Info.Length, w.Info.CaptureLength, w.Info.Length)
	case g.Info.InterfaceIndex != w.Info.InterfaceIndex:
		return fmt.Sprintf("InterfaceIndex %d, want %d", g.Info.InterfaceIndex, w.Info.InterfaceIndex)
	case g.LinkType != w.LinkType:
		return fmt.Sprintf("LinkType %v, want %v", g.LinkType, w.LinkType)
	case g.Frame != w.Frame || g.Input != w.Input:
		return fmt.Sprintf("Frame/Input %d/%d, want %d/%d", g.Frame, g.Input, w.Frame, w.Input)
	case !bytes.Equal(g.Data, w.Data):
		return fmt.Sprintf("Data % x, want % x", head(g.Data), head(w.Data))
	}
	return ""
}

func head(b []byte) []byte { return b[:min(len(b), 24)] }

// diffInfo describes how got differs from want, or returns "". Err is
// compared as a substring of got.Err (empty want: got must be empty).
func diffInfo(got, want capture.InputInfo) string {
	var d []string
	add := func(format string, args ...any) { d = append(d, fmt.Sprintf(format, args...)) }
	if got.Path != want.Path {
		add("Path %q, want %q", got.Path, want.Path)
	}
	if got.Format != want.Format {
		add("Format %q, want %q", got.Format, want.Format)
	}
	if !slices.Equal(got.LinkTypes, want.LinkTypes) {
		add("LinkTypes %v, want %v", got.LinkTypes, want.LinkTypes)
	}
	if got.Snaplen != want.Snaplen {
		add("Snaplen %d, want %d", got.Snaplen, want.Snaplen)
	}
	if got.Frames != want.Frames || got.LastFrame != want.LastFrame {
		add("Frames/LastFrame %d/%d, want %d/%d", got.Frames, got.LastFrame, want.Frames, want.LastFrame)
	}
	if !got.First.Equal(want.First) || !got.Last.Equal(want.Last) {
		add("First/Last %v/%v, want %v/%v", got.First, got.Last, want.First, want.Last)
	}
	if got.TruncatedAtEnd != want.TruncatedAtEnd || got.Damaged != want.Damaged || got.BadRecord != want.BadRecord {
		add("TruncatedAtEnd/Damaged/BadRecord %v/%v/%d, want %v/%v/%d", got.TruncatedAtEnd, got.Damaged, got.BadRecord, want.TruncatedAtEnd, want.Damaged, want.BadRecord)
	}
	if (want.Err == "") != (got.Err == "") || !bytes.Contains([]byte(got.Err), []byte(want.Err)) {
		add("Err %q, want %q", got.Err, want.Err)
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}
