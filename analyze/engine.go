package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/arp"
	"github.com/nlbprobe/nlbprobe/analyze/coverage"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/flood"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/igmp"
	"github.com/nlbprobe/nlbprobe/analyze/nlb"
	rem "github.com/nlbprobe/nlbprobe/analyze/remedy"
	"github.com/nlbprobe/nlbprobe/analyze/timeline"
)

// Vantage is where a capture was taken, which decides what seeing a frame
// to a cluster MAC proves (analyze/design.md, "Flooding versus targeted").
type Vantage uint8

// Vantage points.
const (
	// VantageSpan: a mirror of everything (or unknown). Seeing frames
	// proves nothing; the flooding verdict comes from the control plane.
	VantageSpan Vantage = iota
	// VantageNonMember: a port with no NLB node. Every frame to a cluster
	// MAC that arrives here was flooded.
	VantageNonMember
)

// String returns "span" or "nonmember".
func (v Vantage) String() string {
	if v == VantageNonMember {
		return "nonmember"
	}
	return "span"
}

// MarshalText implements encoding.TextMarshaler.
func (v Vantage) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *Vantage) UnmarshalText(b []byte) error {
	p, err := ParseVantage(string(b))
	*v = p
	return err
}

// ParseVantage parses "span" or "nonmember".
func ParseVantage(s string) (Vantage, error) {
	switch s {
	case "span", "":
		return VantageSpan, nil
	case "nonmember", "non-member":
		return VantageNonMember, nil
	}
	return VantageSpan, fmt.Errorf("analyze: unknown vantage %q (want span or nonmember)", s)
}

// Limits bound the engine's tables. Zero fields take the defaults, which
// keep the whole engine well under 200 MiB.
type Limits struct {
	Bindings    int // ARP bindings (default 65536)
	Memberships int // IGMP memberships (default 65536)
	Clusters    int // NLB clusters (default 4096)
	ClusterMACs int // flood counters (default 4096)
	Findings    int // findings (default 10000)
}

// Options configure an Engine.
type Options struct {
	Vantage Vantage
	// Clusters are the cluster IPs the user expects: one that shows no
	// sign of life is itself a finding.
	Clusters []netip.Addr
	Limits   Limits
	// OnFinding, when set, is called with each finding as it is raised
	// (isNew) and when a raised one changes (a gap that ended): the stream
	// of `watch`. The pointer is valid only during the call.
	OnFinding func(f *finding.Finding, isNew bool)
	// CheckEvery is how much capture time passes between the checks that
	// compare tables (default 5 s).
	CheckEvery time.Duration
	// EndAtTimeJump ends the analysis at a frame whose time stamp no
	// capture can have: more than MaxTimeJumpForward after the latest
	// frame, or more than MaxTimeStepBack before it (a damaged file, or
	// captures joined out of order). One capture-time-jump finding says
	// so; that frame and the ones after it are counted (Stats.Frames,
	// Stats.AfterTimeJump) but not analyzed, so that no heartbeat gap,
	// rate or flood verdict spans the jump. For capture files; a live
	// capture's clock is the host's, which may be stepped, and is left to
	// run on.
	EndAtTimeJump bool
	// Inputs names the inputs of a run that reads several (capture
	// files merged in time order), in the order of the input index
	// PacketAt takes. With two or more, the engine judges silences and
	// rates by when each input was capturing, which the caller tells it
	// as it reads (InputStart, InputEnd): a host is not silent after the
	// only input that heard it ended, and the time between rotated files
	// that no input covers holds no gap and dilutes no rate.
	Inputs []string
}

// The time jumps Options.EndAtTimeJump ends the analysis at.
const (
	// MaxTimeJumpForward: no capture is silent for a year and goes on. A
	// damaged record or the header of a second file read as a record is
	// dated decades away (a pcap magic as seconds is 2055 or 2083).
	MaxTimeJumpForward = 365 * 24 * time.Hour
	// MaxTimeStepBack: frames may come a little out of order (several
	// interfaces or CPUs written to one file, per-CPU trace buffers
	// flushed a second apart), but not by ten seconds; a file that
	// starts over (a capture joined to itself or to an earlier one) or a
	// clock stepped back by time synchronisation does.
	MaxTimeStepBack = 10 * time.Second
)

