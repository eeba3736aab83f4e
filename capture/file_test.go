package capture_test

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// pcapRecordOffsets returns where each record of a classic pcap file starts.
func pcapRecordOffsets(t testing.TB, b []byte) []int {
	t.Helper()
	var offs []int
	for off := 24; off+16 <= len(b); {
		offs = append(offs, off)
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	return offs
}

func TestOpenFilesReadsEveryFormat(t *testing.T) {
	eth := layers.LinkTypeEthernet
	sll2 := layers.LinkTypeLinuxSLL2
	// Microsecond files keep microseconds only, so their frames have none
	// below; the others carry odd nanoseconds to prove they are kept.
	micro := frames(0, 7, t0.Add(123456*time.Microsecond), 1507*time.Microsecond)
	nano := frames(0, 7, t0.Add(123456789*time.Nanosecond), 1500001*time.Nanosecond)
	cut := frames(0, 3, t0, time.Millisecond)
	snapped := frames(0, 4, t0, time.Second)
	for i := range snapped {
		snapped[i].length = 1510
		snapped[i].data = ethFrame(0, i, 1510)[:96]
	}
	mixed := frames(0, 6, t0.Add(5*time.Nanosecond), 333*time.Microsecond)
	for i := range mixed {
		mixed[i].ifIndex = i % 2
	}
	mixedLinkType := func(i int) layers.LinkType { return []layers.LinkType{eth, sll2}[i%2] }

	// cutPcap returns a pcap of cut's three frames, cut at the offset
	// at(record starts) returns.
	cutPcap := func(t testing.TB, at func(b []byte, recs []int) int) []byte {
		b := pcapBytes(t, false, 65535, eth, cut)
		return b[:at(b, pcapRecordOffsets(t, b))]
	}
	// editRecord changes record i (0-based) of a pcap of micro's frames.
	editRecord := func(t testing.TB, i int, edit func(hdr []byte)) []byte {
		b := pcapBytes(t, false, 65535, eth, micro)
		edit(b[pcapRecordOffsets(t, b)[i]:])
		return b
	}

	tests := []struct {
		name     string
		file     func(t testing.TB) []byte
		frames   []testFrame
		count    int // how many of frames the reader returns
		linkType func(i int) layers.LinkType
		info     capture.InputInfo // Path, Frames, LastFrame, First, Last are filled in
	}{
		{
			name:   "pcap microseconds",
			file:   func(t testing.TB) []byte { return pcapBytes(t, false, 65535, eth, micro) },
			frames: micro, count: 7,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535},
		},
		{
			name:   "pcap nanoseconds",
			file:   func(t testing.TB) []byte { return pcapBytes(t, true, 262144, eth, nano) },
			frames: nano, count: 7,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 262144},
		},
		{
			name:   "pcap microseconds big-endian",
			file:   func(t testing.TB) []byte { return bigEndianPcap(t, pcapBytes(t, false, 65535, eth, micro)) },
			frames: micro, count: 7,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535},
		},
		{
			name:   "pcap nanoseconds big-endian",
			file:   func(t testing.TB) []byte { return bigEndianPcap(t, pcapBytes(t, true, 1600, eth, nano)) },
			frames: nano, count: 7,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 1600},
		},
		{
			name:   "pcap with snaplen 96 keeps the original lengths",
			file:   func(t testing.TB) []byte { return pcapBytes(t, false, 96, eth, snapped) },
			frames: snapped, count: 4,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 96},
		},
		{
			name:   "pcap header only",
			file:   func(t testing.TB) []byte { return pcapBytes(t, false, 65535, layers.LinkTypeLinuxSLL, nil) },
			frames: nil, count: 0,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{layers.LinkTypeLinuxSLL}, Snaplen: 65535},
		},
		{
			name:   "pcapng",
			file:   func(t testing.TB) []byte { return pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, nano) },
			frames: nano, count: 7,
			info: capture.InputInfo{Format: "pcapng", LinkTypes: []layers.LinkType{eth}, Snaplen: 0},
		},
		{
			name: "pcapng with Ethernet and Linux SLL2 interfaces",
			file: func(t testing.TB) []byte {
				return pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 65535), ngInterface(sll2, 262144)}, mixed)
			},
			frames: mixed, count: 6, linkType: mixedLinkType,
			info: capture.InputInfo{Format: "pcapng", LinkTypes: []layers.LinkType{eth, sll2}, Snaplen: 262144},
		},
		{
			name:   "pcap microseconds gzip",
			file:   func(t testing.TB) []byte { return gzipBytes(t, pcapBytes(t, false, 65535, eth, micro)) },
			frames: micro, count: 7,
			info: capture.InputInfo{Format: "pcap+gzip", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535},
		},
		{
			name:   "pcap nanoseconds gzip",
			file:   func(t testing.TB) []byte { return gzipBytes(t, pcapBytes(t, true, 65535, eth, nano)) },
			frames: nano, count: 7,
			info: capture.InputInfo{Format: "pcap+gzip", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535},
		},
		{
			name:   "pcap big-endian gzip",
			file:   func(t testing.TB) []byte { return gzipBytes(t, bigEndianPcap(t, pcapBytes(t, true, 65535, eth, nano))) },
			frames: nano, count: 7,
			info: capture.InputInfo{Format: "pcap+gzip", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535},
		},
		{
			name: "pcapng gzip",
			file: func(t testing.TB) []byte {
				return gzipBytes(t, pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 65535), ngInterface(sll2, 262144)}, mixed))
			},
			frames: mixed, count: 6, linkType: mixedLinkType,
			info: capture.InputInfo{Format: "pcapng+gzip", LinkTypes: []layers.LinkType{eth, sll2}, Snaplen: 262144},
		},
		{
			name: "pcap cut in the last record's data",
			file: func(t testing.TB) []byte {
				return cutPcap(t, func(b []byte, _ []int) int { return len(b) - 10 })
			},
			frames: cut, count: 2,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535,
				TruncatedAtEnd: true, BadRecord: 3, Err: "file ends inside record 3: 1504 of 1514 captured bytes: unexpected EOF"},
		},
		{
			name:   "pcap cut in the last record's header",
			file:   func(t testing.TB) []byte { return cutPcap(t, func(_ []byte, recs []int) int { return recs[2] + 7 }) },
			frames: cut, count: 2,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535,
				TruncatedAtEnd: true, BadRecord: 3, Err: "file ends inside record 3: record header: 7 of 16 bytes"},
		},
		{
			// pcapgo reports a plain io.EOF here, which looks like a clean
			// end: the reader must not.
			name:   "pcap cut right after the last record's header",
			file:   func(t testing.TB) []byte { return cutPcap(t, func(_ []byte, recs []int) int { return recs[2] + 16 }) },
			frames: cut, count: 2,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535,
				TruncatedAtEnd: true, BadRecord: 3, Err: "0 of 1514 captured bytes"},
		},
		{
			name:   "pcap cut in the first record",
			file:   func(t testing.TB) []byte { return cutPcap(t, func(_ []byte, recs []int) int { return recs[0] + 20 }) },
			frames: cut, count: 0,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535,
				TruncatedAtEnd: true, BadRecord: 1, Err: "4 of 60 captured bytes"},
		},
		{
			name: "pcapng cut in the last block",
			file: func(t testing.TB) []byte {
				b := pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, cut)
				return b[:len(b)-10]
			},
			frames: cut, count: 2,
			info: capture.InputInfo{Format: "pcapng", LinkTypes: []layers.LinkType{eth}, Snaplen: 0,
				TruncatedAtEnd: true, BadRecord: 3, Err: "unexpected EOF"},
		},
		{
			name: "pcap with an absurd captured length in record 3",
			file: func(t testing.TB) []byte {
				return editRecord(t, 2, func(h []byte) { binary.LittleEndian.PutUint32(h[8:], 0x7fffffff) })
			},
			frames: micro, count: 2,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535,
				Damaged: true, BadRecord: 3, Err: "record 3 is damaged, stopped reading there: captured length 2147483647 exceeds the snaplen 65535"},
		},
		{
			// libpcap and Wireshark take such records; so must we, or frame
			// numbers would differ from theirs.
			name: "pcap with a captured length above the original length in record 2",
			file: func(t testing.TB) []byte {
				return editRecord(t, 1, func(h []byte) { binary.LittleEndian.PutUint32(h[12:], 10) })
			},
			frames: withLength(micro, 1, 10), count: 7,
			info: capture.InputInfo{Format: "pcap", LinkTypes: []layers.LinkType{eth}, Snaplen: 65535},
		},
		{
			name: "pcapng with a packet of an undescribed interface in block 4",
			file: func(t testing.TB) []byte {
				b := pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, cut)
				// Blocks: section header, interface, packets. The third
				// packet's interface id is the first word after its
				// block type and length.
				off := 0
				for range 4 {
					off += int(binary.LittleEndian.Uint32(b[off+4:]))
				}
				binary.LittleEndian.PutUint32(b[off+8:], 5)
				return b
			},
			frames: cut, count: 2,
			info: capture.InputInfo{Format: "pcapng", LinkTypes: []layers.LinkType{eth}, Snaplen: 0,
				Damaged: true, BadRecord: 3, Err: "Interface id 5 not present"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "capture", tt.file(t))
			src, err := capture.OpenFiles([]string{path})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, err := readAll(t, src, 1000)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			var want []gotPacket
			for i, f := range tt.frames[:tt.count] {
				lt := layers.LinkTypeEthernet
				if tt.linkType != nil {
					lt = tt.linkType(i)
				} else if len(tt.info.LinkTypes) > 0 {
					lt = tt.info.LinkTypes[0]
				}
				want = append(want, wantPacket(f, lt, uint64(i+1), 0))
			}
			if d := diffPackets(got, want); d != "" {
				t.Error(d)
			}
			wantInfo := tt.info
			wantInfo.Path = path
			wantInfo.Frames = uint64(tt.count)
			wantInfo.LastFrame = uint64(tt.count)
			if tt.count > 0 {
				wantInfo.First = tt.frames[0].ts
				wantInfo.Last = tt.frames[tt.count-1].ts
			}
			inputs := src.Inputs()
			if len(inputs) != 1 {
				t.Fatalf("Inputs() has %d entries, want 1", len(inputs))
			}
			if d := diffInfo(inputs[0], wantInfo); d != "" {
				t.Error(d)
			}
			// The end is sticky.
			var p capture.Packet
			if err := src.Next(&p); err != io.EOF {
				t.Errorf("Next after the end = %v, want io.EOF", err)
			}
			size, _ := os.Stat(path)
			if done, total := src.Progress(); done != size.Size() || total != size.Size() {
				t.Errorf("Progress() = %d, %d at the end, want %d, %d", done, total, size.Size(), size.Size())
			}
		})
	}
}

