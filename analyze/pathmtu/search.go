package pathmtu

import (
	"fmt"
	"net/netip"
	"time"
)

// Size bounds from the IP specifications, in bytes of IP packet (header
// included), which is what an MTU counts.
const (
	// MinIPv4 is the smallest MTU every IPv4 link must carry (RFC 791).
	MinIPv4 = 68
	// BaseIPv4 is the datagram size every IPv4 host must accept (RFC 791,
	// RFC 1122): the first, "is it alive" probe.
	BaseIPv4 = 576
	// MinIPv6 is the smallest MTU every IPv6 link must carry (RFC 8200). It
	// is also the first probe: an IPv6 path cannot be smaller.
	MinIPv6 = 1280
)

// Defaults used when a Config field is zero.
const (
	DefaultTimeout   = time.Second
	DefaultMinWait   = 100 * time.Millisecond
	DefaultMaxProbes = 64
)

// Config sets up a Search.
type Config struct {
	// IPv6 selects the IPv6 size floor (1280) instead of the IPv4 one.
	IPv6 bool
	// Max is the largest size to try: the outgoing interface's MTU, or a
	// smaller bound the user gave. The search never probes above it.
	Max int
	// Retries is how many more times a size that drew silence is sent
	// before the silence counts: at the final boundary (so one lost packet
	// is not read as "too big") and at the first, small probe (so one lost
	// packet is not read as a dead target). Zero means no retries.
	Retries int
	// Timeout is how long to wait for an answer to a probe whose silence
	// decides the result (the first probe and the boundary confirmations).
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// MinWait is the shortest wait for the other probes, which is otherwise
	// eight times the largest round-trip time seen, capped at Timeout. A
	// probe cut short this way costs at most a confirmation later, never a
	// wrong answer. Zero means DefaultMinWait.
	MinWait time.Duration
	// MaxProbes bounds the probes of one search, whatever the path answers.
	// Zero means DefaultMaxProbes.
	MaxProbes int
}

// Probe is what to send next: one ICMP echo request whose IP packet is Size
// bytes long, with the don't-fragment behaviour of the family.
type Probe struct {
	Size int
	// Wait is how long to wait for an answer before observing Silent.
	Wait time.Duration
	// Attempt counts the probes of this size, starting at 1.
	Attempt int
}

// OutcomeKind says what came back for a probe.
type OutcomeKind uint8

// The outcome kinds.
const (
	// Silent: nothing came back within the probe's Wait.
	Silent OutcomeKind = iota
	// Reply: the target's echo reply.
	Reply
	// TooBig: a router answered ICMP "fragmentation needed" (IPv4 type 3
	// code 4) or "packet too big" (ICMPv6 type 2), with its next-hop MTU.
	TooBig
	// LocalTooBig: the sending host refused the size (EMSGSIZE): the route
	// or interface MTU here is below it.
	LocalTooBig
	// Unreachable: ICMP destination unreachable for another reason (no
	// route, host unreachable, administratively prohibited), or no local
	// route.
	Unreachable
)

var outcomeNames = [...]string{"silent", "reply", "too-big", "local-too-big", "unreachable"}

// String returns the outcome's name, e.g. "too-big".
func (k OutcomeKind) String() string {
	if int(k) < len(outcomeNames) {
		return outcomeNames[k]
	}
	return fmt.Sprintf("outcome(%d)", uint8(k))
}

// Outcome is what happened to one probe.
type Outcome struct {
	Size int
	Kind OutcomeKind
	// MTU is the next-hop MTU a TooBig or LocalTooBig carried; 0 when the
	// sender did not say (old routers send 0, RFC 1191).
	MTU int
	// From is who sent a TooBig or Unreachable.
	From netip.Addr
	// RTT is the round-trip time of a Reply.
	RTT time.Duration
	// Late marks an answer to a probe that was already observed as Silent:
	// it corrects the record but was not a new probe.
	Late bool
}

// Method says how the limit above the path MTU was established.
type Method string

// The methods. The strings are part of the JSON contract.
const (
	// MethodICMP: a router reported the next size as too big.
	MethodICMP Method = "icmp"
	// MethodSearch: the search found the limit (or the path carried the
	// largest size tried) without a router saying anything.
	MethodSearch Method = "search"
	// MethodLocal: the sending host itself refused the next size.
	MethodLocal Method = "local"
	// MethodNone: no search ran, because the target could not be probed
	// at all (its name did not resolve, no route). Set by the caller; a
	// Search never concludes it.
	MethodNone Method = "none"
)