// Meta is what the capture says about a frame besides its bytes.
type Meta struct {
	// Frame is the frame number, 1-based, as evidence in findings.
	Frame uint64
	// Time is the capture timestamp: the engine's only clock.
	Time time.Time
	// Length is the frame's length on the wire; a capture cut by a
	// snaplen holds fewer bytes.
	Length   int
	LinkType layers.LinkType
	// Input is the index of the input the frame came from (Options.Inputs),
	// 0 with one input.
	Input int
}

// Engine is the single-pass analysis. It is not safe for concurrent use:
// one goroutine feeds it.
type Engine struct {
	opts  Options
	dec   *frame.Decoder
	store *finding.Store
	arp   *arp.Table
	igmp  *igmp.Tables
	nlb   *nlb.Tracker
	flood *flood.Table
	// tl keeps the per-second history the HTML report draws.
	tl *timeline.Timeline
	// cov is when each input was capturing; nil with one input.
	cov *coverage.Inputs

	stats Stats
	// The clock: capture time of the first and the latest frame, the
	// latest's second as the range of times in it (secLo to secHi, empty
	// before the first frame and after a time jump: a range check is a
	// compare where the second of a frame is a division), when the next
	// check is due (advance).
	started      bool
	first        int64
	last         int64
	secLo, secHi int64
	nextCheck    int64
	finished     bool
	// jumped: a time jump ended the analysis (EndAtTimeJump) at jumpFrame,
	// dated jumpTime.
	jumped    bool
	jumpFrame uint64
	jumpTime  int64

	// What the capture's snaplen cut (capture-truncated): the most bytes
	// kept of a cut frame, the fewest of a cut heartbeat's payload.
	maxCutCaptured  int
	minHeartbeatCut int
	// mirrorCuts is what each ERSPAN session's switch cut before sending
	// (capture-truncated of that session), by the session as a VLAN with
	// no tag; at most 1024 entries, as ERSPAN session IDs have 10 bits and
	// only ERSPAN marks a frame cut.
	mirrorCuts map[frame.VLAN]*mirrorCut

	// roles is what the ARP bindings say about each cluster MAC, rebuilt
	// by every check (scanBindings) for the remedies of the findings.
	roles map[flood.Key]*macRole
	// floodReasons holds, for each open multicast-flooding episode of an
	// IGMP-mode cluster MAC, why the control plane said flooding, for the
	// message that ends it (checkFlooding). An entry lives while its
	// episode is open, so there are at most as many as findings.
	floodReasons map[flood.Key]string

	truncTouch     touchCount
	malformedTouch [frame.NumReasons]touchCount
}

// New returns an Engine.
func New(opts Options) *Engine {
	if opts.CheckEvery == 0 {
		opts.CheckEvery = 5 * time.Second
	}
	l := &opts.Limits
	if l.Findings == 0 {
		l.Findings = 10000
	}
	store := finding.NewStore(l.Findings)
	store.OnChange = opts.OnFinding
	tl := timeline.New(timeline.Limits{})
	cov := coverage.New(opts.Inputs)
	return &Engine{
		opts:  opts,
		dec:   frame.NewDecoder(),
		store: store,
		arp:   arp.New(arp.Config{Limit: l.Bindings, Timeline: tl}, store),
		igmp:  igmp.New(igmp.Config{MemberLimit: l.Memberships, Timeline: tl, Coverage: cov}, store),
		nlb:   nlb.New(nlb.Config{Limit: l.Clusters, Timeline: tl, Coverage: cov}, store),
		flood: flood.New(l.ClusterMACs, tl),
		tl:    tl,
		cov:   cov,
		secLo: 1, secHi: 0, // no frame's second
	}
}

// InputStart tells the engine that input i (Options.Inputs) has a frame
// at t, its first: it covers the time from t on. It may come before the
// frames of the time it covers, not after them. Without several inputs
// it does nothing.
func (e *Engine) InputStart(i int, t time.Time) {
	if e.cov != nil {
		e.cov.Start(i, t.UnixNano())
	}
}

// InputEnd tells the engine that input i has no frame after t, its last
// (it may come early too, when the reader runs ahead of the analysis, but
// not after frames later than t). Without several inputs it does nothing.
func (e *Engine) InputEnd(i int, t time.Time) {
	if e.cov != nil {
		e.cov.End(i, t.UnixNano())
	}
}

// Packet analyzes one frame. data is only read during the call. Frames
// should come in capture order; a timestamp that goes backwards is taken as
// it is, but never moves the engine's clock back.
func (e *Engine) Packet(data []byte, m Meta) {
	e.packet(data, m.Frame, m.Time.UnixNano(), m.Length, m.LinkType, m.Input)
}

