package capture_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// at returns one frame of file at t0 plus ms milliseconds.
func at(file, index int, ms float64) testFrame {
	return testFrame{ts: t0.Add(time.Duration(ms * float64(time.Millisecond))), data: ethFrame(file, index, 60+index)}
}

func TestMergeOrdersByTimeLikeMergecap(t *testing.T) {
	eth := layers.LinkTypeEthernet
	files := [][]testFrame{
		{at(0, 0, 1), at(0, 1, 4), at(0, 2, 7), at(0, 3, 7)},
		{at(1, 0, 2), at(1, 1, 4), at(1, 2, 5)},
		{at(2, 0, 0.5), at(2, 1, 7), at(2, 2, 9)},
	}
	dir := t.TempDir()
	paths := []string{
		writeFile(t, dir, "a.pcap", pcapBytes(t, false, 65535, eth, files[0])),
		writeFile(t, dir, "b.pcapng", pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, files[1])),
		writeFile(t, dir, "c.pcap.gz", gzipBytes(t, pcapBytes(t, true, 65535, eth, files[2]))),
	}
	// Equal time stamps come out last input first, as mergecap does it
	// (checked against mergecap itself in TestMergeMatchesMergecap).
	order := [][2]int{{2, 0}, {0, 0}, {1, 0}, {1, 1}, {0, 1}, {1, 2}, {2, 1}, {0, 2}, {0, 3}, {2, 2}}
	var want []gotPacket
	for i, o := range order {
		want = append(want, wantPacket(files[o[0]][o[1]], eth, uint64(i+1), o[0]))
	}
	src, err := capture.OpenFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src, 100)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffPackets(got, want); d != "" {
		t.Error(d)
	}
	lastFrames := []uint64{9, 6, 10}
	for i, info := range src.Inputs() {
		f := files[i]
		if info.Path != paths[i] || info.Frames != uint64(len(f)) || info.LastFrame != lastFrames[i] ||
			!info.First.Equal(f[0].ts) || !info.Last.Equal(f[len(f)-1].ts) || info.Err != "" {
			t.Errorf("input %d: %+v", i, info)
		}
	}
}

