package flood_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/flood"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

func TestRates(t *testing.T) {
	tab := flood.New(0, nil)
	mac := addr.MAC{0x03, 0xbf, 10, 0, 0, 50}
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC).UnixNano()
	vip := netip.MustParseAddr("10.0.0.50")
	// 50 frames/s of 100 bytes for 20 s, plus a burst of 80 in second 5.
	n := uint64(0)
	for s := 0; s < 20; s++ {
		count := 50
		if s == 5 {
			count = 80
		}
		for i := 0; i < count; i++ {
			n++
			tab.Count(0, mac, 100, false, vip, base+int64(s)*int64(time.Second)+int64(i)*int64(time.Second)/int64(count), n)
		}
	}
	for k, c := range tab.All() {
		fps, bps, peak, peakBytes := c.Rates()
		if k.MAC != mac || c.Frames != 1030 || c.Seconds != 19 || peak != 80 || peakBytes != 8000 || c.DstIP != vip {
			t.Fatalf("counter %+v peak %d", c, peak)
		}
		// 1030 frames over 19.98 s.
		if fps < 51 || fps > 52 || bps < 5100 || bps > 5200 {
			t.Fatalf("fps %.2f bps %.2f", fps, bps)
		}
		return
	}
	t.Fatal("no counter")
}

func TestCountAllocs(t *testing.T) {
	tab := flood.New(0, nil)
	mac := addr.MAC{0x03, 0xbf, 10, 0, 0, 50}
	now := int64(0)
	tab.Count(0, mac, 60, false, netip.Addr{}, now, 1)
	if a := testing.AllocsPerRun(1000, func() { now += 1e6; tab.Count(0, mac, 60, false, netip.Addr{}, now, 2) }); a != 0 {
		t.Fatalf("%.1f allocs per count", a)
	}
}

// TestKeysKeptApart counts frames to MACs and VLANs that differ in one byte
// or one tag each: every pair is its own counter, and All gives the keys
// back as they were counted.
func TestKeysKeptApart(t *testing.T) {
	tab := flood.New(0, nil)
	type key = flood.Key
	keys := []key{
		{VLAN: 0, MAC: addr.MAC{0x02, 0xbf, 10, 0, 0, 50}},
		{VLAN: 0, MAC: addr.MAC{0x03, 0xbf, 10, 0, 0, 50}},
		{VLAN: 0, MAC: addr.MAC{0x03, 0xbf, 10, 0, 0, 51}},
		{VLAN: 0, MAC: addr.MAC{0x03, 0xbf, 11, 0, 0, 50}},
		{VLAN: 0, MAC: addr.MAC{0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfe}},
		{VLAN: 100, MAC: addr.MAC{0x03, 0xbf, 10, 0, 0, 50}},
		{VLAN: frame.MakeVLAN(100, 200), MAC: addr.MAC{0x03, 0xbf, 10, 0, 0, 50}},
		{VLAN: frame.MakeVLAN(4095, 4095), MAC: addr.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for i, k := range keys {
		for n := range i + 1 {
			tab.CountTo(k.VLAN, &k.MAC, 100, false, netip.Addr{}, int64(n), uint64(n+1))
		}
	}
	got := map[key]uint64{}
	for k, c := range tab.All() {
		got[k] = c.Frames
	}
	for i, k := range keys {
		if got[k] != uint64(i+1) {
			t.Errorf("%v vlan %v: %d frames, want %d", k.MAC, k.VLAN, got[k], i+1)
		}
	}
	if len(got) != len(keys) {
		t.Errorf("%d counters, want %d: %v", len(got), len(keys), got)
	}
}