// PacketAt is Packet with the capture time as nanoseconds since the Unix
// epoch, the form capture readers have it in: it spares building a
// time.Time per frame. input is Meta.Input.
func (e *Engine) PacketAt(data []byte, frameNo uint64, unixNano int64, wireLen int, lt layers.LinkType, input int) {
	e.packet(data, frameNo, unixNano, wireLen, lt, input)
}

// packet is the per-frame path. Everything on it is a few compares and
// counter updates, a handful of table lookups for the frames that need
// them, and nothing per second or per check except when capture time
// crosses a second.
func (e *Engine) packet(data []byte, frameNo uint64, now int64, wireLen int, lt layers.LinkType, input int) {
	s := &e.stats
	s.Frames++
	s.Bytes += uint64(wireLen)
	s.CapturedBytes += uint64(len(data))
	if !e.advance(now) {
		e.afterTimeJump(frameNo)
		return
	}

	if lt == layers.LinkTypeEthernet {
		if ipOff, vlan, ok := e.dec.PlainIPv4(data, wireLen); ok {
			e.plainIPv4(data, ipOff, vlan, frameNo, now, wireLen)
			return
		}
	}
	f := e.dec.Decode(lt, data, wireLen)
	if f.Encap != frame.EncapNone {
		e.countEncap(f.Encap)
	}
	switch f.Status {
	case frame.Unsupported:
		e.unsupportedFrame(lt, frameNo, now)
		return
	case frame.Malformed:
		e.malformed(f, frameNo, now)
		return
	case frame.Truncated:
		e.truncated(f, frameNo, len(data), len(data) < wireLen, now)
	}
	if f.Tags > 0 {
		s.Protocols.VLANTagged++
	}
	if f.DstKnown && addr.IsClusterForm(&f.Dst) {
		e.countClusterMAC(f, frameNo, now)
	}
	switch f.Kind {
	case frame.KindARP:
		s.Protocols.ARP++
		e.arp.Observe(f, now, frameNo)
	case frame.KindIGMP:
		s.Protocols.IGMP++
		e.igmp.Observe(f, now, frameNo)
	case frame.KindHeartbeat:
		s.Protocols.Heartbeats++
		e.nlb.Observe(f, now, frameNo, input)
	case frame.KindNLBUnknown:
		s.Protocols.NLBUnknown++
	case frame.KindIPv4:
		s.Protocols.IPv4++
	case frame.KindARPOther:
		s.Protocols.ARPOther++
	default:
		s.Protocols.Other++
	}
}

// plainIPv4 is packet for a frame that frame.Decoder.PlainIPv4 vouches
// for, most frames of a busy link: what packet does with the Frame Decode
// would give, read straight from the bytes (the IPv4 destination at
// ipOff+16). analyze.Batch.addPlainIPv4 is its sum for many frames.
func (e *Engine) plainIPv4(data []byte, ipOff int, vlan frame.VLAN, frameNo uint64, now int64, wireLen int) {
	s := &e.stats
	if len(data) < wireLen {
		e.truncatedFrame(frameNo, len(data), now)
	}
	if ipOff > 14 {
		s.Protocols.VLANTagged++
	}
	if dst := (*addr.MAC)(data[0:6]); addr.IsClusterForm(dst) {
		if dstIP, counts := floodDst(frame.KindIPv4, netip.AddrFrom4([4]byte(data[ipOff+16:ipOff+20]))); counts {
			s.Protocols.ClusterMAC++
			e.flood.CountTo(vlan, dst, wireLen, false, dstIP, now, frameNo)
		}
	}
	s.Protocols.IPv4++
}

// advance moves the engine's clock to now, a frame's time: the first
// frame starts it, and a frame in a later second than any before runs the
// per-second work. A frame earlier than the latest is taken as it is but
// never moves the clock back. It reports false for a frame not to analyze:
// at or after a time jump (Options.EndAtTimeJump). Small enough to be
// inlined (keep it so): most frames are in the clock's second.
func (e *Engine) advance(now int64) bool {
	if now >= e.secLo && now <= e.secHi {
		e.last = max(e.last, now)
		return true
	}
	return e.advanceSecond(now)
}

