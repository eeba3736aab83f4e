package flood

import (
	"net/netip"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/timeline"
)

// deltaSlots is the size of a Deltas' open-addressed index, whose probes
// start at the top deltaBits bits of a key's hash.
const (
	deltaBits  = 10
	deltaSlots = 1 << deltaBits
)

// MaxDeltas is the most counters a Deltas holds: half its index, so that
// probes stay short.
const MaxDeltas = deltaSlots / 2

// Deltas counts frames to cluster MACs as a Table would, but away from
// it: on the goroutine that reads the frames, for a later Merge into the
// Table on the engine's. It counts in runs, each of frames within one
// second of capture time (the caller starts a run with NewRun), because
// a second is what Merge can add to a counter without knowing how its
// frames and the table's interleave. It allocates nothing once its list
// has grown, and is not safe for concurrent use.
type Deltas struct {
	list []delta
	// slots[h] is 1 + the index in list of a key whose hash is h, 0 for
	// none. Entries of earlier runs are stale and count as free.
	slots [deltaSlots]int32
	run   int // index in list of the current run's first delta
}

// delta is the traffic to one cluster MAC within one run.
type delta struct {
	k                     key
	frames, bytes         uint64
	first, last           int64 // times of the first and the last frame
	latest                int64 // the latest time (last, unless time went back)
	firstFrame, lastFrame uint64
	dstIP                 netip.Addr // from the first frame that had one
	dstIPFrame            uint64
}

// Reset empties ds.
func (ds *Deltas) Reset() {
	ds.list = ds.list[:0]
	ds.slots = [deltaSlots]int32{}
	ds.run = 0
}

// Len returns the number of counters: the end of the current run, for
// Merge.
func (ds *Deltas) Len() int { return len(ds.list) }

// NewRun starts a run: the frames counted after it are of another second
// than those before.
func (ds *Deltas) NewRun() { ds.run = len(ds.list) }

// Count counts a frame that is not a heartbeat as Table.CountTo would,
// into the current run, and reports false, counting nothing, when ds is
// full (MaxDeltas).
func (ds *Deltas) Count(vlan frame.VLAN, dst *addr.MAC, wireLen int, dstIP netip.Addr, now int64, n uint64) bool {
	k := key{mac: packMAC(dst), vlan: vlan}
	h := hashKey(k) >> (64 - deltaBits)
	for {
		i := int(ds.slots[h]) - 1
		if i < ds.run {
			break // free: k is new to the run
		}
		if d := &ds.list[i]; d.k == k {
			d.add(wireLen, dstIP, now, n)
			return true
		}
		h = (h + 1) & (deltaSlots - 1)
	}
	if len(ds.list) == MaxDeltas {
		return false
	}
	ds.list = append(ds.list, delta{k: k, first: now, latest: now, firstFrame: n})
	ds.slots[h] = int32(len(ds.list))
	ds.list[len(ds.list)-1].add(wireLen, dstIP, now, n)
	return true
}

func (d *delta) add(wireLen int, dstIP netip.Addr, now int64, n uint64) {
	d.frames++
	d.bytes += uint64(wireLen)
	if !d.dstIP.IsValid() && dstIP.IsValid() {
		d.dstIP, d.dstIPFrame = dstIP, n
	}
	d.last, d.lastFrame = now, n
	d.latest = max(d.latest, now)
}

// Knows reports whether the table has a counter for every cluster MAC of
// ds, so that merging ds creates none.
func (t *Table) Knows(ds *Deltas) bool {
	for i := range ds.list {
		if t.tab.Get(ds.list[i].k) == nil {
			return false
		}
	}
	return true
}

// Merge adds the counters [lo, hi) of ds, one run, to the table. The
// table's counters end exactly as if CountTo had counted each frame of the
// run at its place among the frames the table counted itself, provided
// that:
//   - every frame the table counted since the run's first frame is of the
//     run's second, so that per-second counts and peaks only add up;
//   - if the run creates counters, the table created none since the run's
//     first frame, so that counters are created in frame order;
//   - the table does not reach its limit, so that nothing is evicted;
//   - frame numbers grow with the frames.
//
// Sums add up; First, Last and DstIP go to the earliest or latest frame by
// number, wherever it was counted.
func (t *Table) Merge(ds *Deltas, lo, hi int) {
	for i := lo; i < hi; i++ {
		t.merge(&ds.list[i])
	}
}

func (t *Table) merge(d *delta) {
	c, created := t.tab.Upsert(d.k, d.latest)
	sec := d.first / int64(time.Second)
	if created {
		c.First, c.FirstFrame, c.sec = d.first, d.firstFrame, sec
		c.series = t.tl.NewSeries(timeline.ClusterMACFrames)
	}
	if sec != c.sec {
		t.closeSecond(c)
		c.sec = sec
	}
	c.Frames += d.frames
	c.Bytes += d.bytes
	c.secFrames += d.frames
	c.secByte += d.bytes
	if d.dstIP.IsValid() && (!c.DstIP.IsValid() || d.dstIPFrame < c.dstIPFrame) {
		c.DstIP, c.dstIPFrame = d.dstIP, d.dstIPFrame
	}
	if created || d.lastFrame > c.LastFrame {
		c.Last, c.LastFrame = d.last, d.lastFrame
	}
}
