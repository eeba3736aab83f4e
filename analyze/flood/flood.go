// Package flood counts the frames and bytes sent to each NLB cluster MAC
// per VLAN, with per-second peaks: the measured half of a flooding verdict.
// Whether those frames prove flooding depends on where the capture stands,
// which the engine decides (see analyze/design.md, "Flooding versus targeted").
package flood

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/table"
	"github.com/nlbprobe/nlbprobe/analyze/timeline"
)

// Key identifies a cluster MAC on a VLAN.
type Key struct {
	VLAN frame.VLAN
	MAC  addr.MAC
}

// Counter is the traffic to one cluster MAC.
type Counter struct {
	Frames, Bytes         uint64
	Heartbeats            uint64
	First, Last           int64
	FirstFrame, LastFrame uint64
	// DstIP is the IPv4 destination of the first client frame: the VIP the
	// clients address, which for the IGMP form (01:00:5e:7f:Y:Z) names the
	// cluster the MAC's two bytes only hint at.
	DstIP netip.Addr
	// dstIPFrame is the frame DstIP came from, for Merge.
	dstIPFrame uint64

	sec                int64
	secFrames, secByte uint64
	PeakFrames         uint64 // most frames in one second of capture time
	PeakBytes          uint64
	Seconds            uint64 // seconds with traffic

	// series is the MAC's frames per second in the timeline.
	series timeline.Handle
}

// Table holds the counters. It is not safe for concurrent use.
type Table struct {
	tab *table.Table[key, Counter]
	tl  *timeline.Timeline
}

// key is Key with the MAC in the low 48 bits of an integer: compared and
// hashed in registers. A [6]byte key is built on the stack byte by byte
// and read back in wider loads, which stalls store forwarding: measured,
// it made a lookup cost 29 ns instead of 8.
type key struct {
	mac  uint64
	vlan frame.VLAN
}

func packMAC(m *addr.MAC) uint64 {
	return uint64(binary.BigEndian.Uint32(m[0:4]))<<16 | uint64(binary.BigEndian.Uint16(m[4:6]))
}

func unpackMAC(v uint64) addr.MAC {
	return addr.MAC{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// New returns a Table of at most limit cluster MACs (default 4096). tl,
// when not nil, receives each MAC's frames per second (for the HTML
// report), a second at a time.
func New(limit int, tl *timeline.Timeline) *Table {
	if limit == 0 {
		limit = 4096
	}
	return &Table{tab: table.New[key, Counter](limit, hashKey), tl: tl}
}

// hashKey spreads a key over the top bits of a multiplicative hash, where
// the table's index and Deltas' take a key's place from.
func hashKey(k key) uint64 {
	return table.HashPair(k.mac, uint64(k.vlan))
}

// Count adds a frame of wireLen bytes to cluster MAC dst on vlan. dstIP is
// the frame's IPv4 destination when it has one.
func (t *Table) Count(vlan frame.VLAN, dst addr.MAC, wireLen int, heartbeat bool, dstIP netip.Addr, now int64, n uint64) {
	t.CountTo(vlan, &dst, wireLen, heartbeat, dstIP, now, n)
}

// CountTo is Count with the MAC by pointer (only read during the call),
// for the per-frame path: the engine passes the decoded frame's.
func (t *Table) CountTo(vlan frame.VLAN, dst *addr.MAC, wireLen int, heartbeat bool, dstIP netip.Addr, now int64, n uint64) {
	c, created := t.tab.Upsert(key{mac: packMAC(dst), vlan: vlan}, now)
	sec := now / int64(time.Second)
	if created {
		c.First, c.FirstFrame, c.sec = now, n, sec
		c.series = t.tl.NewSeries(timeline.ClusterMACFrames)
	}
	if sec != c.sec {
		t.closeSecond(c)
		c.sec = sec
	}
	c.Frames++
	c.Bytes += uint64(wireLen)
	c.secFrames++
	c.secByte += uint64(wireLen)
	if heartbeat {
		c.Heartbeats++
	} else if !c.DstIP.IsValid() && dstIP.IsValid() {
		c.DstIP, c.dstIPFrame = dstIP, n
	}
	c.Last, c.LastFrame = now, n
}

func (t *Table) closeSecond(c *Counter) {
	if c.secFrames == 0 {
		return
	}
	t.tl.Add(c.series, c.sec*int64(time.Second), c.secFrames)
	c.Seconds++
	c.PeakFrames = max(c.PeakFrames, c.secFrames)
	c.PeakBytes = max(c.PeakBytes, c.secByte)
	c.secFrames, c.secByte = 0, 0
}

// Rates returns the mean frames and bytes per second over the time the MAC
// had traffic, and the busiest second, counting the second in progress.
func (c *Counter) Rates() (fps, bps float64, peakFrames, peakBytes uint64) {
	return c.RatesOver(c.Last - c.First)
}

// RatesOver is Rates over span nanoseconds of the time from the MAC's
// first frame to its last: the part of it that a capture covered, when
// inputs with gaps between them are read together.
func (c *Counter) RatesOver(span int64) (fps, bps float64, peakFrames, peakBytes uint64) {
	// One frame, or a burst within a second, is a rate over one second.
	secs := max(time.Duration(span).Seconds(), 1)
	return float64(c.Frames) / secs, float64(c.Bytes) / secs,
		max(c.PeakFrames, c.secFrames), max(c.PeakBytes, c.secByte)
}

// Activity returns the frames per timeline bucket to the MAC of c, the
// second in progress included; nil when the timeline keeps no series for
// it.
func (t *Table) Activity(c *Counter) []uint32 {
	return t.tl.Counts(c.series, c.secFrames, c.sec*int64(time.Second))
}

// All yields every counter.
func (t *Table) All() func(yield func(Key, *Counter) bool) {
	return func(yield func(Key, *Counter) bool) {
		for k, c := range t.tab.All() {
			if !yield(Key{VLAN: k.vlan, MAC: unpackMAC(k.mac)}, c) {
				return
			}
		}
	}
}

// Limit returns the most cluster MACs the table counts before it evicts.
func (t *Table) Limit() int { return t.tab.Limit() }

// Len returns the number of cluster MACs counted.
func (t *Table) Len() int { return t.tab.Len() }

// Evicted returns how many counters were evicted to stay within the limit.
func (t *Table) Evicted() uint64 { return t.tab.Evicted() }