// advanceSecond is advance for a frame in another second than the clock's,
// or the first frame. After a time jump every frame comes here: the
// clock's second is set to one no frame has.
func (e *Engine) advanceSecond(now int64) bool {
	if !e.started {
		e.started = true
		e.first, e.last = now, now
		e.secLo, e.secHi = secondRange(now / int64(time.Second))
		e.nextCheck = now + int64(e.opts.CheckEvery)
		e.tl.Advance(now)
		return true
	}
	if e.jumped {
		return false
	}
	if e.opts.EndAtTimeJump && e.isTimeJump(now) {
		// afterTimeJump raises the finding, with the frame number.
		e.jumped, e.jumpTime = true, now
		e.secLo, e.secHi = 1, 0 // no frame's second: advanceSecond for all
		return false
	}
	if now > e.last {
		e.last = now
		e.secLo, e.secHi = secondRange(now / int64(time.Second))
		e.tl.Advance(now)
		e.tick(now)
	}
	return true
}

// secondRange returns the times t, in nanoseconds, of second sec: those
// with t/1e9 == sec, from lo to hi. Go's division truncates towards zero,
// so second 0 spans from -0.999999999 s to 0.999999999 s; the ranges at
// the ends of int64 are cut there.
func secondRange(sec int64) (lo, hi int64) {
	const s = int64(time.Second)
	switch {
	case sec > 0:
		lo = sec * s
		if hi = lo + (s - 1); hi < lo {
			hi = math.MaxInt64
		}
	case sec < 0:
		hi = sec * s
		if lo = hi - (s - 1); lo > hi {
			lo = math.MinInt64
		}
	default:
		lo, hi = -(s - 1), s-1
	}
	return lo, hi
}

// isTimeJump reports whether a frame at now jumps from the clock further
// than a capture can.
func (e *Engine) isTimeJump(now int64) bool {
	return isTimeJump(e.last, now)
}

// isTimeJump reports whether going from clock to now is a jump no capture
// has. Differences are taken as unsigned: time stamps of damaged pcapng
// files span the whole int64 range, and their difference would overflow.
func isTimeJump(clock, now int64) bool {
	return now > clock && uint64(now)-uint64(clock) > uint64(MaxTimeJumpForward) ||
		now < clock && uint64(clock)-uint64(now) > uint64(MaxTimeStepBack)
}

// afterTimeJump counts frame frameNo, at or after the time jump that
// ended the analysis: the clock stays at the frame before the jump, and
// every frame from it on is only counted. The first raises the finding.
func (e *Engine) afterTimeJump(frameNo uint64) {
	e.stats.AfterTimeJump++
	if e.jumpFrame != 0 {
		return
	}
	e.jumpFrame = frameNo
	e.store.Raise(finding.Key{Kind: finding.CaptureTimeJump}, finding.Finding{
		Severity: finding.Warning, Subject: "capture", Time: at(e.last),
		Message: e.timeJumpMessage(),
		Remedy: fmt.Sprintf("if the file was joined from rotated captures with cat, give nlbprobe read those files instead "+
			"(it merges them in time order and counts frames they share once); if the capturing host's clock was stepped "+
			"(time sync after a VM pause or migration), what was analyzed up to frame %d stands: capture again for the rest", frameNo-1),
		Evidence: []uint64{frameNo},
	})
}

// timeJumpMessage describes the time jump, with the frames after it
// counted so far.
func (e *Engine) timeJumpMessage() string {
	dir, d := "after", uint64(e.jumpTime)-uint64(e.last)
	if e.jumpTime < e.last {
		dir, d = "before", uint64(e.last)-uint64(e.jumpTime)
	}
	return fmt.Sprintf("frame %d is dated %s, %s %s the latest frame before it (%s): no capture's clock does that, "+
		"so the file is damaged or captures were joined out of order; the analysis (heartbeat gaps, rates, flooding, "+
		"ARP, IGMP) covers the capture up to frame %d, and the %d frames from frame %d on were counted but not analyzed",
		e.jumpFrame, at(e.jumpTime).Format(time.RFC3339Nano), spanWords(d), dir, at(e.last).Format(time.RFC3339Nano),
		e.jumpFrame-1, e.stats.AfterTimeJump, e.jumpFrame)
}

// finishTimeJump brings the time-jump finding's count of frames not
// analyzed up to date.
func (e *Engine) finishTimeJump() {
	if !e.jumped {
		return
	}
	if f, ok := e.store.Get(finding.Key{Kind: finding.CaptureTimeJump}); ok {
		f.Message = e.timeJumpMessage()
		f.Count = e.stats.AfterTimeJump
	}
}