// withLength returns a copy of fr with the original length of frame i set.
func withLength(fr []testFrame, i, length int) []testFrame {
	fr = slices.Clone(fr)
	fr[i].length = length
	return fr
}

func TestOpenFilesErrors(t *testing.T) {
	eth := layers.LinkTypeEthernet
	good := pcapBytes(t, false, 65535, eth, frames(0, 2, t0, time.Second))
	goodNg := pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, frames(0, 2, t0, time.Second))
	withByte := func(b []byte, i int, v byte) []byte {
		b = slices.Clone(b)
		b[i] = v
		return b
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) []string
		// want is the whole message, with DIR for the temporary directory.
		want   string
		wantIs error
	}{
		{
			name:   "missing file",
			setup:  func(t *testing.T, dir string) []string { return []string{filepath.Join(dir, "missing.pcap")} },
			want:   "capture: open DIR/missing.pcap: no such file or directory",
			wantIs: fs.ErrNotExist,
		},
		{
			name: "second of two files missing",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "a.pcap", good), filepath.Join(dir, "b.pcap")}
			},
			want:   "capture: open DIR/b.pcap: no such file or directory",
			wantIs: fs.ErrNotExist,
		},
		{
			name: "directory",
			setup: func(t *testing.T, dir string) []string {
				sub := filepath.Join(dir, "captures")
				if err := os.Mkdir(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				return []string{sub}
			},
			want: "capture: open DIR/captures: is a directory, not a capture file",
		},
		{
			name:  "empty file",
			setup: func(t *testing.T, dir string) []string { return []string{writeFile(t, dir, "empty.pcap", nil)} },
			want:  "capture: open DIR/empty.pcap: empty file (0 bytes), not a pcap or pcapng file",
		},
		{
			name: "HTML page saved as a capture",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "x.pcap", []byte("<!DOCTYPE html><html><body>Sign in</body></html>"))}
			},
			want: "capture: open DIR/x.pcap: not a pcap or pcapng file (starts with 3c 21 44 4f: HTML?)",
		},
		{
			name: "text",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "notes.pcap", []byte("10:20:30.123 IP 10.0.0.1 > 10.0.0.2: ICMP echo request\n"))}
			},
			want: "capture: open DIR/notes.pcap: not a pcap or pcapng file (starts with 31 30 3a 32: text?)",
		},
		{
			name: "binary garbage",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "x.pcap", []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0xff})}
			},
			want: "capture: open DIR/x.pcap: not a pcap or pcapng file (starts with de ad be ef)",
		},
		{
			name: "Network Monitor capture",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "nlb.cap", []byte("GMBU\x00\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"))}
			},
			want: "capture: open DIR/nlb.cap: not a pcap or pcapng file (starts with 47 4d 42 55: a Microsoft Network Monitor capture? save it as pcapng with Wireshark first)",
		},
		{
			name: "gzip of HTML",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "x.pcap.gz", gzipBytes(t, []byte("<!doctype html>")))}
			},
			want: "capture: open DIR/x.pcap.gz: gzip-compressed, but not a pcap or pcapng file inside (starts with 3c 21 64 6f: HTML?)",
		},
		{
			name:  "three bytes",
			setup: func(t *testing.T, dir string) []string { return []string{writeFile(t, dir, "x.pcap", good[:3])} },
			want:  "capture: open DIR/x.pcap: 3 bytes long, too short for a pcap or pcapng file",
		},
		{
			name:  "pcap file header cut",
			setup: func(t *testing.T, dir string) []string { return []string{writeFile(t, dir, "x.pcap", good[:20])} },
			want:  "capture: open DIR/x.pcap: pcap file header cut short: 20 of 24 bytes",
		},
		{
			name: "pcap version 2.2",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "x.pcap", withByte(good, 6, 2))}
			},
			want: "capture: open DIR/x.pcap: pcap version 2.2 not supported (only 2.4)",
		},
		{
			name: "pcapng section version 2.0",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "x.pcapng", withByte(goodNg, 12, 2))}
			},
			want:   "capture: open DIR/x.pcapng: pcapng section header: Unknown pcapng Version in Section Header",
			wantIs: pcapgo.ErrNgVersionMismatch,
		},
		{
			name: "pcapng with a bad byte-order magic",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "x.pcapng", withByte(goodNg, 8, 0))}
			},
			want: "capture: open DIR/x.pcapng: pcapng section header: Wrong byte order value in Section Header",
		},
		{
			name: "corrupt gzip header",
			setup: func(t *testing.T, dir string) []string {
				return []string{writeFile(t, dir, "x.pcap.gz", withByte(gzipBytes(t, good), 2, 7))}
			},
			want: "capture: open DIR/x.pcap.gz: gzip header: gzip: invalid header",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := tt.setup(t, dir)
			src, err := capture.OpenFiles(paths)
			if err == nil {
				src.Close()
				t.Fatalf("OpenFiles(%q) succeeded", paths)
			}
			if got := strings.ReplaceAll(err.Error(), dir, "DIR"); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
		})
	}
	t.Run("no paths", func(t *testing.T) {
		if _, err := capture.OpenFiles(nil); !errors.Is(err, capture.ErrNoInputs) {
			t.Errorf("OpenFiles(nil) = %v, want ErrNoInputs", err)
		}
	})
}

