package analyze_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// batchSizes are the batch lengths the split is tested with: from a frame
// at a time to about what a 1 MiB read buffer holds.
var batchSizes = []int{1, 3, 50, 1000, 8192}

// splitResult is what feeding a capture in batches gave.
type splitResult struct {
	batches, applied int
}

// checkSplit feeds recs frame by frame to one engine and in batches of n
// to another (ApplyBatch, or PacketAt for every frame of a batch it
// declines, as the read pipeline does). The stats and the clock must agree
// after every batch, and the final reports byte for byte.
func checkSplit(t *testing.T, recs []testcapture.Record, opts analyze.Options, n int) splitResult {
	t.Helper()
	ref, e := analyze.New(opts), analyze.New(opts)
	b := analyze.NewBatch()
	var res splitResult
	for lo := 0; lo < len(recs); lo += n {
		chunk := recs[lo:min(lo+n, len(recs))]
		b.Reset()
		for i, r := range chunk {
			frameNo := uint64(lo + i + 1)
			ref.PacketAt(r.Data, frameNo, r.Time.UnixNano(), r.WireLen, r.LinkType, 0)
			b.Add(r.Data, frameNo, r.Time.UnixNano(), r.WireLen, r.LinkType, 0)
		}
		res.batches++
		if e.ApplyBatch(b) {
			res.applied++
		} else {
			for i, r := range chunk {
				e.PacketAt(r.Data, uint64(lo+i+1), r.Time.UnixNano(), r.WireLen, r.LinkType, 0)
			}
		}
		if got, want := e.Stats(), ref.Stats(); got != want {
			t.Fatalf("batches of %d, after frame %d: stats %+v, want %+v", n, lo+len(chunk), got, want)
		}
		if got, want := e.LastTime(), ref.LastTime(); !got.Equal(want) {
			t.Fatalf("batches of %d, after frame %d: clock at %v, want %v", n, lo+len(chunk), got, want)
		}
	}
	sameReport(t, fmt.Sprintf("batches of %d", n), e, ref)
	return res
}

// sameReport fails t unless e finishes with the report of ref (fed frame
// by frame with Packet or PacketAt), to the byte; it shows where they part.
func sameReport(t *testing.T, what string, e, ref *analyze.Engine) {
	t.Helper()
	got, err := json.Marshal(e.Finish())
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(ref.Finish())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: the report differs from the reference at byte %d:\n got  ...%s\n want ...%s",
			what, i, got[max(i-200, 0):min(i+200, len(got))], want[max(i-200, 0):min(i+200, len(want))])
	}
}

// mixedRecords returns the frames of a mixed capture of n frames.
func mixedRecords(t *testing.T, n int, seed int64) []testcapture.Record {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	if err := fixtures.WriteMixedFile(path, n, seed); err != nil {
		t.Fatal(err)
	}
	return testcapture.MustRead(t, path)
}

