package analyze_test

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/analyze"
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
		t.Fatalf("%.0f allocations per pass of %d frames (%.5f per frame)", allocs, len(recs), perFrame)
	}
}
