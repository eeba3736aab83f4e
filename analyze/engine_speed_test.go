package analyze_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
)

// TestPacketAtIsPacket feeds the mix through Packet and through PacketAt
// (the time as Unix nanoseconds): the reports must be identical.
func TestPacketAtIsPacket(t *testing.T) {
	recs, err := mixedFrames()
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[:30000]
	viaMeta, viaNanos := analyze.New(analyze.Options{}), analyze.New(analyze.Options{})
	for i, r := range recs {
		viaMeta.Packet(r.Data, analyze.Meta{Frame: uint64(i + 1), Time: r.Time, Length: r.WireLen, LinkType: r.LinkType})
		viaNanos.PacketAt(r.Data, uint64(i+1), r.Time.UnixNano(), r.WireLen, r.LinkType, 0)
	}
	sameReport(t, "PacketAt against Packet", viaNanos, viaMeta)
}

// TestRepeatedFindingCounts checks the findings every frame of a capture
// can touch (capture-truncated, malformed-frame), whose counts the engine
// keeps itself once their evidence is full: the count is the number of such
// frames and the evidence the first 16 of them, in a report in the middle
// of the capture and at its end.
func TestRepeatedFindingCounts(t *testing.T) {
	recs, err := mixedFrames()
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[:20000]
	// Every 7th frame is replaced by an IPv4 header with IHL 3 (malformed),
	// captured whole; the mix itself cuts most frames to 128 bytes.
	malformedFrame := slices.Clone(recs[0].Data[:14])
	binary.BigEndian.PutUint16(malformedFrame[12:], 0x0800)
	malformedFrame = append(malformedFrame, append([]byte{0x43, 0, 0, 40}, make([]byte, 36)...)...)
	e := analyze.New(analyze.Options{})
	var cut, bad []uint64
	check := func(r *analyze.Report, when string) {
		t.Helper()
		for _, c := range []struct {
			kind   finding.Kind
			frames []uint64
		}{{finding.CaptureTruncated, cut}, {finding.MalformedFrame, bad}} {
			f, ok := findingOf(r, c.kind)
			if !ok {
				t.Fatalf("%s: no %v finding", when, c.kind)
			}
			if f.Count != uint64(len(c.frames)) || !slices.Equal(f.Evidence, c.frames[:min(len(c.frames), finding.MaxEvidence)]) {
				t.Errorf("%s: %v count %d evidence %v, want %d and %v", when, c.kind, f.Count, f.Evidence,
					len(c.frames), c.frames[:min(len(c.frames), finding.MaxEvidence)])
			}
		}
	}
	for i, r := range recs {
		n := uint64(i + 1)
		data, wire := r.Data, r.WireLen
		if n%7 == 0 {
			data, wire = malformedFrame, len(malformedFrame)
			bad = append(bad, n)
		} else if len(data) < wire {
			cut = append(cut, n)
		}
		e.PacketAt(data, n, r.Time.UnixNano(), wire, layers.LinkTypeEthernet, 0)
		if n == 10000 {
			check(e.Report(), "report at frame 10000")
		}
	}
	check(e.Finish(), "final report")
}
