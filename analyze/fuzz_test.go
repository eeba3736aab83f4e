package analyze_test

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
)

// fuzzLinkTypes are the link types the fuzzer picks from: the three the
// engine decodes and one it must skip.
var fuzzLinkTypes = []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw}

// splitFrames cuts fuzz input into frames: each is a 2-byte length, a
// 1-byte link-type choice, a 2-byte time step in milliseconds and a
// 1-byte flag (cut by a snaplen), then the bytes.
func splitFrames(in []byte) (frames [][]byte, metas []analyze.Meta) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	for n := uint64(1); len(in) >= 6 && n <= 2000; n++ {
		size := int(binary.BigEndian.Uint16(in))
		lt := fuzzLinkTypes[int(in[2])%len(fuzzLinkTypes)]
		now = now.Add(time.Duration(binary.BigEndian.Uint16(in[3:])) * time.Millisecond)
		cut := in[5]&1 == 1
		in = in[6:]
		size = min(size, len(in))
		data := in[:size]
		in = in[size:]
		wire := len(data)
		if cut {
			wire += 100
		}
		frames = append(frames, data)
		metas = append(metas, analyze.Meta{Frame: n, Time: now, Length: wire, LinkType: lt})
	}
	return frames, metas
}

func joinFrames(recs []testcapture.Record) []byte {
	var out []byte
	for _, r := range recs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(r.Data)))
		out = append(out, 0, 0, 100, 0)
		out = append(out, r.Data...)
	}
	return out
}

// FuzzEngine runs arbitrary sequences of frames through the whole engine:
// no panic, every frame counted, a report that marshals, evidence that
// names only frames that exist, and findings in report order.
func FuzzEngine(f *testing.F) {
	dir := filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures")
	for _, name := range []string{"mode-change-residue.pcap", "malformed.pcap", "two-vlans.pcap", "igmp-member-missing.pcap", "cooked-sll.pcap", "remote-span.pcap"} {
		if recs, err := testcapture.Read(filepath.Join(dir, name)); err == nil && len(recs) > 0 {
			f.Add(joinFrames(recs[:min(len(recs), 60)]))
		}
	}
	f.Add([]byte{0, 3, 0, 0, 1, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		frames, metas := splitFrames(in)
		e := analyze.New(analyze.Options{Limits: analyze.Limits{Bindings: 64, Memberships: 64, Clusters: 16, ClusterMACs: 16, Findings: 64}})
		for i := range frames {
			e.Packet(frames[i], metas[i])
		}
		r := e.Finish()
		if r.Stats.Frames != uint64(len(frames)) {
			t.Fatalf("%d frames counted of %d", r.Stats.Frames, len(frames))
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("report does not marshal: %v", err)
		}
		for _, fd := range r.Findings {
			for _, n := range fd.Evidence {
				if n > uint64(len(frames)) {
					t.Fatalf("%s cites frame %d of %d", fd.Kind, n, len(frames))
				}
			}
		}
		if !slices.IsSortedFunc(r.Findings, func(a, b finding.Finding) int { return finding.Compare(&a, &b) }) {
			t.Fatal("findings not in report order")
		}
	})
}
