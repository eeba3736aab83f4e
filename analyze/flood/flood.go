// Package flood counts the frames and bytes sent to each NLB cluster MAC
// per VLAN, with per-second peaks: the measured half of a flooding verdict.
// Whether those frames prove flooding depends on where the capture stands,
// which the engine decides (see design.md, "Flooding versus targeted").
package flood

import (
	"net/netip"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/table"
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

	sec                int64
	secFrames, secByte uint64
	PeakFrames         uint64 // most frames in one second of capture time
	PeakBytes          uint64
	Seconds            uint64 // seconds with traffic
}

// Table holds the counters. It is not safe for concurrent use.
type Table struct {
	tab *table.Table[Key, Counter]
}

// New returns a Table of at most limit cluster MACs (default 4096).
func New(limit int) *Table {
	if limit == 0 {
		limit = 4096
	}
	return &Table{tab: table.New[Key, Counter](limit)}
}

// Count adds a frame of wireLen bytes to cluster MAC dst on vlan. dstIP is
// the frame's IPv4 destination when it has one.
func (t *Table) Count(vlan frame.VLAN, dst addr.MAC, wireLen int, heartbeat bool, dstIP netip.Addr, now int64, n uint64) {
	c, created := t.tab.Upsert(Key{VLAN: vlan, MAC: dst}, now)
	sec := now / int64(time.Second)
	if created {
		c.First, c.FirstFrame, c.sec = now, n, sec
	}
	if sec != c.sec {
		c.closeSecond()
		c.sec = sec
	}
	c.Frames++
	c.Bytes += uint64(wireLen)
	c.secFrames++
	c.secByte += uint64(wireLen)
	if heartbeat {
		c.Heartbeats++
	} else if !c.DstIP.IsValid() && dstIP.IsValid() {
		c.DstIP = dstIP
	}
	c.Last, c.LastFrame = now, n
}

func (c *Counter) closeSecond() {
	if c.secFrames == 0 {
		return
	}
	c.Seconds++
	c.PeakFrames = max(c.PeakFrames, c.secFrames)
	c.PeakBytes = max(c.PeakBytes, c.secByte)
	c.secFrames, c.secByte = 0, 0
}

// Rates returns the mean frames and bytes per second over the time the MAC
// had traffic, and the busiest second, counting the second in progress.
func (c *Counter) Rates() (fps, bps float64, peakFrames, peakBytes uint64) {
	span := time.Duration(c.Last - c.First)
	// One frame, or a burst within a second, is a rate over one second.
	secs := max(span.Seconds(), 1)
	return float64(c.Frames) / secs, float64(c.Bytes) / secs,
		max(c.PeakFrames, c.secFrames), max(c.PeakBytes, c.secByte)
}

// All yields every counter.
func (t *Table) All() func(yield func(Key, *Counter) bool) { return t.tab.All() }

// Len returns the number of cluster MACs counted.
func (t *Table) Len() int { return t.tab.Len() }

// Evicted returns how many counters were evicted to stay within the limit.
func (t *Table) Evicted() uint64 { return t.tab.Evicted() }
