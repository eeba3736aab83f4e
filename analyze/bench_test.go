package analyze_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// mixedFrames is the benchmark mix of the speed issue (fixtures.WriteMixed:
// 70% client frames to cluster MACs, 10% ARP, 5% IGMP, 5% heartbeats cut to
// 128 bytes, 10% other IPv4, 50 clusters), read once into memory.
var mixedFrames = sync.OnceValues(func() ([]testcapture.Record, error) {
	var buf bytes.Buffer
	if err := fixtures.WriteMixed(&buf, 200000, 1); err != nil {
		return nil, err
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		return nil, err
	}
	var out []testcapture.Record
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, testcapture.Record{Data: data, WireLen: ci.Length, Time: ci.Timestamp, LinkType: r.LinkType()})
	}
})

// BenchmarkPacket measures the per-frame path alone (decode and every
// analyzer) over the mix, after one warm-up pass so the tables hold every
// station: the steady state. One op is one frame.
func BenchmarkPacket(b *testing.B) {
	recs, err := mixedFrames()
	if err != nil {
		b.Fatal(err)
	}
	e := analyze.New(analyze.Options{})
	metas := make([]analyze.Meta, len(recs))
	for i, r := range recs {
		metas[i] = analyze.Meta{Frame: uint64(i + 1), Time: r.Time, Length: r.WireLen, LinkType: r.LinkType}
		e.Packet(r.Data, metas[i])
	}
	// Later passes replay the same frames later in time, so the clock
	// moves forward as in a real capture.
	span := recs[len(recs)-1].Time.Sub(recs[0].Time) + 1
	b.ReportAllocs()
	b.ResetTimer()
	pass := 1
	for i := 0; i < b.N; i++ {
		j := i % len(recs)
		if j == 0 && i > 0 {
			pass++
		}
		m := metas[j]
		m.Time = m.Time.Add(span * timeDuration(pass))
		e.Packet(recs[j].Data, m)
	}
}

// TestPacketAllocs proves the steady state allocates nothing per frame:
// over a whole second pass of the mix, zero allocations.
func TestPacketAllocs(t *testing.T) {
	recs, err := mixedFrames()
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[:50000]
	e := analyze.New(analyze.Options{})
	feed := func(pass int) {
		span := recs[len(recs)-1].Time.Sub(recs[0].Time) + 1
		for i, r := range recs {
			e.Packet(r.Data, analyze.Meta{Frame: uint64(i + 1), Time: r.Time.Add(span * timeDuration(pass)),
				Length: r.WireLen, LinkType: r.LinkType})
		}
	}
	feed(0)
	pass := 0
	allocs := testing.AllocsPerRun(3, func() { pass++; feed(pass) })
	if perFrame := allocs / float64(len(recs)); perFrame > 0.0001 {
		t.Fatalf("Packet: %.0f allocations per pass of %d frames (%.5f per frame)", allocs, len(recs), perFrame)
	}
	// The same through PacketAt, as the read pipeline feeds it.
	c := newContiguous(recs)
	e = analyze.New(analyze.Options{})
	for i := range recs {
		c.feed(e, i, 0)
	}
	pass = 0
	allocs = testing.AllocsPerRun(3, func() {
		pass++
		for i := range recs {
			c.feed(e, i, pass)
		}
	})
	if perFrame := allocs / float64(len(recs)); perFrame > 0.0001 {
		t.Fatalf("PacketAt: %.0f allocations per pass of %d frames (%.5f per frame)", allocs, len(recs), perFrame)
	}
}

// TestRemoteSpanAllocs: the mix as a remote span's collector sees it, every
// frame mirrored inside ERSPAN type II, III or VXLAN, costs no allocation
// per frame either: the encapsulations are read in place and the session
// is part of fixed-size keys.
func TestRemoteSpanAllocs(t *testing.T) {
	recs, err := mixedFrames()
	if err != nil {
		t.Fatal(err)
	}
	recs = slices.Clone(recs[:30000])
	wrap := remoteSpanWrappers()
	mirrorCut := &fixtures.ERSPAN{Type: 2, Session: 9, Encap: fixtures.ERSPANTagKept, Switch: netip.MustParseAddr("192.0.2.2"),
		Collector: netip.MustParseAddr("192.0.2.10"), SwitchMAC: addr.MAC{0, 0x1b, 0x54, 0, 2, 2}, CollectorMAC: addr.MAC{0, 0x15, 0x5d, 0, 2, 10}}
	mirrorCuts := 0
	for i, r := range recs {
		// A frame the mix cut (heartbeats, at 128 bytes) is mirrored
		// whole and cut by the collector's snaplen, or, every other one,
		// cut by the mirroring switch (the T bit) and captured whole.
		if len(r.Data) < r.WireLen && i%2 == 0 {
			data := mirrorCut.Wrap(r.Data, true)
			recs[i] = testcapture.Record{Data: data, WireLen: len(data), Time: r.Time, LinkType: r.LinkType}
			mirrorCuts++
			continue
		}
		whole := append(slices.Clone(r.Data), make([]byte, r.WireLen-len(r.Data))...)
		data := wrap[i%len(wrap)](whole)
		cut := r.WireLen - len(r.Data)
		recs[i] = testcapture.Record{Data: data[:len(data)-cut], WireLen: len(data), Time: r.Time, LinkType: r.LinkType}
	}
	e := analyze.New(analyze.Options{})
	feed := func(pass int) {
		span := recs[len(recs)-1].Time.Sub(recs[0].Time) + 1
		for i, r := range recs {
			e.Packet(r.Data, analyze.Meta{Frame: uint64(i + 1), Time: r.Time.Add(span * timeDuration(pass)),
				Length: r.WireLen, LinkType: r.LinkType})
		}
	}
	feed(0)
	if s := e.Stats(); s.Encapsulated.Total() != uint64(len(recs)) || s.Protocols.Heartbeats == 0 || s.Protocols.ARP == 0 || s.Malformed != 0 {
		t.Fatalf("stats %+v: want every frame mirrored, heartbeats and ARP among them, none malformed", s)
	}
	cutBySwitch := uint64(0)
	for _, f := range e.Report().Findings {
		if f.Kind == finding.CaptureTruncated && f.Subject == "erspan session 9" {
			cutBySwitch = f.Count
		}
	}
	if mirrorCuts == 0 || cutBySwitch != uint64(mirrorCuts) {
		t.Fatalf("%d frames cut by the mirror, %d in its capture-truncated finding", mirrorCuts, cutBySwitch)
	}
	pass := 0
	allocs := testing.AllocsPerRun(3, func() { pass++; feed(pass) })
	if perFrame := allocs / float64(len(recs)); perFrame > 0.0001 {
		t.Fatalf("%.0f allocations per pass of %d mirrored frames (%.5f per frame)", allocs, len(recs), perFrame)
	}
}