// TestBatchIsPacket checks that sorting frames into batches and applying
// them gives the engine the same state and report as frame by frame, on
// the mixed capture and variants of it that exercise each case where
// ApplyBatch must decline or cut a batch into seconds, on every fixture
// capture, and on the shared corpus.
func TestBatchIsPacket(t *testing.T) {
	mixed := mixedRecords(t, 60000, 3)
	// A capture whose clock jumps back 3 s for a stretch and then on.
	clockBack := slices.Clone(mixed)
	for i := 20000; i < 20500; i++ {
		clockBack[i].Time = clockBack[i].Time.Add(-3 * time.Second)
	}
	// Every 97th frame an option-less IPv4 header captured whole whose
	// total length runs past the frame: a plain frame, malformed.
	malformed := slices.Clone(mixed)
	for i := 96; i < len(malformed); i += 97 {
		r := malformed[i]
		data := slices.Clone(r.Data[:min(len(r.Data), 60)])
		if binary.BigEndian.Uint16(data[16:]) != 0x0800 {
			continue // not a tagged IPv4 frame of the mix
		}
		binary.BigEndian.PutUint16(data[18+2:], 1500)
		data[18] = 0x45
		malformed[i] = testcapture.Record{Data: data, WireLen: len(data), Time: r.Time, LinkType: r.LinkType}
	}
	// Heartbeats cut to 100 bytes and the first half of the frames to
	// 120: the longest cut frame, which the capture-truncated finding
	// names, is a plain one of the second half.
	shortCuts := slices.Clone(mixed)
	for i, r := range shortCuts {
		switch {
		case binary.BigEndian.Uint16(r.Data[16:]) == 0x886f:
			shortCuts[i].Data = r.Data[:min(len(r.Data), 100)]
		case i < len(shortCuts)/2:
			shortCuts[i].Data = r.Data[:min(len(r.Data), 120)]
		}
	}
	// Every 89th frame SSDP: IP multicast inside a MAC of the IGMP
	// cluster form, which does not count towards flooding.
	ssdp := slices.Clone(mixed)
	ssdpFrame := fixtures.Client{SrcIP: netip.MustParseAddr("10.2.0.9"), DstIP: netip.MustParseAddr("239.255.255.250"),
		SrcPort: 50000, DstPort: 1900, Proto: fixtures.ClientUDP, Length: 200}.Frame(addr.MAC{0, 0x50, 0x56, 0, 0, 9},
		addr.MAC{0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa}, 100)
	for i := 88; i < len(ssdp); i += 89 {
		ssdp[i] = testcapture.Record{Data: ssdpFrame, WireLen: len(ssdpFrame), Time: ssdp[i].Time, LinkType: ssdp[i].LinkType}
	}
	// Every 7th frame mirrored from a remote span, in turn ERSPAN type II
	// and VXLAN: deep frames whose Ethernet destination is the collector
	// while the mirrored frame's may be a cluster MAC, among plain frames
	// to cluster MACs.
	remote := slices.Clone(mixed)
	erspan := &fixtures.ERSPAN{Type: 2, Session: 7, Encap: fixtures.ERSPANTagKept,
		Switch: netip.MustParseAddr("192.0.2.1"), Collector: netip.MustParseAddr("192.0.2.10"),
		SwitchMAC: addr.MAC{0, 0x1b, 0x54, 0, 2, 1}, CollectorMAC: addr.MAC{0, 0x15, 0x5d, 0, 2, 10}}
	vxlan := fixtures.VXLAN{VNI: 5070, SourcePort: 50000, Switch: erspan.Switch, Collector: erspan.Collector,
		SwitchMAC: erspan.SwitchMAC, CollectorMAC: erspan.CollectorMAC}
	for i := 6; i < len(remote); i += 7 {
		r := remote[i]
		if len(r.Data) != r.WireLen {
			continue
		}
		data := vxlan.Wrap(r.Data)
		if i%2 == 0 {
			data = erspan.Wrap(r.Data, false)
		}
		remote[i] = testcapture.Record{Data: data, WireLen: len(data), Time: r.Time, LinkType: r.LinkType}
	}
	// Time jumps a capture cannot have, for EndAtTimeJump: one frame
	// decades ahead, and the clock going back an hour from a frame on.
	ahead := slices.Clone(mixed)
	ahead[30001].Time = ahead[30001].Time.AddDate(40, 0, 0)
	back := slices.Clone(mixed)
	for i := 30001; i < len(back); i++ {
		back[i].Time = back[i].Time.Add(-time.Hour)
	}
	endAtJump := analyze.Options{EndAtTimeJump: true}
	for _, c := range []struct {
		name string
		recs []testcapture.Record
		opts analyze.Options
		// mostApplied: from batches of 50 frames on, ApplyBatch takes
		// most batches.
		mostApplied bool
	}{
		{"mixed", mixed, analyze.Options{}, true},
		{"mixed nonmember", mixed, analyze.Options{Vantage: analyze.VantageNonMember}, true},
		{"mixed clock back", clockBack, analyze.Options{}, true},
		{"mixed malformed", malformed, analyze.Options{}, true},
		{"mixed shorter cuts", shortCuts, analyze.Options{}, true},
		{"mixed ssdp", ssdp, analyze.Options{}, true},
		{"mixed remote span", remote, analyze.Options{}, false},
		{"mixed remote span, small flood table", remote, analyze.Options{Limits: analyze.Limits{ClusterMACs: 40}}, false},
		{"mixed end at time jump", mixed, endAtJump, true},
		{"mixed clock back, end at time jump", clockBack, endAtJump, true},
		{"mixed a frame decades ahead", ahead, endAtJump, false},
		{"mixed clock back an hour", back, endAtJump, false},
		// Fewer counters than cluster MACs: evictions, batches declined.
		{"mixed small flood table", mixed, analyze.Options{Limits: analyze.Limits{ClusterMACs: 40}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, n := range batchSizes {
				res := checkSplit(t, c.recs, c.opts, n)
				if c.mostApplied && n >= 50 && res.applied < res.batches/2 {
					t.Errorf("batches of %d: ApplyBatch took %d of %d", n, res.applied, res.batches)
				}
			}
		})
	}
	t.Run("fixtures", func(t *testing.T) {
		dir := filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures")
		paths, err := filepath.Glob(filepath.Join(dir, "*.expect.json"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("no scenario intents in %s: %v", dir, err)
		}
		applied := 0
		for _, path := range paths {
			exp, err := fixtures.ReadExpect(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, file := range exp.Files {
				recs := testcapture.MustRead(t, filepath.Join(dir, file))
				for _, n := range batchSizes {
					applied += checkSplit(t, recs, optionsFor(t, exp.Args), n).applied
				}
			}
		}
		if applied == 0 {
			t.Error("ApplyBatch took no batch of the fixtures")
		}
	})
	t.Run("shared corpus", func(t *testing.T) {
		dir := testcapture.SharedPcaps(t)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".pcap") && !strings.HasSuffix(e.Name(), ".pcapng") {
				continue
			}
			recs, _ := testcapture.Read(filepath.Join(dir, e.Name())) // up to the first error
			for _, n := range []int{1, 50, 8192} {
				checkSplit(t, recs, analyze.Options{}, n)
				checkSplit(t, recs, analyze.Options{EndAtTimeJump: true}, n)
			}
		}
	})
}

