package capture

import (
	"math"
	"time"

	"github.com/zeebo/xxh3"
)

// DefaultDedupWindow is how close in time a frame must be to a frame of
// another input with the same bytes to be taken for a copy of it: wider
// than the clock skew of NTP-synchronised capture hosts (milliseconds to
// tens of them), well below the second between NLB heartbeats or ARP
// retries, whose repeats may be byte for byte the same and are not copies.
const DefaultDedupWindow = 200 * time.Millisecond

// Duplicate frames across inputs. Two captures that overlap (the same file
// given twice, two span sessions of one cluster, captures on two nodes
// that both see the cluster's broadcasts) hold the same frames; merged,
// every one of them would count twice, doubling heartbeat and flood
// rates. As `editcap -w WINDOW` does, a frame is a duplicate when a frame
// with the same length and the same bytes (editcap compares MD5 digests,
// this a 64-bit XXH3 hash and the wire length) came within the window; unlike
// editcap, only a frame of another input counts, and each kept frame
// stands for at most one copy from each other input. So a frame that one
// capture holds twice (a span port that saw both directions of a mirrored
// frame) is kept twice, as reading that capture alone would, and merging a
// capture with a copy of itself gives the capture.
//
// The frames seen recently are kept in a fixed table of buckets, a few
// entries each, indexed by the hash: bounded memory, no allocation per
// frame, one or two cache lines touched per frame. A full bucket drops its
// oldest entry; one dropped while its window was still open is counted
// (Evicted), as a copy of it would then be missed.
//
// Only inputs whose time ranges overlap hold copies of each other: the
// files of one rotated capture (tcpdump -C/-G, dumpcap -b) follow each
// other, and a frame at the start of one that repeats a frame at the end
// of the one before (a heartbeat re-sent, both directions of a span) is
// a frame of its own. The ranges are those read so far: an input's first
// time stamp and the latest, its next packet's included. A frame whose
// time is within the window of no other input's range can neither be nor
// have a copy: it is not even hashed, so that a ring of rotated files
// costs next to nothing.

// dedupBuckets is the number of buckets: 2^12 of 4 entries of 16 bytes,
// one cache line each, 16384 frames in 256 KiB, so that the table stays
// in a core's L2 cache (at 2^13 of 24-byte entries it missed it, and the
// lookup cost a merge more than the merge itself). Copies of a frame from
// inputs with one clock follow each other closely in the merge; with
// skewed clocks, the table holds the frames of 200 ms up to 80,000 frames
// a second.
const (
	dedupBuckets = 1 << 12
	dedupWays    = 4
)

// dedupEntry is a kept frame. Its time is in units of 1.024 µs (the
// nanoseconds shifted by dedupTimeShift), cut to 32 bits: it wraps every
// 73 minutes, and only differences of less than half that mean anything,
// which is all a window of at most MaxDedupWindow needs.
type dedupEntry struct {
	hash uint64 // 0: empty
	time uint32
	// input is the input of the kept frame; absorbed has bit i%16 set
	// once a copy from input i was dropped for it.
	input    uint16
	absorbed uint16
}

const dedupTimeShift = 10

// MaxDedupWindow is the widest window FileOptions.DedupWindow takes.
const MaxDedupWindow = time.Minute

type dedupTable struct {
	window  int64  // nanoseconds
	units   uint32 // the window in entry time units, rounded up
	buckets [][dedupWays]dedupEntry
	// first and last are each input's first time stamp and the latest
	// read so far; ended says the input has no more packets.
	first, last []int64
	ended       []bool
	// share caches mayShare's answer for each input.
	share []shareCache
	// Evicted counts entries dropped from a full bucket before their
	// window closed.
	evicted uint64
}

// shareCache is mayShare's last answer for an input: it shares frames
// with input with (-1: with none) from time from on, and, with none,
// until time until.
type shareCache struct {
	from, until int64
	with        int
}

func newDedupTable(window time.Duration, inputs int) *dedupTable {
	window = min(window, MaxDedupWindow)
	d := &dedupTable{
		window:  int64(window),
		units:   uint32((int64(window) + 1<<dedupTimeShift - 1) >> dedupTimeShift),
		buckets: make([][dedupWays]dedupEntry, dedupBuckets),
		first:   make([]int64, inputs),
		last:    make([]int64, inputs),
		ended:   make([]bool, inputs),
		share:   make([]shareCache, inputs),
	}
	for i := range d.share {
		// An input without a packet overlaps nothing; the others set
		// their range when their first packet is read (pending).
		d.first[i], d.last[i], d.ended[i] = math.MaxInt64, math.MinInt64, true
		d.share[i] = shareCache{from: math.MaxInt64, with: -1}
	}
	return d
}