// remoteSpanWrappers return functions that mirror a frame inside ERSPAN
// type II, ERSPAN type III and VXLAN.
func remoteSpanWrappers() []func([]byte) []byte {
	sw, col := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.10")
	swMAC, colMAC := addr.MAC{0, 0x1b, 0x54, 0, 2, 1}, addr.MAC{0, 0x15, 0x5d, 0, 2, 10}
	e2 := &fixtures.ERSPAN{Type: 2, Session: 7, Encap: fixtures.ERSPANTagKept, Switch: sw, Collector: col, SwitchMAC: swMAC, CollectorMAC: colMAC}
	e3 := &fixtures.ERSPAN{Type: 3, Session: 8, Switch: sw, Collector: col, SwitchMAC: swMAC, CollectorMAC: colMAC}
	v := fixtures.VXLAN{VNI: 5070, SourcePort: 50000, Switch: sw, Collector: col, SwitchMAC: swMAC, CollectorMAC: colMAC}
	return []func([]byte) []byte{
		func(f []byte) []byte { return e2.Wrap(f, false) },
		func(f []byte) []byte { return e3.Wrap(f, false) },
		v.Wrap,
	}
}

// contiguous is the mix as the read pipeline hands it to the engine: the
// frames back to back in one buffer, times as Unix nanoseconds.
type contiguous struct {
	buf   []byte
	off   []int
	recs  []testcapture.Record
	times []int64
	span  int64 // capture time of one pass
}

func newContiguous(recs []testcapture.Record) *contiguous {
	c := &contiguous{recs: recs}
	for _, r := range recs {
		c.off = append(c.off, len(c.buf))
		c.buf = append(c.buf, r.Data...)
		c.times = append(c.times, r.Time.UnixNano())
	}
	c.off = append(c.off, len(c.buf))
	c.span = c.times[len(c.times)-1] - c.times[0] + 1
	return c
}

// feed gives frame i of the mix to e on pass pass (shifted in time by
// whole passes so that the clock moves on).
func (c *contiguous) feed(e *analyze.Engine, i, pass int) {
	r := &c.recs[i]
	e.PacketAt(c.buf[c.off[i]:c.off[i+1]], uint64(pass*len(c.recs)+i+1), c.times[i]+int64(pass)*c.span, r.WireLen, r.LinkType, 0)
}

// BenchmarkPacketAt measures the per-frame path (decode and every
// analyzer) through PacketAt, the entry the read pipeline uses, on the mix
// with its frames back to back in memory as in a read buffer: "mix" is the
// whole mix, the others each kind of frame of it alone (their share of the
// mix: ipv4 80%, arp 10%, igmp 5%, nlb-heartbeat 5%). One op is one frame;
// the tables hold every station of the mix first (steady state).
func BenchmarkPacketAt(b *testing.B) {
	recs, err := mixedFrames()
	if err != nil {
		b.Fatal(err)
	}
	c := newContiguous(recs)
	dec := frame.NewDecoder()
	kinds := map[string][]int{}
	var all []int
	for i, r := range recs {
		k := dec.Decode(r.LinkType, r.Data, r.WireLen).Kind.String()
		kinds[k] = append(kinds[k], i)
		all = append(all, i)
	}
	names := []string{"mix"}
	kinds["mix"] = all
	for _, k := range []frame.Kind{frame.KindIPv4, frame.KindARP, frame.KindIGMP, frame.KindHeartbeat} {
		names = append(names, k.String())
	}
	for _, name := range names {
		idx := kinds[name]
		b.Run(name, func(b *testing.B) {
			e := analyze.New(analyze.Options{})
			for i := range recs {
				c.feed(e, i, 0)
			}
			b.ReportAllocs()
			pass, j := 1, 0
			for b.Loop() {
				c.feed(e, idx[j], pass)
				if j++; j == len(idx) {
					j = 0
					pass++
				}
			}
		})
	}
}