// TestBatchEvictionOrder crafts the batch where adding a segment's sums
// would evict another flood counter than frame by frame: a full table,
// every counter but one seen in the batch, one of them seen again after a
// new cluster MAC. Frame by frame the new MAC evicts it; with sums it
// would look recent. ApplyBatch must decline such a batch.
func TestBatchEvictionOrder(t *testing.T) {
	const limit = 16 // the smallest table
	vip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)}) }
	frameTo := func(i int, at time.Time) testcapture.Record {
		mac, _ := addr.ClusterMAC(addr.ModeMulticast, vip(i))
		c := fixtures.Client{SrcIP: netip.MustParseAddr("10.1.0.1"), DstIP: vip(i), SrcPort: 50000, DstPort: 443,
			Proto: fixtures.ClientTCP, Length: 100}
		data := c.Frame(addr.MAC{0, 0x1b, 0x54, 0, 0, 1}, mac)
		return testcapture.Record{Data: data, WireLen: len(data), Time: at, LinkType: layers.LinkTypeEthernet}
	}
	var recs []testcapture.Record
	at := fixtures.BaseTime
	next := func() time.Time { at = at.Add(time.Millisecond); return at }
	for i := range limit {
		recs = append(recs, frameTo(i, next()))
	}
	at = at.Add(10 * time.Second)
	batch := len(recs)
	for i := range limit - 1 {
		recs = append(recs, frameTo(i, next()))
	}
	recs = append(recs, frameTo(limit, next()), frameTo(0, next()))
	opts := analyze.Options{Limits: analyze.Limits{ClusterMACs: limit}}
	// The first batch fills the table; the second is the crafted one.
	ref, e := analyze.New(opts), analyze.New(opts)
	for i, r := range recs {
		ref.PacketAt(r.Data, uint64(i+1), r.Time.UnixNano(), r.WireLen, r.LinkType, 0)
	}
	b := analyze.NewBatch()
	for _, part := range [][2]int{{0, batch}, {batch, len(recs)}} {
		b.Reset()
		for i := part[0]; i < part[1]; i++ {
			r := recs[i]
			b.Add(r.Data, uint64(i+1), r.Time.UnixNano(), r.WireLen, r.LinkType, 0)
		}
		if !e.ApplyBatch(b) {
			for i := part[0]; i < part[1]; i++ {
				r := recs[i]
				e.PacketAt(r.Data, uint64(i+1), r.Time.UnixNano(), r.WireLen, r.LinkType, 0)
			}
		}
	}
	sameReport(t, "crafted batches", e, ref)
}

// TestBatchAllocs proves the split allocates nothing per frame in steady
// state: sorting a batch and applying it, over a whole second pass of the
// mix.
func TestBatchAllocs(t *testing.T) {
	recs, err := mixedFrames()
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[:50000]
	c := newContiguous(recs)
	e := analyze.New(analyze.Options{})
	b := analyze.NewBatch()
	const n = 8192
	feed := func(pass int) (applied int) {
		for lo := 0; lo < len(recs); lo += n {
			b.Reset()
			for i := lo; i < min(lo+n, len(recs)); i++ {
				r := &c.recs[i]
				b.Add(c.buf[c.off[i]:c.off[i+1]], uint64(pass*len(recs)+i+1), c.times[i]+int64(pass)*c.span, r.WireLen, r.LinkType, 0)
			}
			if e.ApplyBatch(b) {
				applied++
			} else {
				for i := lo; i < min(lo+n, len(recs)); i++ {
					c.feed(e, i, pass)
				}
			}
		}
		return applied
	}
	feed(0)
	pass, applied := 0, 0
	allocs := testing.AllocsPerRun(3, func() { pass++; applied += feed(pass) })
	if applied == 0 {
		t.Fatal("ApplyBatch took no batch")
	}
	if perFrame := allocs / float64(len(recs)); perFrame > 0.0001 {
		t.Fatalf("%.0f allocations per pass of %d frames (%.5f per frame)", allocs, len(recs), perFrame)
	}
}
