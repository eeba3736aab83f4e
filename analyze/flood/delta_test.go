package flood

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/timeline"
)

// countedFrame is a frame to a cluster MAC, for the merge tests.
type countedFrame struct {
	vlan      frame.VLAN
	mac       addr.MAC
	wireLen   int
	heartbeat bool
	dstIP     netip.Addr
	now       int64
	n         uint64
	deferred  bool // counted into Deltas and merged, not by the table
}

// randomFrames draws frames to a few cluster MACs on two VLANs: times
// move on by up to 300 ms and now and then go back by up to 3 s; some
// frames carry no IPv4 destination, some are heartbeats (counted by the
// table: Deltas counts client frames only), and the rest are counted by
// the table or deferred at random.
func randomFrames(rng *rand.Rand, n int, deferAll bool) []countedFrame {
	ips := []netip.Addr{{}, netip.MustParseAddr("10.0.0.50"), netip.MustParseAddr("10.0.0.51")}
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC).UnixNano()
	out := make([]countedFrame, n)
	for i := range out {
		if rng.IntN(40) == 0 {
			now -= rng.Int64N(int64(3 * time.Second))
		} else {
			now += rng.Int64N(int64(300 * time.Millisecond))
		}
		f := countedFrame{
			vlan:    frame.VLAN(1 + rng.IntN(2)),
			mac:     addr.MAC{0x03, 0xbf, 10, 0, 0, byte(50 + rng.IntN(4))},
			wireLen: 60 + rng.IntN(1400),
			dstIP:   ips[rng.IntN(len(ips))],
			now:     now,
			n:       uint64(i + 1),
		}
		f.heartbeat = !deferAll && rng.IntN(8) == 0
		f.deferred = !f.heartbeat && (deferAll || rng.IntN(2) == 0)
		out[i] = f
	}
	return out
}

// countSplit counts frames as the engine does with batches: in runs of
// one second, the table's own frames first, then the run's deltas merged;
// the Deltas starts again now and then, as each batch has its own.
func countSplit(t *Table, ds *Deltas, frames []countedFrame) {
	for i := 0; i < len(frames); {
		sec := frames[i].now / int64(time.Second)
		j := i
		for j < len(frames) && frames[j].now/int64(time.Second) == sec {
			j++
		}
		ds.NewRun()
		lo := ds.Len()
		for _, f := range frames[i:j] {
			if !f.deferred {
				t.Count(f.vlan, f.mac, f.wireLen, f.heartbeat, f.dstIP, f.now, f.n)
			} else if !ds.Count(f.vlan, &f.mac, f.wireLen, f.dstIP, f.now, f.n) {
				panic("deltas full")
			}
		}
		t.Merge(ds, lo, ds.Len())
		if ds.Len() > MaxDeltas/2 {
			ds.Reset() // the next batch
		}
		i = j
	}
}

// sameTables fails unless two tables hold the same counters, every field
// included, in the same order.
func sameTables(t *testing.T, got, want *Table) {
	t.Helper()
	type entry struct {
		k Key
		c Counter
	}
	var g, w []entry
	for k, c := range got.All() {
		g = append(g, entry{k, *c})
	}
	for k, c := range want.All() {
		w = append(w, entry{k, *c})
	}
	if len(g) != len(w) {
		t.Fatalf("%d counters, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("counter %d:\n got  %+v\n want %+v", i, g[i], w[i])
		}
	}
	// The timelines' frames per second agree too.
	var ga, wa [][]uint32
	for _, c := range got.All() {
		ga = append(ga, got.Activity(c))
	}
	for _, c := range want.All() {
		wa = append(wa, want.Activity(c))
	}
	if !reflect.DeepEqual(ga, wa) {
		t.Fatalf("activity:\n got  %v\n want %v", ga, wa)
	}
}

// TestMergeIsCountTo counts random frames one by one, and split between
// the table and merged deltas as the read pipeline splits them: the
// counters must be the same to the last field, peaks, first and last
// frames and the client's IP included.
func TestMergeIsCountTo(t *testing.T) {
	for _, c := range []struct {
		name string
		// known: every counter exists before the split frames (the
		// table's own frames may then create none); otherwise every
		// frame is deferred, and the merges create the counters.
		known bool
	}{{"counters known", true}, {"counters created by merges", false}} {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 1))
				frames := randomFrames(rng, 3000, !c.known)
				want, got := New(0, timeline.New(timeline.Limits{})), New(0, timeline.New(timeline.Limits{}))
				if c.known {
					// Frames to each MAC long before, without an IPv4
					// destination: which frame gives the client's IP
					// is left to the split frames.
					for i, f := range randomFrames(rand.New(rand.NewPCG(seed, 2)), 200, false) {
						f.now, f.n, f.dstIP = frames[0].now-int64(time.Hour)+int64(i), 0, netip.Addr{}
						want.Count(f.vlan, f.mac, f.wireLen, f.heartbeat, f.dstIP, f.now, f.n)
						got.Count(f.vlan, f.mac, f.wireLen, f.heartbeat, f.dstIP, f.now, f.n)
					}
				}
				for _, f := range frames {
					want.Count(f.vlan, f.mac, f.wireLen, f.heartbeat, f.dstIP, f.now, f.n)
				}
				countSplit(got, new(Deltas), frames)
				sameTables(t, got, want)
			}
		})
	}
}

// TestDeltasFull checks that a run holds at most MaxDeltas cluster MACs,
// and that after Reset the Deltas counts again.
func TestDeltasFull(t *testing.T) {
	var ds Deltas
	for i := range MaxDeltas + 1 {
		mac := addr.MAC{0x02, 0xbf, 10, 1, byte(i >> 8), byte(i)}
		ok := ds.Count(0, &mac, 100, netip.Addr{}, int64(i), uint64(i+1))
		if ok != (i < MaxDeltas) {
			t.Fatalf("cluster MAC %d: Count %v", i+1, ok)
		}
	}
	ds.Reset()
	mac := addr.MAC{0x02, 0xbf, 10, 1, 0, 0}
	if !ds.Count(0, &mac, 100, netip.Addr{}, 0, 1) || ds.Len() != 1 {
		t.Fatalf("after Reset: %d deltas", ds.Len())
	}
}
