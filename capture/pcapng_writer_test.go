package capture_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// writeFrames writes n heartbeats, frame numbers 1..n, every tenth with a
// comment, and returns the frames.
func writeFrames(t *testing.T, w *capture.PcapngWriter, n int) [][]byte {
	t.Helper()
	igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, vip)
	var frames [][]byte
	start := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	for i := 1; i <= n; i++ {
		f := fixtures.Heartbeat{Priority: uint8(1 + i%2), Cluster: vip, Dedicated: nodeIP}.Frame(nodeMAC, igmpMAC)
		comment := ""
		if i%10 == 0 {
			comment = "evidence: frame " + strconv.Itoa(i)
		}
		// A live capture reports the interface index; the file has one
		// interface, 0, whatever the index was.
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f), InterfaceIndex: 7}
		if err := w.Write(ci, f, uint64(i), comment); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	return frames
}

func TestPcapngWriterRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "evidence.pcapng")
	// 1510-byte heartbeats: about 10 per file.
	w, err := capture.CreateWriter(capture.WriterConfig{Path: path, MaxSize: 16000, Interface: "eth0", Filter: capture.FilterExpression, Snaplen: 262144, Comment: "test"})
	if err != nil {
		t.Fatal(err)
	}
	frames := writeFrames(t, w, 45)
	if err := w.Close(&capture.LiveStats{Received: 50, Dropped: 5}); err != nil {
		t.Fatal(err)
	}
	files := w.Files()
	want := []string{path}
	for i := 1; i < len(files); i++ {
		want = append(want, filepath.Join(dir, "evidence."+strconv.Itoa(i)+".pcapng"))
	}
	if len(files) < 4 || strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want about 5 named %v", files, want)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 16000+2000 {
			t.Errorf("%s is %d bytes, over the 16000 limit by more than one frame", f, st.Size())
		}
	}
	// Read them back, in order, with our own reader.
	src, err := capture.OpenFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var p capture.Packet
	n := 0
	for {
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(p.Data) != string(frames[n]) {
			t.Fatalf("frame %d differs after the round trip", n+1)
		}
		n++
	}
	if n != len(frames) || w.Frames() != uint64(len(frames)) {
		t.Errorf("read %d frames, writer says %d, wrote %d", n, w.Frames(), len(frames))
	}
}

func TestPcapngWriterKeepsFirstAndNewest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ev.pcapng")
	w, err := capture.CreateWriter(capture.WriterConfig{Path: path, MaxSize: 16000, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, w, 60)
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	files := w.Files()
	entries, _ := os.ReadDir(dir)
	if len(files) != 3 || files[0] != path || len(entries) != 3 {
		t.Fatalf("files %v (%d in the folder), want 3: the first and the two newest", files, len(entries))
	}
	last := filepath.Base(files[2])
	if files[1] >= files[2] && len(files[1]) == len(files[2]) || !strings.HasPrefix(last, "ev.") {
		t.Errorf("files not oldest first: %v", files)
	}
}