// end records that input idx has no more packets.
func (d *dedupTable) end(idx int) { d.ended[idx] = true }

// mayShare reports whether a frame of input j at t may be a copy of a
// frame of another input, or have one: whether another input's range
// comes within the window of t. An input that has not ended reaches at
// least the time of its next packet, which the merge has not yet
// returned: about t or later.
func (d *dedupTable) mayShare(j int, t int64) bool {
	c := &d.share[j]
	if t >= c.from {
		if c.with >= 0 {
			if i := c.with; !d.ended[i] || t <= addSat(d.last[i], d.window) {
				return true
			}
		} else if t <= c.until {
			return false
		}
	}
	lo, hi := addSat(t, -d.window), addSat(t, d.window)
	until := int64(math.MaxInt64)
	for i := range d.first {
		if i == j {
			continue
		}
		if d.first[i] > hi {
			// Not begun by the end of the window: quiet until it could.
			until = min(until, addSat(d.first[i], -d.window))
			continue
		}
		if !d.ended[i] || d.last[i] >= lo {
			*c = shareCache{from: t, with: i}
			return true
		}
		// Ended before the window: quiet from now on.
	}
	*c = shareCache{from: t, until: until - 1, with: -1}
	return false
}

// addSat is a+b, held at the ends of the int64 range: times of damaged
// files span all of it.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}

// recTime is the time stamp of rec in nanoseconds, 0 when it has none.
func recTime(rec *record) int64 {
	if rec.noTime {
		return 0
	}
	return rec.sec*int64(time.Second) + int64(rec.nsec)
}

// pending records rec, the next packet of input idx, in its time range:
// the range of an input that goes on reaches its next packet, so that the
// copies that come first in the merge (equal time stamps, or a clock
// behind) find it overlapping.
func (d *dedupTable) pending(rec *record, idx int, first bool) {
	t := recTime(rec)
	if first {
		d.first[idx], d.last[idx], d.ended[idx] = t, t, false
		return
	}
	d.last[idx] = max(d.last[idx], t)
}

// duplicate reports whether rec, the next packet of input idx, repeats a
// frame kept from another input; if not, it remembers rec as kept.
func (d *dedupTable) duplicate(rec *record, idx int) bool {
	t := recTime(rec)
	if !d.mayShare(idx, t) {
		return false
	}
	h := xxh3.Hash(rec.data) ^ uint64(rec.ci.Length)*0x9e3779b97f4a7c15
	if h == 0 {
		h = 1
	}
	input, bit := uint16(idx), uint16(1)<<(uint(idx)%16)
	now := uint32(t >> dedupTimeShift)
	b := &d.buckets[h&(dedupBuckets-1)]
	oldest, oldestAge := 0, uint32(0)
	for i := range b {
		e := &b[i]
		if e.hash == h && e.input != input && e.absorbed&bit == 0 && d.within(e.time, now) && d.overlap(int(e.input), idx) {
			e.absorbed |= bit
			return true
		}
		// The oldest is the one furthest in the past; an entry dated
		// after now (out of order) counts as the oldest of all.
		if age := now - e.time; e.hash == 0 {
			oldest, oldestAge = i, math.MaxUint32
		} else if age > oldestAge && b[oldest].hash != 0 {
			oldest, oldestAge = i, age
		}
	}
	e := &b[oldest]
	if e.hash != 0 && d.within(e.time, now) {
		d.evicted++
	}
	*e = dedupEntry{hash: h, time: now, input: input}
	return false
}

// overlap reports whether the time ranges of inputs i and j read so far
// overlap.
func (d *dedupTable) overlap(i, j int) bool {
	return d.first[j] <= d.last[i] && d.first[i] <= d.last[j]
}

// within reports whether entry times a and b are at most the window
// apart, on the wrapping 32-bit clock of the entries.
func (d *dedupTable) within(a, b uint32) bool {
	diff := int32(a - b)
	if diff < 0 {
		diff = -diff
	}
	return diff >= 0 && uint32(diff) <= d.units
}