// Result is what a Search concluded, or has so far.
type Result struct {
	// Done is true once the search needs no more probes.
	Done bool
	// Reachable is true when the target answered at least one probe.
	Reachable bool
	// PathMTU is the largest size the target answered (0 when none). When
	// Done and not Incomplete, the next size up is known not to pass.
	PathMTU int
	// Max is the largest size the search would try.
	Max int
	// Method says how the size above PathMTU was found to fail; MethodSearch
	// when PathMTU equals Max or the target is unreachable.
	Method Method
	// Blackhole is true when the target answers but sizes above PathMTU
	// (and below Max) vanish with no ICMP, confirmed by retries.
	Blackhole bool
	// SilentAt is the smallest size confirmed lost without ICMP, 0 if none.
	SilentAt int
	// ReportedMTU and ReportedBy are the last next-hop MTU an ICMP too-big
	// carried and its sender, kept even when probes proved it wrong.
	ReportedMTU int
	ReportedBy  netip.Addr
	// UnreachableFrom is who said the target is unreachable by ICMP; it is
	// invalid for a target that was merely silent.
	UnreachableFrom netip.Addr
	// Probes counts the probes observed (late answers excluded), including
	// sizes the local stack refused.
	Probes int
	// Incomplete is true when MaxProbes ran out before the boundary was
	// confirmed: PathMTU is then only a lower bound.
	Incomplete bool
}

// sizeState is what is known about one probe size.
type sizeState struct {
	answered bool
	tooBig   bool // a router said so
	local    bool // the local stack refused it
	silent   int  // probes of this size that drew nothing
}

func (st *sizeState) failing() bool {
	return st != nil && !st.answered && (st.tooBig || st.local || st.silent > 0)
}

// Search is one path-MTU search towards one target. It is not safe for
// concurrent use: call Next, send the probe, Observe what came back, and
// repeat until Next reports false.
//
// The strategy: probe the base size (576 for IPv4, 1280 for IPv6) to learn
// that the target answers and how fast; then the maximum; a too-big that
// carries a plausible next-hop MTU is probed at once, and the size above it
// right after, so an honest router settles the answer in two more probes;
// otherwise binary search between the largest size answered and the smallest
// that failed. Search probes wait only a multiple of the round-trip time and
// are sent once: a silence moves the upper bound down. The final boundary
// (the size just above the answer) is then confirmed with Retries more full
// waits, so a lost packet costs probes but never a wrong answer; an answer
// there reopens the search above it.
type Search struct {
	cfg             Config
	floor           int // smallest size the family allows
	base            int // first probe
	sizes           map[int]*sizeState
	lo              int  // largest size answered, 0 if none
	hint            int  // last plausible next-hop MTU from a too-big
	doubt           bool // a size that drew silence was answered later: losses happen
	rtt             time.Duration
	probes          int
	unreachableFrom netip.Addr
	unreachable     bool
	reportedMTU     int
	reportedBy      netip.Addr
}