// TestPcapngWriterTshark checks that Wireshark's reader opens the file
// while it is being written (after Flush) and at the end, with the packet
// IDs, comments and interface statistics.
func TestPcapngWriterTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("needs tshark")
	}
	path := filepath.Join(t.TempDir(), "evidence.pcapng")
	w, err := capture.CreateWriter(capture.WriterConfig{Path: path, Interface: "eth0", Filter: capture.FilterExpression})
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, w, 20)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fields := func() []string {
		t.Helper()
		out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.packet_id", "-e", "frame.comment", "-e", "msnlb.unique_host_id").Output()
		if err != nil {
			t.Fatalf("tshark -r: %v", err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	if got := fields(); len(got) != 20 {
		t.Fatalf("tshark read %d frames of a flushed, open file, want 20:\n%s", len(got), strings.Join(got, "\n"))
	}
	writeFrames(t, w, 5)
	if err := w.Close(&capture.LiveStats{Received: 30, Dropped: 3}); err != nil {
		t.Fatal(err)
	}
	got := fields()
	if len(got) != 25 {
		t.Fatalf("tshark read %d frames, want 25", len(got))
	}
	if want := "10\tevidence: frame 10\t1"; got[9] != want {
		t.Errorf("tshark frame 10: %q, want %q", got[9], want)
	}
	if want := "1\t\t2"; got[0] != want {
		t.Errorf("tshark frame 1: %q, want %q", got[0], want)
	}
	info, err := exec.Command("capinfos", path).CombinedOutput()
	if err == nil && !strings.Contains(string(info), "Number of packets:   25") {
		t.Errorf("capinfos:\n%s", info)
	}
}

// TestPcapngWriterComments writes a frame with the comments of two
// findings (one Enhanced Packet Block, two opt_comment options) and reads
// it back with pcapgo's reader (the one capture's pcapng reader wraps) and
// with tshark, whose frame.comment finds the frame under either finding.
func TestPcapngWriterComments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.pcapng")
	w, err := capture.CreateWriter(capture.WriterConfig{Path: path, Interface: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, vip)
	f := fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: nodeIP}.Frame(nodeMAC, igmpMAC)
	// Beyond a pcapng option's 16-bit length: pcapgo would write it whole
	// under a wrapped length, and the file would not read.
	long := strings.Repeat("é", 40000)
	written := []struct {
		frame    uint64
		comments []string
		want     []string
	}{
		{1, []string{"evidence of multicast-flooding [x]", "evidence of heartbeat-gap [y]"}, []string{"evidence of multicast-flooding [x]", "evidence of heartbeat-gap [y]"}},
		{2, []string{"after evidence of heartbeat-gap [y]"}, []string{"after evidence of heartbeat-gap [y]"}},
		{3, nil, nil},
		{4, []string{"", "evidence of heartbeat-gap [y]", ""}, []string{"evidence of heartbeat-gap [y]"}},
		{5, []string{long}, []string{strings.Repeat("é", 2048)}},
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, fr := range written {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.Write(ci, f, fr.frame, fr.comments...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != st.Size() {
		t.Errorf("writer counts %d bytes, the file has %d", w.Size(), st.Size())
	}

	// pcapgo: the comments of each frame, in order.
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r, err := pcapgo.NewNgReader(file, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range written {
		data, _, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			t.Fatalf("frame %d: %v", fr.frame, err)
		}
		if opts.PacketID == nil || *opts.PacketID != fr.frame || string(data) != string(f) {
			t.Errorf("frame %d read back as packet ID %v, %d bytes", fr.frame, opts.PacketID, len(data))
		}
		if !slices.Equal(opts.Comments, fr.want) {
			t.Errorf("frame %d comments %q, want %q", fr.frame, opts.Comments, fr.want)
		}
	}
	if _, _, err := r.ReadPacketData(); !errors.Is(err, io.EOF) {
		t.Errorf("after the frames: %v, want EOF", err)
	}
	// capture's reader reads the file whole.
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var p capture.Packet
	n := 0
	for src.Next(&p) == nil {
		n++
	}
	if n != len(written) {
		t.Errorf("capture's reader read %d frames, want %d", n, len(written))
	}

	// tshark: frame.comment matches any of a frame's comments.
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: tshark is needed to read the comments back")
		}
		t.Log("tshark not installed: its half of the check is skipped")
		return
	}
	for filter, want := range map[string]string{
		`frame.comment contains "heartbeat-gap"`:           "1 2 4",
		`frame.comment contains "multicast-flooding"`:      "1",
		`frame.comment == "evidence of heartbeat-gap [y]"`: "1 4",
		`!frame.comment`: "3",
	} {
		out, err := exec.Command(tshark, "-r", path, "-Y", filter, "-T", "fields", "-e", "frame.packet_id").Output()
		if err != nil {
			t.Fatalf("tshark -Y %s: %v", filter, err)
		}
		if got := strings.Join(strings.Fields(string(out)), " "); got != want {
			t.Errorf("tshark -Y '%s' finds frames %q, want %q", filter, got, want)
		}
	}
	out, err := exec.Command(tshark, "-r", path, "-Y", "frame.packet_id == 1", "-T", "fields", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "evidence of multicast-flooding [x],evidence of heartbeat-gap [y]"; got != want {
		t.Errorf("tshark lists frame 1's comments as %q, want %q", got, want)
	}
}
