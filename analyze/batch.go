package analyze

import (
	"math"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/flood"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

// Batch is a run of consecutive frames sorted, away from the Engine, into
// the frames the engine must analyze one by one and the sums of all the
// others, which Engine.ApplyBatch then adds in one go.
//
// Most frames of a busy link are plain: IPv4 that nlbprobe only counts and
// ethertypes it has no analyzer for (frame.Decoder.DecodePlain, the
// decoder's own fast path). All they change in the engine is counters: the
// stats, the capture-truncated and malformed-frame counts, and the flood
// counters of the cluster MACs they are sent to. Add counts those, and
// keeps the other frames (ARP, IGMP, NLB heartbeats, anything the fast
// path does not decode) for the engine. The read pipeline fills Batches on
// its reader goroutine, which has the frames in its cache, so that the
// plain frames' share of the analysis moves to the other core; when the
// engine runs out of work first, its goroutine sorts the rest of the batch
// itself, which still costs less a frame than PacketAt.
//
// The sums are kept per second of capture time: a run of frames within
// one second is a segment, and the engine's clock ticks (per-second work,
// checks) only at the first frame of a segment, so that adding a
// segment's sums after its frames for the engine gives the engine exactly
// the state it would have had frame by frame at every tick.
//
// A Batch is not safe for concurrent use; it may pass from one goroutine
// to another between calls (through a channel).
type Batch struct {
	frames int // frames added
	dec    *frame.Decoder
	deep   []deepFrame
	// deepData holds the deep frames' bytes back to back: the engine's
	// goroutine reads them as one stream, which the hardware prefetches,
	// instead of lines scattered over the read buffer, each a miss on a
	// line the other core wrote.
	deepData []byte
	segs     []segment
	cur      *segment // the last of segs, nil when there is none
	deltas   flood.Deltas

	// What ApplyBatch checks, besides the segments' counts, before it
	// applies the batch.
	full        bool // more segments or cluster MACs than a Batch holds
	deepCluster int  // deep frames sent to a cluster-form MAC
}

// deepFrame is a frame for the engine, as PacketAt takes it, its data at
// [off, end) in deepData.
type deepFrame struct {
	off, end int
	frameNo  uint64
	now      int64
	wireLen  int
	linkType layers.LinkType
	input    int
}

// segment is a run of frames within one second of capture time: its deep
// frames and the sums of its plain frames.
type segment struct {
	sec int64
	// lo and hi are the range of times in second sec (secondRange).
	lo, hi int64
	first  int64 // time of the first frame
	latest int64 // the latest time
	// deepStart and deltaStart start the segment's deep frames and flood
	// counters in the Batch; the next segment's start is their end.
	deepStart, deltaStart int
	plain                 plainCounts
}

// plainCounts are the stats of a segment's plain frames.
type plainCounts struct {
	frames, bytes, captured uint64
	ipv4, other, tagged     uint64
	clusterMAC              uint64
	truncated, malformed    uint64
	maxCutCaptured          int
}

// maxSegments bounds the seconds a Batch holds: a batch of a capture
// whose clock jumps back and forth is left to the engine frame by frame.
const maxSegments = 64

// NewBatch returns an empty Batch.
func NewBatch() *Batch {
	return &Batch{dec: frame.NewDecoder(), segs: make([]segment, 0, maxSegments)}
}

// Reset empties the batch for the next run of frames.
func (b *Batch) Reset() {
	b.frames = 0
	b.deep = b.deep[:0]
	b.deepData = b.deepData[:0]
	b.segs = b.segs[:0]
	b.cur = nil
	b.deltas.Reset()
	b.full = false
	b.deepCluster = 0
}

// Add sorts the next frame of the run, with the arguments of
// Engine.PacketAt; frame numbers must grow. data is only read during the
// call.
func (b *Batch) Add(data []byte, frameNo uint64, now int64, wireLen int, lt layers.LinkType, input int) {
	b.frames++
	if b.full {
		return
	}
	if b.cur == nil || now < b.cur.lo || now > b.cur.hi {
		if !b.newSegment(now/int64(time.Second), now) {
			return
		}
	}
	s := b.cur
	s.latest = max(s.latest, now)
	if lt == layers.LinkTypeEthernet {
		if ipOff, vlan, ok := b.dec.PlainIPv4(data, wireLen); ok {
			b.addPlainIPv4(&s.plain, data, ipOff, vlan, frameNo, now, wireLen)
			return
		}
	}
	if lt == layers.LinkTypeEthernet && frame.Deep(data) {
		// ARP, NLB and IGMP in a few compares: to the engine, counted
		// towards flooding by their destination alone.
		b.keepDeep(data, addr.IsClusterForm((*addr.MAC)(data[0:6])), frameNo, now, wireLen, lt, input)
		return
	}
	f, plain := b.dec.DecodePlain(lt, data, wireLen)
	if !plain {
		b.addDeep(data, frameNo, now, wireLen, lt, input)
		return
	}
	// What Engine.packet does with a plain frame.
	c := &s.plain
	c.frames++
	c.bytes += uint64(wireLen)
	c.captured += uint64(len(data))
	switch f.Status {
	case frame.Malformed:
		c.malformed++
		return
	case frame.Truncated:
		c.truncated++
		c.maxCutCaptured = max(c.maxCutCaptured, len(data))
	}
	if f.Tags > 0 {
		c.tagged++
	}
	if addr.IsClusterForm(&f.Dst) {
		if dstIP, counts := floodDst(f.Kind, f.IPv4.Dst); counts {
			c.clusterMAC++
			if !b.deltas.Count(f.VLAN, &f.Dst, wireLen, dstIP, now, frameNo) {
				b.full = true
				return
			}
		}
	}
	if f.Kind == frame.KindIPv4 {
		c.ipv4++
	} else {
		c.other++
	}
}

// addPlainIPv4 is Add for a frame that frame.Decoder.PlainIPv4 vouches
// for, most frames of a busy link: what the general path below does with
// the Frame DecodePlain would fill, read straight from the bytes, the IPv4
// header at ipOff. IPv4 layout: destination 16-19.
func (b *Batch) addPlainIPv4(c *plainCounts, data []byte, ipOff int, vlan frame.VLAN, frameNo uint64, now int64, wireLen int) {
	c.frames++
	c.bytes += uint64(wireLen)
	c.captured += uint64(len(data))
	c.ipv4++
	if len(data) < wireLen {
		c.truncated++
		c.maxCutCaptured = max(c.maxCutCaptured, len(data))
	}
	if ipOff > 14 {
		c.tagged++
	}
	dst := (*addr.MAC)(data[0:6])
	if !addr.IsClusterForm(dst) {
		return
	}
	dstIP, counts := floodDst(frame.KindIPv4, netip.AddrFrom4([4]byte(data[ipOff+16:ipOff+20])))
	if !counts {
		return
	}
	c.clusterMAC++
	if !b.deltas.Count(vlan, dst, wireLen, dstIP, now, frameNo) {
		b.full = true
	}
}

// Len returns the number of frames added since the last Reset.
func (b *Batch) Len() int { return b.frames }

// newSegment starts a segment of second sec at a frame at now, and
// reports false when the batch is full.
func (b *Batch) newSegment(sec, now int64) bool {
	if len(b.segs) == maxSegments {
		b.full = true
		return false
	}
	b.deltas.NewRun()
	b.segs = append(b.segs, segment{sec: sec, first: now, latest: now,
		deepStart: len(b.deep), deltaStart: b.deltas.Len()})
	b.cur = &b.segs[len(b.segs)-1]
	b.cur.lo, b.cur.hi = secondRange(sec)
	return true
}

// addDeep keeps a frame for the engine.
func (b *Batch) addDeep(data []byte, frameNo uint64, now int64, wireLen int, lt layers.LinkType, input int) {
	// Counting towards flooding needs the decoded frame, but only a frame
	// whose Ethernet destination has a cluster form can: ApplyBatch needs
	// to know whether the engine may create flood counters.
	// A remote span's frame (frame.MayCarryFrame) carries a mirrored
	// frame whose destination only decoding tells.
	b.keepDeep(data, lt == layers.LinkTypeEthernet && len(data) >= 14 &&
		(addr.IsClusterForm((*addr.MAC)(data[0:6])) || frame.MayCarryFrame(data)), frameNo, now, wireLen, lt, input)
}

// keepDeep keeps a frame for the engine; cluster says whether it may
// count towards flooding.
func (b *Batch) keepDeep(data []byte, cluster bool, frameNo uint64, now int64, wireLen int, lt layers.LinkType, input int) {
	if cluster {
		b.deepCluster++
	}
	off := len(b.deepData)
	b.deepData = append(b.deepData, data...)
	// Set field by field: a struct literal is built on the stack and
	// copied in wide loads, which stalls store forwarding.
	b.deep = append(b.deep, deepFrame{})
	f := &b.deep[len(b.deep)-1]
	f.off, f.end, f.frameNo, f.now, f.wireLen, f.linkType, f.input = off, len(b.deepData), frameNo, now, wireLen, lt, input
}

// ApplyBatch analyzes the frames of b: the same as PacketAt for each, in
// order, with the same state, findings and report. It reports false,
// having changed nothing, when it cannot apply the sums exactly, which is
// rare: the caller must then give the engine every frame of the batch with
// PacketAt. Like Packet, it must not be called after Finish. Those cases are a batch that holds more than it can (a clock
// that jumps back and forth, hundreds of cluster MACs), one whose plain
// frames are the first cut or malformed ones (whose findings keep the
// first frames as evidence), and one that may create or evict flood
// counters in another order than frame by frame.
//
// The segments go in order: the first frame's time advances the clock
// (and runs the per-second work when it enters a new second), the deep
// frames go through the engine, then the plain frames' sums are added.
func (e *Engine) ApplyBatch(b *Batch) bool {
	if !e.canApply(b) {
		return false
	}
	for i := range b.segs {
		s := &b.segs[i]
		deepEnd, deltaEnd := len(b.deep), b.deltas.Len()
		if i+1 < len(b.segs) {
			deepEnd, deltaEnd = b.segs[i+1].deepStart, b.segs[i+1].deltaStart
		}
		e.advance(s.first) // canApply made sure it is no time jump
		for j := s.deepStart; j < deepEnd; j++ {
			f := &b.deep[j]
			e.packet(b.deepData[f.off:f.end:f.end], f.frameNo, f.now, f.wireLen, f.linkType, f.input)
		}
		e.addPlain(&s.plain)
		e.flood.Merge(&b.deltas, s.deltaStart, deltaEnd)
		// Within the segment's second, or earlier: the clock moves on
		// without a tick.
		e.last = max(e.last, s.latest)
	}
	return true
}

// canApply reports whether the sums of b can be added with the same
// results as its frames one by one.
func (e *Engine) canApply(b *Batch) bool {
	if b.full || e.jumped || !e.noTimeJumpIn(b) {
		return false
	}
	// Counts alone are added to the findings of cut and malformed frames
	// only once their evidence is full (touch).
	for i := range b.segs {
		if c := &b.segs[i].plain; c.truncated > 0 && !e.truncTouch.full ||
			c.malformed > 0 && !e.malformedTouch[frame.ReasonIPv4].full {
			return false
		}
	}
	// No flood counter may be evicted: eviction picks the least recently
	// seen, which the sums would reorder.
	if e.flood.Len()+b.deltas.Len()+b.deepCluster > e.flood.Limit() {
		return false
	}
	// New flood counters are created when a segment's sums are added,
	// after its deep frames: only if none of those may create one too do
	// counters come in frame order.
	return b.deepCluster == 0 || e.flood.Knows(&b.deltas)
}

// noTimeJumpIn reports whether no frame of b can be a time jump
// (Options.EndAtTimeJump), so that b may be applied in sums. Each
// segment's frames lie within its second, and those of the segments before
// move the clock at most to their latest: a segment whose whole second is
// within the limits of the clock as it stands before it holds no jump. A
// batch that may hold one goes frame by frame, which finds it exactly.
func (e *Engine) noTimeJumpIn(b *Batch) bool {
	if !e.opts.EndAtTimeJump {
		return true
	}
	started, clock := e.started, e.last
	for i := range b.segs {
		s := &b.segs[i]
		// The frames of second sec lie within a second of sec*1e9 on
		// either side (integer division truncates towards zero).
		mid := s.sec * int64(time.Second)
		lo, hi := mid-int64(time.Second), mid+int64(time.Second)
		if lo > mid {
			lo = math.MinInt64
		}
		if hi < mid {
			hi = math.MaxInt64
		}
		if started && (isTimeJump(clock, lo) || isTimeJump(clock, hi)) {
			return false
		}
		if !started {
			started, clock = true, s.first
		}
		clock = max(clock, s.latest)
	}
	return true
}

// addPlain adds the counts of a segment's plain frames.
func (e *Engine) addPlain(c *plainCounts) {
	s := &e.stats
	s.Frames += c.frames
	s.Bytes += c.bytes
	s.CapturedBytes += c.captured
	s.Protocols.IPv4 += c.ipv4
	s.Protocols.Other += c.other
	s.Protocols.VLANTagged += c.tagged
	s.Protocols.ClusterMAC += c.clusterMAC
	s.Truncated += c.truncated
	s.Malformed += c.malformed
	e.maxCutCaptured = max(e.maxCutCaptured, c.maxCutCaptured)
	// canApply made sure the findings' evidence is full.
	e.truncTouch.pending += c.truncated
	e.malformedTouch[frame.ReasonIPv4].pending += c.malformed
}
