package capture

import (
	"time"

	"github.com/cespare/xxhash/v2"
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
// this a 64-bit xxHash and the wire length) came within the window; unlike
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
// time stamp and the latest, its next packet's included.

// dedupBuckets is the number of buckets: 2^13 of 4 entries, 32768 frames,
// 768 KiB. Copies of a frame from inputs with one clock follow each other
// closely in the merge; with skewed clocks, the table holds the frames of
// the window at up to ~160,000 frames a second.
const (
	dedupBuckets = 1 << 13
	dedupWays    = 4
)

type dedupEntry struct {
	hash uint64 // 0: empty
	time int64  // nanoseconds since the epoch
	// input is the input of the kept frame; absorbed has bit i%32 set
	// once a copy from input i was dropped for it.
	input    int32
	absorbed uint32
}

type dedupTable struct {
	window  int64
	buckets [][dedupWays]dedupEntry
	// first and last are each input's first time stamp and the latest
	// read so far.
	first, last []int64
	// Evicted counts entries dropped from a full bucket before their
	// window closed.
	evicted uint64
}

func newDedupTable(window time.Duration, inputs int) *dedupTable {
	return &dedupTable{window: int64(window), buckets: make([][dedupWays]dedupEntry, dedupBuckets),
		first: make([]int64, inputs), last: make([]int64, inputs)}
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
		d.first[idx], d.last[idx] = t, t
		return
	}
	d.last[idx] = max(d.last[idx], t)
}

// duplicate reports whether rec, the next packet of input idx, repeats a
// frame kept from another input; if not, it remembers rec as kept.
func (d *dedupTable) duplicate(rec *record, idx int) bool {
	h := xxhash.Sum64(rec.data) ^ uint64(rec.ci.Length)*0x9e3779b97f4a7c15
	if h == 0 {
		h = 1
	}
	t := recTime(rec)
	input, bit := int32(idx), uint32(1)<<(uint(idx)%32)
	b := &d.buckets[h&(dedupBuckets-1)]
	oldest := 0
	for i := range b {
		e := &b[i]
		if e.hash == h && e.input != input && e.absorbed&bit == 0 && d.within(e.time, t) && d.overlap(int(e.input), idx) {
			e.absorbed |= bit
			return true
		}
		if e.hash == 0 || b[oldest].hash != 0 && e.time < b[oldest].time {
			oldest = i
		}
	}
	e := &b[oldest]
	if e.hash != 0 && d.within(e.time, t) {
		d.evicted++
	}
	*e = dedupEntry{hash: h, time: t, input: input}
	return false
}

// overlap reports whether the time ranges of inputs i and j read so far
// overlap.
func (d *dedupTable) overlap(i, j int) bool {
	return d.first[j] <= d.last[i] && d.first[i] <= d.last[j]
}

// within reports whether a and b are at most the window apart. The
// difference is taken as unsigned: damaged files have time stamps over
// the whole range.
func (d *dedupTable) within(a, b int64) bool {
	if a > b {
		a, b = b, a
	}
	return uint64(b)-uint64(a) <= uint64(d.window)
}