// New returns a Search for cfg. It returns an error when Max is below the
// family's minimum MTU.
func New(cfg Config) (*Search, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MinWait <= 0 {
		cfg.MinWait = DefaultMinWait
	}
	cfg.MinWait = min(cfg.MinWait, cfg.Timeout)
	if cfg.MaxProbes <= 0 {
		cfg.MaxProbes = DefaultMaxProbes
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	s := &Search{cfg: cfg, sizes: make(map[int]*sizeState)}
	if cfg.IPv6 {
		s.floor, s.base = MinIPv6, MinIPv6
	} else {
		s.floor, s.base = MinIPv4, BaseIPv4
	}
	if cfg.Max < s.floor {
		return nil, fmt.Errorf("pathmtu: maximum size %d is below the minimum MTU %d", cfg.Max, s.floor)
	}
	s.base = min(s.base, cfg.Max)
	return s, nil
}

// Next returns the probe to send next, or false when the search is done.
// Calling it again without an Observe in between returns the same probe.
func (s *Search) Next() (Probe, bool) {
	size, full, ok := s.pick()
	if !ok {
		return Probe{}, false
	}
	wait := s.cfg.Timeout
	if !full {
		wait = min(s.cfg.Timeout, max(s.cfg.MinWait, 8*s.rtt))
	}
	attempt := 1
	if st := s.sizes[size]; st != nil {
		attempt += st.silent
	}
	return Probe{Size: size, Wait: wait, Attempt: attempt}, true
}

// confirmedFailing reports whether size is known not to pass: a router or
// the local stack said so, or it drew silence 1+Retries times.
func (s *Search) confirmedFailing(size int) bool {
	st := s.sizes[size]
	return st.failing() && (st.tooBig || st.local || st.silent > s.cfg.Retries)
}

// bounds returns the largest size answered (floor-1 when none) and the
// largest size not known to fail above it.
func (s *Search) bounds() (lo, hi int) {
	lo = s.floor - 1
	if s.lo > 0 {
		lo = s.lo
	}
	hi = s.cfg.Max
	for size, st := range s.sizes {
		if size > lo && size <= hi && st.failing() {
			hi = size - 1
		}
	}
	return lo, hi
}

// pick returns the next probe size and whether its silence is decisive (so
// it gets the full Timeout); ok is false when the search is done, settled or
// out of probes.
func (s *Search) pick() (size int, full, ok bool) {
	size, full = s.decide()
	if size == 0 || s.probes >= s.cfg.MaxProbes {
		return 0, false, false
	}
	return size, full, true
}

// decide returns the size the strategy wants next, or 0 when the answer is
// settled.
func (s *Search) decide() (size int, full bool) {
	if s.lo == 0 {
		if s.unreachable {
			return 0, false
		}
		// Nothing answered yet: the base probe tells a live target from a
		// dead one, with full waits and retries. Only a too-big (the path
		// is smaller than the base) sends the search below it.
		if st := s.sizes[s.base]; st == nil || (!st.tooBig && !st.local) {
			if s.confirmedFailing(s.base) {
				return 0, false // dead: silence at the smallest size
			}
			return s.base, true
		}
	}
	lo, hi := s.bounds()
	switch {
	case lo >= s.cfg.Max:
		return 0, false
	case hi == lo:
		// The boundary: the size above the answer, confirmed failing.
		if s.confirmedFailing(lo + 1) {
			return 0, false
		}
		return lo + 1, true
	case s.doubt && hi < s.cfg.Max && s.sizes[hi+1].silent == 1 && !s.sizes[hi+1].tooBig && !s.sizes[hi+1].local:
		// Losses were seen: before searching below a size that drew a
		// single silence, ask it once more. On a lossy path this costs a
		// probe per false mark instead of a search below each.
		return hi + 1, false
	case s.cfg.Max <= hi && s.sizes[s.cfg.Max] == nil:
		return s.cfg.Max, false
	case s.hint > lo && s.hint <= hi && s.sizes[s.hint] == nil:
		return s.hint, false
	case s.hint == lo && s.sizes[lo+1] == nil:
		// The reported MTU passed: check that the size above it does not,
		// which settles an honest router's answer in one more probe.
		return lo + 1, false
	}
	return lo + (hi-lo+1)/2, false
}

// Observe records what came back for a probe of o.Size.
func (s *Search) Observe(o Outcome) {
	if o.Size <= 0 || o.Size > s.cfg.Max {
		return
	}
	if !o.Late {
		s.probes++
	}
	st := s.sizes[o.Size]
	if st == nil {
		st = &sizeState{}
		s.sizes[o.Size] = st
	}
	switch o.Kind {
	case Reply:
		if st.silent > 0 {
			// A size that drew silence passes after all: a probe or its
			// answer was lost, so other single silences are doubtful.
			s.doubt = true
		}
		st.answered = true
		s.lo = max(s.lo, o.Size)
		s.rtt = max(s.rtt, o.RTT)
	case TooBig, LocalTooBig:
		if o.Kind == TooBig {
			st.tooBig = true
			s.reportedMTU, s.reportedBy = o.MTU, o.From
		} else {
			st.local = true
		}
		// A next-hop MTU is worth probing only if it is below the size
		// that failed and not below the family's floor; anything else is a
		// router that did not say (0) or lied.
		if o.MTU >= s.floor && o.MTU < o.Size {
			s.hint = o.MTU
		}
	case Unreachable:
		if s.lo == 0 {
			s.unreachable = true
			s.unreachableFrom = o.From
		} else if !o.Late {
			// The target answered before: a transient failure somewhere,
			// counted like a loss.
			st.silent++
		}
	case Silent:
		if !o.Late {
			st.silent++
		}
	}
}

// Result returns what the search has concluded so far.
func (s *Search) Result() Result {
	next, _ := s.decide()
	settled := next == 0
	r := Result{
		Done:            settled || s.probes >= s.cfg.MaxProbes,
		Reachable:       s.lo > 0,
		PathMTU:         s.lo,
		Max:             s.cfg.Max,
		Method:          MethodSearch,
		ReportedMTU:     s.reportedMTU,
		ReportedBy:      s.reportedBy,
		UnreachableFrom: s.unreachableFrom,
		Probes:          s.probes,
	}
	r.Incomplete = r.Done && !settled
	if !settled || s.lo == 0 || s.lo >= s.cfg.Max {
		return r
	}
	switch st := s.sizes[s.lo+1]; {
	case st.tooBig:
		r.Method = MethodICMP
	case st.local:
		r.Method = MethodLocal
	case s.reportedMTU == s.lo:
		// A router reported exactly this MTU for a larger probe; its
		// silence at the size above is its ICMP rate limit (Cisco
		// routers send one unreachable per 500 ms by default), not a
		// black hole.
		r.Method = MethodICMP
	default:
		r.Blackhole = true
		r.SilentAt = s.lo + 1
	}
	return r
}