func TestMergeGoesOnPastDamagedAndCutFiles(t *testing.T) {
	eth := layers.LinkTypeEthernet
	clean := frames(0, 5, t0, time.Second)
	damaged := frames(1, 5, t0.Add(100*time.Millisecond), time.Second)
	cut := frames(2, 5, t0.Add(200*time.Millisecond), time.Second)
	damagedFile := pcapBytes(t, false, 65535, eth, damaged)
	binary.LittleEndian.PutUint32(damagedFile[pcapRecordOffsets(t, damagedFile)[2]+8:], 1<<30)
	cutFile := pcapBytes(t, false, 65535, eth, cut)
	cutFile = cutFile[:pcapRecordOffsets(t, cutFile)[4]+30]

	dir := t.TempDir()
	src, err := capture.OpenFiles([]string{
		writeFile(t, dir, "clean.pcap", pcapBytes(t, false, 65535, eth, clean)),
		writeFile(t, dir, "damaged.pcap", damagedFile),
		writeFile(t, dir, "cut.pcap", cutFile),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src, 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []gotPacket
	for i := range 5 {
		want = append(want, wantPacket(clean[i], eth, 0, 0))
		if i < 2 {
			want = append(want, wantPacket(damaged[i], eth, 0, 1))
		}
		if i < 4 {
			want = append(want, wantPacket(cut[i], eth, 0, 2))
		}
	}
	for i := range want {
		want[i].Frame = uint64(i + 1)
	}
	if d := diffPackets(got, want); d != "" {
		t.Error(d)
	}
	in := src.Inputs()
	if in[0].Err != "" || in[0].Frames != 5 {
		t.Errorf("clean input: %+v", in[0])
	}
	if !in[1].Damaged || in[1].BadRecord != 3 || in[1].Frames != 2 || in[1].LastFrame != 5 {
		t.Errorf("damaged input: %+v", in[1])
	}
	if !in[2].TruncatedAtEnd || in[2].BadRecord != 5 || in[2].Frames != 4 || in[2].LastFrame != 10 {
		t.Errorf("cut input: %+v", in[2])
	}
}

// withSimplePackets appends pcapng simple packet blocks, which have no
// time stamp, to a pcapng file: pcapgo's writer does not write them.
func withSimplePackets(ng []byte, data ...[]byte) []byte {
	for _, d := range data {
		padded := (len(d) + 3) &^ 3
		blk := make([]byte, 16+padded)
		binary.LittleEndian.PutUint32(blk[0:], 3) // block type: simple packet
		binary.LittleEndian.PutUint32(blk[4:], uint32(len(blk)))
		binary.LittleEndian.PutUint32(blk[8:], uint32(len(d))) // original length
		copy(blk[12:], d)
		binary.LittleEndian.PutUint32(blk[len(blk)-4:], uint32(len(blk)))
		ng = append(ng, blk...)
	}
	return ng
}

// TestMergePutsPacketsWithoutTimeFirst: mergecap takes a packet without a
// time stamp (a pcapng simple packet block) at once, from the lowest
// input that has one; the reverse of the rule for equal time stamps.
func TestMergePutsPacketsWithoutTimeFirst(t *testing.T) {
	eth := layers.LinkTypeEthernet
	dir := t.TempDir()
	ng := func(fr []testFrame) []byte { return pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr) }
	// Two simple packet blocks, then an enhanced one (with a time stamp):
	// the last block of a pcapng file written with that packet.
	withEPB := ng([]testFrame{at(0, 2, 1)})
	epb := withEPB[len(withEPB)-int(binary.LittleEndian.Uint32(withEPB[len(withEPB)-4:])):]
	a := writeFile(t, dir, "a.pcapng", append(withSimplePackets(ng(nil), ethFrame(0, 0, 60), ethFrame(0, 1, 61)), epb...))
	b := writeFile(t, dir, "b.pcap", pcapBytes(t, false, 65535, eth, []testFrame{at(1, 0, 0), at(1, 1, 2)}))
	c := writeFile(t, dir, "c.pcapng", withSimplePackets(ng(nil), ethFrame(2, 0, 62)))
	src, err := capture.OpenFiles([]string{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src, 100)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range got {
		order = append(order, fmt.Sprintf("%d:%d", p.Input, binary.BigEndian.Uint32(p.Data[15:])))
	}
	if want := "[0:0 0:1 2:0 1:0 0:2 1:1]"; fmt.Sprint(order) != want {
		t.Errorf("order (input:frame) %v, want %s", order, want)
	}
	if !got[0].Info.Timestamp.IsZero() || got[0].Info.Length != 60 {
		t.Errorf("simple packet block: Info %+v", got[0].Info)
	}
	if in := src.Inputs()[0]; in.Frames != 3 || !in.First.Equal(at(0, 2, 1).ts) || !in.Last.Equal(at(0, 2, 1).ts) {
		t.Errorf("input 0: Frames %d, First %v, Last %v: want 3 frames, First = Last = the one time stamp", in.Frames, in.First, in.Last)
	}
}

// sortedMerge is what merging files whose time stamps never go back must
// give: all packets by time, equal times last input first, each file in
// its own order.
func sortedMerge(files [][]testFrame, lt layers.LinkType) []gotPacket {
	type ref struct{ file, index int }
	var refs []ref
	for f, fr := range files {
		for i := range fr {
			refs = append(refs, ref{f, i})
		}
	}
	slices.SortStableFunc(refs, func(a, b ref) int {
		return cmp.Or(files[a.file][a.index].ts.Compare(files[b.file][b.index].ts), cmp.Compare(b.file, a.file))
	})
	out := make([]gotPacket, len(refs))
	for i, r := range refs {
		out[i] = wantPacket(files[r.file][r.index], lt, uint64(i+1), r.file)
	}
	return out
}

// TestMergeDataStaysValid merges files with many frames through read
// buffers from tiny (every record straddles a buffer boundary, and large
// records grow the buffer) to the default, with the fast pcap reader and
// with pcapgo's, and checks every packet's bytes when Next returns it: a
// reader that reused a buffer another input's pending packet points into
// would show here.
func TestMergeDataStaysValid(t *testing.T) {
	eth := layers.LinkTypeEthernet
	var files [][]testFrame
	var data [][]byte
	for f := range 3 {
		// Steps of 3, 5 and 7 ms: interleaved, with ties.
		fr := frames(f, 1500, t0, time.Duration(3+2*f)*time.Millisecond)
		files = append(files, fr)
		switch f {
		case 0:
			data = append(data, pcapBytes(t, false, 65535, eth, fr))
		case 1:
			data = append(data, gzipBytes(t, bigEndianPcap(t, pcapBytes(t, true, 65535, eth, fr))))
		case 2:
			data = append(data, pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr))
		}
	}
	want := sortedMerge(files, eth)
	for _, bufSize := range []int{50, 200, 1600, 4096, 0} {
		for _, usePcapgo := range []bool{false, true} {
			t.Run(fmt.Sprintf("buffer %d pcapgo %v", bufSize, usePcapgo), func(t *testing.T) {
				src, err := capture.OpenBytes(data, usePcapgo, bufSize)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				got, err := readAll(t, src, 10000)
				if err != nil {
					t.Fatal(err)
				}
				if d := diffPackets(got, want); d != "" {
					t.Error(d)
				}
			})
		}
	}
}

// TestMergeMatchesMergecap checks the claim that Frame numbers are those of
// `mergecap -w merged FILES`: it merges with mergecap and compares packet
// by packet.
func TestMergeMatchesMergecap(t *testing.T) {
	mergecap, err := exec.LookPath("mergecap")
	if err != nil {
		t.Skip("mergecap not installed (Debian package wireshark-common)")
	}
	eth := layers.LinkTypeEthernet
	ng := func(t *testing.T, fr []testFrame) []byte {
		return pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, fr)
	}
	tests := []struct {
		name  string
		files func(t *testing.T) [][]byte
	}{
		{
			// One file goes back in time, so the merge must hold one
			// packet per file, as mergecap does, rather than sort.
			name: "interleaved, equal time stamps, a file going back in time",
			files: func(t *testing.T) [][]byte {
				a := frames(0, 400, t0, 3*time.Millisecond)
				b := frames(1, 300, t0, 4*time.Millisecond)
				c := frames(2, 200, t0.Add(time.Millisecond), 5*time.Millisecond)
				for i := 150; i < len(b); i++ {
					b[i].ts = b[i].ts.Add(-100 * time.Millisecond)
				}
				for i := 50; i < 60; i++ {
					c[i].ts = c[49].ts
				}
				return [][]byte{pcapBytes(t, false, 65535, eth, a), pcapBytes(t, true, 65535, eth, b), ng(t, c)}
			},
		},
		{
			name: "simple packet blocks without time stamps",
			files: func(t *testing.T) [][]byte {
				withEPB := ng(t, []testFrame{at(0, 9, 3)})
				epb := withEPB[len(withEPB)-int(binary.LittleEndian.Uint32(withEPB[len(withEPB)-4:])):]
				return [][]byte{
					pcapBytes(t, false, 65535, eth, []testFrame{at(0, 0, 1), at(0, 1, 2)}),
					append(withSimplePackets(ng(t, nil), ethFrame(1, 0, 60), ethFrame(1, 1, 61)), epb...),
					withSimplePackets(ng(t, []testFrame{at(2, 0, 0)}), ethFrame(2, 1, 62)),
					withSimplePackets(ng(t, nil), ethFrame(3, 0, 63)),
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for i, b := range tt.files(t) {
				paths = append(paths, writeFile(t, dir, fmt.Sprintf("in%d", i), b))
			}
			merged := filepath.Join(dir, "merged.pcapng")
			if out, err := exec.Command(mergecap, append([]string{"-w", merged}, paths...)...).CombinedOutput(); err != nil {
				t.Fatalf("mergecap: %v\n%s", err, out)
			}
			src, err := capture.OpenFiles(paths)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			ours, err := readAll(t, src, 10000)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := capture.OpenFiles([]string{merged})
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			theirs, err := readAll(t, ref, 10000)
			if err != nil {
				t.Fatal(err)
			}
			if len(ours) != len(theirs) {
				t.Fatalf("we merged %d frames, mergecap %d", len(ours), len(theirs))
			}
			// Every frame's bytes say which file and frame it is. A packet
			// without a time stamp comes out of mergecap with one of 0.
			for i := range ours {
				o, m := ours[i], theirs[i]
				if !bytes.Equal(o.Data, m.Data) || !o.Info.Timestamp.IsZero() && !o.Info.Timestamp.Equal(m.Info.Timestamp) {
					t.Fatalf("frame %d: ours is frame %d of input %d at %v; mergecap's is frame %d of input %d at %v",
						i+1, binary.BigEndian.Uint32(o.Data[15:]), o.Data[14], o.Info.Timestamp,
						binary.BigEndian.Uint32(m.Data[15:]), m.Data[14], m.Info.Timestamp)
				}
			}
		})
	}
}