func TestGzipTruncated(t *testing.T) {
	fr := frames(0, 2000, t0, time.Millisecond)
	whole := pcapBytes(t, true, 65535, layers.LinkTypeEthernet, fr)
	gz := gzipBytes(t, whole)
	path := writeFile(t, t.TempDir(), "cut.pcap.gz", gz[:len(gz)*2/3])
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src, len(fr))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) >= len(fr) {
		t.Fatalf("read %d of %d frames from a file cut at 2/3", len(got), len(fr))
	}
	var want []gotPacket
	for i, f := range fr[:len(got)] {
		want = append(want, wantPacket(f, layers.LinkTypeEthernet, uint64(i+1), 0))
	}
	if d := diffPackets(got, want); d != "" {
		t.Error(d)
	}
	info := src.Inputs()[0]
	if !info.TruncatedAtEnd || info.Damaged || info.BadRecord != uint64(len(got)+1) || !strings.HasSuffix(info.Err, ": compressed stream: unexpected EOF") {
		t.Errorf("info = %+v, want TruncatedAtEnd at record %d", info, len(got)+1)
	}
}

func TestGzipBadChecksum(t *testing.T) {
	fr := frames(0, 20, t0, time.Millisecond)
	gz := gzipBytes(t, pcapBytes(t, false, 65535, layers.LinkTypeEthernet, fr))
	gz[len(gz)-8] ^= 0xff // the CRC-32 in the trailer
	path := writeFile(t, t.TempDir(), "bad.pcap.gz", gz)
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src, 100)
	if err != nil {
		t.Fatal(err)
	}
	info := src.Inputs()[0]
	// Every frame is there; the file is still reported, since its data
	// cannot be trusted.
	if len(got) != len(fr) || !info.Damaged || info.Err != "record 21 is damaged, stopped reading there: compressed stream: gzip: invalid checksum" {
		t.Errorf("read %d frames, info %+v; want %d frames and a damaged file", len(got), info, len(fr))
	}
}

