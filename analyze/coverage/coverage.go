// Package coverage knows when each input of a run (the capture files read
// together, merged in time order) was capturing, so that a silence is
// judged only where something was listening: a host heard in one file is
// not silent after that file ends while another goes on, and the time
// between two rotated files that no file covers holds no heartbeat gap.
//
// An input covers the time from its first frame to its last: a capture
// file is one continuous capture, quiet stretches included. Between inputs
// nothing is known, except across less than Slack (the boundary of files
// a rotating capture writes one after the other).
//
// Coverage is learnt as the inputs are read, in time order: an input
// starts with its first frame, and its end becomes known when its last
// frame has been read. Until then it covers up to any time asked about,
// which is right for a reader that runs ahead of the analysis: an input
// whose end is not known yet still has a frame at or after the analysis's
// clock.
package coverage

import (
	"slices"
	"time"
)

// Slack is the longest stretch without an input that still counts as
// covered: rotated files follow each other with a few milliseconds
// between the last frame of one and the first of the next.
const Slack = int64(time.Second)

// Inputs is the coverage of the inputs of one run. The zero value and nil
// are not used: New returns nil for a run of one input, and the users of
// coverage then take every time as covered.
type Inputs struct {
	names []string
	spans []span
	// order lists the started inputs by start, sorted when sorted is set.
	order  []int
	sorted bool
}

// span is the time an input covers.
type span struct {
	start, end     int64
	started, ended bool
}

// New returns the coverage of inputs with these names (file paths), or
// nil for fewer than two: one input covers its whole capture.
func New(names []string) *Inputs {
	if len(names) < 2 {
		return nil
	}
	return &Inputs{names: slices.Clone(names), spans: make([]span, len(names)), order: make([]int, 0, len(names))}
}

// Len returns the number of inputs.
func (c *Inputs) Len() int { return len(c.spans) }

// Name returns the name of input i.
func (c *Inputs) Name(i int) string { return c.names[i] }

// Start records a frame of input i at t (nanoseconds since the Unix epoch)
// as its first: the earliest given counts.
func (c *Inputs) Start(i int, t int64) {
	if i < 0 || i >= len(c.spans) {
		return
	}
	s := &c.spans[i]
	if !s.started {
		s.started, s.start = true, t
		if !s.ended {
			s.end = t
		}
		c.order = append(c.order, i)
		c.sorted = false
		return
	}
	if t < s.start {
		s.start = t
		c.sorted = false
	}
}

// End records that input i has no frame after t, its last: it covers no
// time after t. An input that ends without a start starts at t.
func (c *Inputs) End(i int, t int64) {
	if i < 0 || i >= len(c.spans) {
		return
	}
	c.Start(i, t)
	s := &c.spans[i]
	s.ended, s.end = true, max(t, s.start)
}

// Span returns the time input i covers as far as known: started says it
// has a first frame, ended that its last frame is known (end); an input
// that has not ended covers any time after its start.
func (c *Inputs) Span(i int) (start, end int64, started, ended bool) {
	s := &c.spans[i]
	return s.start, s.end, s.started, s.ended
}

// Covered measures the time of [from, to] that the inputs for which in
// returns true cover: longest is the longest stretch without a gap in
// their coverage (gaps shorter than Slack do not count), total the sum of
// the stretches. in must not call back into c.
func (c *Inputs) Covered(from, to int64, in func(i int) bool) (longest, total int64) {
	if to < from {
		return 0, 0
	}
	c.sort()
	curStart, curEnd, open := int64(0), int64(0), false
	for _, i := range c.order {
		s := &c.spans[i]
		if !in(i) {
			continue
		}
		lo, hi := max(s.start, from), to
		if s.ended {
			hi = min(s.end, to)
		}
		if hi < lo {
			continue
		}
		if open && lo <= curEnd+Slack {
			curEnd = max(curEnd, hi)
			continue
		}
		if open {
			longest, total = max(longest, curEnd-curStart), total+curEnd-curStart
		}
		curStart, curEnd, open = lo, hi, true
	}
	if open {
		longest, total = max(longest, curEnd-curStart), total+curEnd-curStart
	}
	return longest, total
}

// All is an in for Covered: every input.
func All(int) bool { return true }

// Total returns how much of [from, to] some input covers; c may be nil
// (one input), which covers all of it.
func (c *Inputs) Total(from, to int64) int64 {
	if c == nil {
		return max(to-from, 0)
	}
	_, total := c.Covered(from, to, All)
	return total
}

// Hole is a stretch of time no input covers.
type Hole struct{ Start, End int64 }

// Holes returns the stretches of [from, to] that no input covers, Slack
// long or longer, in time order.
func (c *Inputs) Holes(from, to int64) []Hole {
	c.sort()
	var holes []Hole
	covered := from // covered up to here
	for _, i := range c.order {
		s := &c.spans[i]
		if s.start > covered+Slack && s.start <= to {
			holes = append(holes, Hole{covered, s.start})
		}
		if !s.ended {
			return holes
		}
		covered = max(covered, s.end)
	}
	if to > covered+Slack {
		holes = append(holes, Hole{covered, to})
	}
	return holes
}

func (c *Inputs) sort() {
	if c.sorted {
		return
	}
	slices.SortFunc(c.order, func(a, b int) int {
		if c.spans[a].start != c.spans[b].start {
			if c.spans[a].start < c.spans[b].start {
				return -1
			}
			return 1
		}
		return a - b
	})
	c.sorted = true
}

// Set is a set of inputs, by index: which inputs carried a host's or a
// cluster's heartbeats. The nil Set (from a nil Inputs) holds nothing and
// ignores Add.
type Set []uint64

// NewSet returns an empty set for the inputs of c; nil when c is nil.
func (c *Inputs) NewSet() Set {
	if c == nil {
		return nil
	}
	return make(Set, (len(c.spans)+63)/64)
}

// Add adds input i.
func (s Set) Add(i int) {
	if w := i >> 6; i >= 0 && w < len(s) {
		s[w] |= 1 << (i & 63)
	}
}

// Has reports whether the set holds input i.
func (s Set) Has(i int) bool {
	w := i >> 6
	return i >= 0 && w < len(s) && s[w]&(1<<(i&63)) != 0
}

// Members returns the inputs of the set in order.
func (s Set) Members() []int {
	var out []int
	for w, bits := range s {
		for b := 0; b < 64; b++ {
			if bits&(1<<b) != 0 {
				out = append(out, w*64+b)
			}
		}
	}
	return out
}