// spanWords writes a duration of nanoseconds for people: "31 years",
// "12 days", "3h0m0s", "15.2s".
func spanWords(ns uint64) string {
	const day = uint64(24 * time.Hour)
	switch {
	case ns >= 2*365*day:
		return fmt.Sprintf("%d years", ns/(365*day))
	case ns >= 2*day:
		return fmt.Sprintf("%d days", ns/day)
	}
	return time.Duration(ns).Round(100 * time.Millisecond).String()
}

// countClusterMAC counts a frame to a cluster-form MAC towards flooding,
// with its length on the wire: a mirrored frame's own, not its
// encapsulation's.
func (e *Engine) countClusterMAC(f *frame.Frame, frameNo uint64, now int64) {
	dstIP, counts := floodDst(f.Kind, f.IPv4.Dst)
	if !counts {
		return
	}
	e.stats.Protocols.ClusterMAC++
	e.flood.CountTo(f.VLAN, &f.Dst, f.Len, f.Kind == frame.KindHeartbeat, dstIP, now, frameNo)
}

// countEncap counts a frame that came through a remote span.
func (e *Engine) countEncap(enc frame.Encap) {
	c := &e.stats.Encapsulated
	switch enc {
	case frame.EncapERSPANI:
		c.ERSPANI++
	case frame.EncapERSPANII:
		c.ERSPANII++
	case frame.EncapERSPANIII:
		c.ERSPANIII++
	case frame.EncapVXLAN:
		c.VXLAN++
	}
}

// floodDst says whether a frame of kind k to a cluster-form MAC counts
// towards flooding, and returns the IPv4 destination it is counted with:
// ipDst for IPv4 and IGMP, none for the other kinds.
// 01:00:5e:7f:Y:Z is also the MAC of any IP multicast to 239.255.Y.Z (SSDP's
// 239.255.255.250 among them): such frames are ordinary multicast, while
// NLB's are unicast IP to the VIP inside that MAC, or heartbeats.
func floodDst(k frame.Kind, ipDst netip.Addr) (dstIP netip.Addr, counts bool) {
	if k != frame.KindIPv4 && k != frame.KindIGMP {
		return netip.Addr{}, true
	}
	return ipDst, !ipDst.IsMulticast()
}

// Advance tells the engine that capture time has reached t without frames
// (an idle live capture), so silences are noticed. It never moves the clock
// back.
func (e *Engine) Advance(t time.Time) {
	if e.started {
		e.advance(t.UnixNano())
	}
}

// tick runs once per second of capture time.
func (e *Engine) tick(now int64) {
	e.flushTouches()
	e.nlb.Tick(now)
	if now >= e.nextCheck {
		e.nextCheck = now + int64(e.opts.CheckEvery)
		e.check(now, false)
	}
}

func (e *Engine) unsupportedFrame(lt layers.LinkType, frameNo uint64, now int64) {
	e.stats.Unsupported++
	key := finding.Key{Kind: finding.UnsupportedLinkType, N: int64(lt)}
	if e.store.Touch(key, frameNo) {
		return
	}
	e.store.Raise(key, finding.Finding{
		Severity: finding.Warning, Subject: "link type " + lt.String(), Time: at(now),
		Message: fmt.Sprintf("frames of link type %s (%d) carry no Ethernet header and were skipped: "+
			"nlbprobe reads Ethernet, Linux cooked (SLL) and SLL2 captures", lt, lt),
		Remedy:   "capture on the Ethernet interface itself (tcpdump -i with the NIC's name), not on a tunnel, or with -i any on an old libpcap",
		Evidence: []uint64{frameNo},
	})
}

// touch is Store.Touch for the findings that a whole capture can raise on
// every frame (capture-truncated, malformed-frame): once the finding's
// evidence is full, a touch changes only its count, which is kept here and
// added by flushTouches, instead of hashing the finding's key per frame.
func (e *Engine) touch(c *touchCount, key finding.Key, frameNo uint64) bool {
	if c.full {
		c.pending++
		return true
	}
	if !e.store.Touch(key, frameNo) {
		return false
	}
	if f, ok := e.store.Get(key); ok && len(f.Evidence) >= finding.MaxEvidence {
		c.full = true
	}
	return true
}

