package flood

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

// BenchmarkCountTo counts frames to 50 cluster MACs on five VLANs in random
// order, as the speed issue's mix sends them. One op is one frame.
func BenchmarkCountTo(b *testing.B) {
	type dst struct {
		vlan frame.VLAN
		mac  addr.MAC
	}
	dsts := make([]dst, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range dsts {
		n := rng.IntN(50)
		dsts[i] = dst{frame.VLAN(100 + n%5), addr.MAC{2, 0xbf, 10, 128, byte(n), 100}}
	}
	t := New(0, nil)
	ip := netip.MustParseAddr("10.128.0.100")
	now := int64(1.7e18)
	i := 0
	for b.Loop() {
		d := &dsts[i&4095]
		now += 10000
		t.CountTo(d.vlan, &d.mac, 100, false, ip, now, uint64(i))
		i++
	}
}
