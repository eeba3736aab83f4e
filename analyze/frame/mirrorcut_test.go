package frame_test

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

// TestMirrorCut: a frame the mirroring switch cut (ERSPAN's T bit) is
// truncated and says who cut it, whether or not the capture's snaplen cut
// it again; one the snaplen alone cut, or a frame after a cut one, does
// not.
func TestMirrorCut(t *testing.T) {
	vip := [4]byte{10, 70, 0, 100}
	cluster := addr.MAC{3, 0xbf, 10, 70, 0, 100}
	nic := addr.MAC{0x00, 0x15, 0x5d, 0x46, 0, 1}
	hb := tag(0x8100, 70, ethernet(cluster, nic, 0x886f, membership(1, vip, [4]byte{10, 70, 0, 1}, 1)))
	erspan3T := func(session uint32) []byte {
		h := erspan3(70, session, 0, false)
		h[2] |= 0x04 // T, bit 10 of the first word
		return h
	}
	cut2 := outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, true, 7), hb[:300]))
	whole2 := outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, false, 7), hb))
	cut3 := outerIPv6(47, cat(gre(0x1000, 0x22eb), erspan3T(9), hb[:128]))
	for _, tc := range []struct {
		name      string
		data      []byte
		captured  int // bytes of data the capture kept
		status    frame.Status
		mirrorCut bool
	}{
		{"ERSPAN II, T set, captured whole", cut2, len(cut2), frame.Truncated, true},
		{"ERSPAN II, T set, and cut by the snaplen", cut2, len(cut2) - 100, frame.Truncated, true},
		{"ERSPAN III over IPv6, T set", cut3, len(cut3), frame.Truncated, true},
		{"ERSPAN II, T clear, cut by the snaplen", whole2, len(whole2) - 100, frame.Truncated, false},
		{"ERSPAN II, T clear, captured whole", whole2, len(whole2), frame.OK, false},
		{"a frame seen directly, cut by the snaplen", hb, 200, frame.Truncated, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := frame.NewDecoder()
			// A frame the mirror cut first: nothing of it may stick.
			d.Decode(layers.LinkTypeEthernet, cut2, len(cut2))
			f := d.Decode(layers.LinkTypeEthernet, tc.data[:tc.captured], len(tc.data))
			if f.Status != tc.status || f.MirrorCut != tc.mirrorCut || f.Kind != frame.KindHeartbeat {
				t.Errorf("%v %v, MirrorCut %v (%v); want %v %v, MirrorCut %v", f.Kind, f.Status, f.MirrorCut, f.Err,
					frame.KindHeartbeat, tc.status, tc.mirrorCut)
			}
		})
	}
}