// touchCount is what touch keeps for one finding.
type touchCount struct {
	full    bool   // the finding's evidence is full
	pending uint64 // occurrences not yet added to its Count
}

// flushTouches adds the counts touch kept to their findings: before
// anything reads the store.
func (e *Engine) flushTouches() {
	flush := func(c *touchCount, key finding.Key) {
		if c.pending == 0 {
			return
		}
		if f, ok := e.store.Get(key); ok {
			f.Count += c.pending
		}
		c.pending = 0
	}
	flush(&e.truncTouch, finding.Key{Kind: finding.CaptureTruncated})
	for session, mc := range e.mirrorCuts {
		flush(&mc.touch, mirrorCutKey(session))
	}
	for r := range e.malformedTouch {
		flush(&e.malformedTouch[r], finding.Key{Kind: finding.MalformedFrame, N: int64(r)})
	}
}

func (e *Engine) malformed(f *frame.Frame, frameNo uint64, now int64) {
	e.stats.Malformed++
	key := finding.Key{Kind: finding.MalformedFrame, N: int64(f.Reason)}
	if int(f.Reason) < len(e.malformedTouch) {
		if e.touch(&e.malformedTouch[f.Reason], key, frameNo) {
			return
		}
	} else if e.store.Touch(key, frameNo) {
		return
	}
	e.store.Raise(key, finding.Finding{
		Severity: finding.Warning, Subject: "malformed " + f.Reason.String(), Time: at(now),
		Message:  fmt.Sprintf("frames with a malformed %s, skipped (first: %v)", f.Reason, f.Err),
		Remedy:   "look at the evidence frames in Wireshark; many at once point at a faulty NIC, driver or capture tool",
		Evidence: []uint64{frameNo},
	})
}

// truncated counts a frame cut short: by the capture's snaplen (the
// record holds less than the wire had: snaplen), by the switch that
// mirrored it (f.MirrorCut), or by both, each in its own
// capture-truncated finding, as each has its own remedy.
func (e *Engine) truncated(f *frame.Frame, frameNo uint64, captured int, snaplen bool, now int64) {
	if f.MirrorCut {
		e.mirrorCutFrame(f, frameNo, snaplen, now)
		if !snaplen {
			return
		}
	}
	if f.Kind == frame.KindHeartbeat {
		e.stats.TruncatedHeartbeats++
		if c := f.Heartbeat.Captured; e.minHeartbeatCut == 0 || c < e.minHeartbeatCut {
			e.minHeartbeatCut = c
		}
	}
	e.truncatedFrame(frameNo, captured, now)
}

// truncatedFrame counts a frame of any kind cut by the capture's snaplen.
func (e *Engine) truncatedFrame(frameNo uint64, captured int, now int64) {
	e.stats.Truncated++
	e.maxCutCaptured = max(e.maxCutCaptured, captured)
	// One finding for the whole capture, its evidence the first frames
	// cut; heartbeats first, as they matter most.
	key := finding.Key{Kind: finding.CaptureTruncated}
	if e.touch(&e.truncTouch, key, frameNo) {
		return
	}
	e.store.Raise(key, finding.Finding{
		Severity: finding.Info, Subject: "capture", Time: at(now),
		Message:  "frames were cut by the capture's snaplen", // completed by finishTruncation
		Remedy:   "capture whole frames to see whole heartbeats (tcpdump -s 0; pktmon start --capture --pkt-size 0, as pktmon keeps 128 bytes by default)",
		Evidence: []uint64{frameNo},
	})
}

// mirrorCut is what one remote-span session's switch cut before sending.
type mirrorCut struct {
	frames uint64
	// alsoSnaplen counts the frames the capture's snaplen cut again:
	// their size says nothing of what the switch sent.
	alsoSnaplen uint64
	// maxKept is the most bytes of a cut frame the switch sent,
	// heartbeats and minHeartbeat the heartbeats among the cut frames and
	// the fewest payload bytes one kept (of frames the snaplen left
	// whole).
	maxKept      int
	heartbeats   uint64
	minHeartbeat int
	touch        touchCount
}

// mirrorCutKey is the key of the capture-truncated finding of the frames
// the switch of session (a VLAN with no tag) cut: the finding carries the
// session as its remote_span.
func mirrorCutKey(session frame.VLAN) finding.Key {
	return finding.Key{Kind: finding.CaptureTruncated, VLAN: uint64(session)}
}