func TestCloseEndsTheSource(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a.pcap", pcapBytes(t, false, 65535, layers.LinkTypeEthernet, frames(0, 3, t0, time.Second)))
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var p capture.Packet
	if err := src.Next(&p); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Next(&p); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Next after Close = %v, want fs.ErrClosed", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestProgressFromAnotherGoroutine reads Progress while Next runs (run with
// -race to check the claim that this is safe) and checks it only grows.
func TestProgressFromAnotherGoroutine(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.pcap", pcapBytes(t, false, 65535, layers.LinkTypeEthernet, frames(0, 3000, t0, time.Millisecond)))
	b := writeFile(t, dir, "b.pcap.gz", gzipBytes(t, pcapBytes(t, false, 65535, layers.LinkTypeEthernet, frames(1, 3000, t0, time.Millisecond))))
	src, err := capture.OpenFiles([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var sizes int64
	for _, p := range []string{a, b} {
		st, _ := os.Stat(p)
		sizes += st.Size()
	}
	stop := make(chan struct{})
	result := make(chan string)
	go func() {
		var last int64
		for {
			done, total := src.Progress()
			if done < last || done > total || total != sizes {
				result <- "bad progress"
				return
			}
			last = done
			select {
			case <-stop:
				result <- ""
				return
			default:
			}
		}
	}()
	n, err := readAll(t, src, 10000)
	close(stop)
	if msg := <-result; msg != "" {
		t.Error(msg)
	}
	if err != nil || len(n) != 6000 {
		t.Fatalf("read %d frames, err %v", len(n), err)
	}
	if done, total := src.Progress(); done != sizes || total != sizes {
		t.Errorf("Progress() = %d, %d, want %d, %d", done, total, sizes, sizes)
	}
}