// mirrorCutFrame counts a frame the switch of its remote span cut before
// sending (ERSPAN's T bit): it may have lost all its bytes past the
// switch's mirror MTU, whatever the capture's snaplen.
func (e *Engine) mirrorCutFrame(f *frame.Frame, frameNo uint64, snaplen bool, now int64) {
	kind, id := f.VLAN.Session()
	session := frame.VLAN(0).InSession(kind, id)
	mc := e.mirrorCuts[session]
	if mc == nil {
		if e.mirrorCuts == nil {
			e.mirrorCuts = map[frame.VLAN]*mirrorCut{}
		}
		mc = &mirrorCut{}
		e.mirrorCuts[session] = mc
	}
	mc.frames++
	if snaplen {
		mc.alsoSnaplen++
	} else {
		mc.maxKept = max(mc.maxKept, f.Len)
		if f.Kind == frame.KindHeartbeat {
			mc.heartbeats++
			if c := f.Heartbeat.Captured; mc.minHeartbeat == 0 || c < mc.minHeartbeat {
				mc.minHeartbeat = c
			}
		}
	}
	key := mirrorCutKey(session)
	if e.touch(&mc.touch, key, frameNo) {
		return
	}
	e.store.Raise(key, finding.Finding{
		Severity: finding.Info, Subject: kind.String() + " session " + strconv.FormatUint(uint64(id), 10), Time: at(now),
		Message:  "frames were cut by the switch that mirrored them (ERSPAN T bit)", // completed by finishTruncation
		Remedy:   mirrorCutRemedy(id),
		Evidence: []uint64{frameNo},
	})
}

// mirrorCutRemedy is what to do about frames the switch of ERSPAN session
// id cut: let the session carry whole frames, and the path to the
// collector carry them with their encapsulation (the switch sets DF, and
// nlbprobe does not reassemble fragments).
func mirrorCutRemedy(id uint32) string {
	return "let the mirror session carry whole frames: on the switch that mirrors ERSPAN session " + strconv.FormatUint(uint64(id), 10) +
		", raise the session's MTU (Cisco IOS XE: " + rem.Code(rem.CiscoShowMonitor) + " names the source session whose destination has " +
		rem.Code(rem.CiscoERSPANID(id)) + "; in it " + rem.Code(rem.CiscoERSPANSource) + ", " + rem.Code(rem.CiscoERSPANDestination) +
		", " + rem.Code(rem.CiscoERSPANMTU(rem.CiscoERSPANMaxMTU)) + "; other switches: the mirror session's MTU or truncation setting), " +
		"and give every link from that switch to this collector an MTU that carries a whole frame with its encapsulation " +
		"(ERSPAN type II over IPv4 adds 36 bytes: an IP MTU of 1554 for a 1518-byte frame), or mirror to a collector that has such a path"
}

// Report returns what the engine knows now, without ending the analysis:
// for a live status or a report on demand.
func (e *Engine) Report() *Report {
	e.flushTouches()
	e.finishTimeJump()
	e.check(e.last, false)
	return e.report(true)
}

// Finish ends the analysis at the last frame's time, raises what only the
// end can tell (a host that never came back, a capture too short to know)
// and returns the final report. Packet must not be called afterwards.
func (e *Engine) Finish() *Report {
	e.flushTouches()
	e.finishTimeJump()
	if !e.finished && e.stats.Frames > 0 {
		e.finished = true
		e.nlb.Finish(e.last)
		e.check(e.last, true)
	}
	e.finishDeclared()
	return e.report(true)
}

// AddFinding raises a finding the capture side knows and the engine cannot
// (a damaged capture file, kernel drops); key dedupes it.
func (e *Engine) AddFinding(key finding.Key, f finding.Finding) {
	if !e.store.Touch(key, 0) {
		e.store.Raise(key, f)
	}
}

// SetKernelDrops records the frames the kernel dropped before nlbprobe saw
// them (live capture), for stats and a capture-drops finding.
func (e *Engine) SetKernelDrops(n uint64) { e.stats.KernelDrops = n }

// LastTime returns the capture time of the latest frame (zero before any).
func (e *Engine) LastTime() time.Time {
	if e.stats.Frames == 0 {
		return time.Time{}
	}
	return at(e.last)
}

// Stats returns the counters so far.
func (e *Engine) Stats() Stats { return e.stats }

func at(ns int64) time.Time { return time.Unix(0, ns).UTC() }
