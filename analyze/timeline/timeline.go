// Package timeline keeps the history of a capture that the HTML report
// draws on one time axis: per-bucket counts (heartbeats of each host,
// frames to each cluster MAC, queries of each querier) and the events
// between them (heartbeat gaps, a host's MAC or mode changing, an IP's ARP
// binding moving, IGMP joins and leaves).
//
// Everything is bounded, like every other table of the engine: a series
// holds Buckets counts, and when capture time outgrows them the bucket
// width doubles (1 s, 2 s, 4 s...) and neighbouring buckets are added
// together, so a week-long capture has as many points as a minute-long one,
// each covering more time; the number of series and of events of each kind
// is capped, and what did not fit is counted. Counting allocates nothing:
// the per-frame path calls Add with a handle its table entry keeps.
package timeline

import (
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
)

// Buckets is how many counts a series holds: the resolution of the HTML
// report's time axis.
const Buckets = 600

// Default limits.
const (
	// DefaultMaxSeries bounds the series of each kind (hosts, cluster
	// MACs, queriers): 600 counts of 4 bytes each, 2.4 KB a series.
	DefaultMaxSeries = 512
	// DefaultMaxEvents bounds the events of each kind (host, ARP, IGMP).
	DefaultMaxEvents = 4096
)

// SeriesKind says what a series counts.
type SeriesKind uint8

// The kinds of series.
const (
	HostHeartbeats   SeriesKind = iota // membership heartbeats of one host
	ClusterMACFrames                   // frames to one cluster MAC on one VLAN
	QuerierQueries                     // queries of one IGMP querier
	numSeriesKinds
)

// Handle names a series; the zero Handle is none (the limit was reached, or
// the table was built without a Timeline), and Add ignores it.
type Handle int32

// EventKind says what an event records.
type EventKind uint8

// The kinds of events. Host events carry the series of the host.
const (
	HostGap        EventKind = iota // a heartbeat gap: Start to Time
	HostMACChange                   // a host's heartbeats came from another MAC: From to To
	HostModeChange                  // a host's heartbeats showed another mode: FromMode to ToMode
	ARPChange                       // IP on VLAN moved from MAC From to To
	IGMPJoin                        // Member reported Group on VLAN (first, or after a leave)
	IGMPLeave                       // Member left Group on VLAN
)

// eventLog is the log of an event kind's category: host, ARP, IGMP.
func (k EventKind) log() int {
	switch k {
	case ARPChange:
		return 1
	case IGMPJoin, IGMPLeave:
		return 2
	}
	return 0
}

const numLogs = 3

// Event is one change, at Time (packet time, ns since the Unix epoch).
type Event struct {
	Kind   EventKind
	Time   int64
	Start  int64 // a gap's start
	Frame  uint64
	Series Handle // the host of a host event
	VLAN   uint32 // a frame.VLAN
	// IP is the ARP binding's IP, or the IGMP group; Member the IGMP
	// member.
	IP, Member       [4]byte
	From, To         addr.MAC
	FromMode, ToMode addr.Mode
}

// Series is one history: counts per bucket.
type Series struct {
	Kind   SeriesKind
	counts [Buckets]uint32
}

// Limits bound a Timeline; zero fields take the defaults.
type Limits struct {
	Series int // series of each kind
	Events int // events of each log (host, ARP, IGMP)
}

// Timeline holds the series and events of one capture. It is not safe for
// concurrent use; a nil *Timeline records nothing.
type Timeline struct {
	limits  Limits
	started bool
	origin  int64 // start of bucket 0, a whole second (ns)
	width   int64 // bucket width (ns): a second, doubled as time passes
	latest  int64 // the latest time seen

	series        []*Series
	perKind       [numSeriesKinds]int
	seriesOmitted [numSeriesKinds]uint64
	events        [numLogs][]Event
	dropped       [numLogs]uint64
}

// New returns an empty Timeline.
func New(l Limits) *Timeline {
	if l.Series == 0 {
		l.Series = DefaultMaxSeries
	}
	if l.Events == 0 {
		l.Events = DefaultMaxEvents
	}
	return &Timeline{limits: l, width: int64(time.Second)}
}

// Advance moves the timeline's clock to now, widening the buckets when now
// is past the last one. The engine calls it once per second of capture
// time; the clock starts at the first call.
func (t *Timeline) Advance(now int64) {
	if t == nil {
		return
	}
	if !t.started {
		t.started = true
		t.origin = now - now%int64(time.Second)
		t.latest = now
		return
	}
	if now <= t.latest {
		return
	}
	t.latest = now
	// By division: Buckets*width would overflow for a clock that jumps
	// centuries (a damaged time stamp), and so would widening forever.
	for d := now - t.origin; d >= 0 && d/t.width >= Buckets && t.width < 1<<61; {
		t.widen()
	}
}

// widen doubles the bucket width, adding each pair of buckets together.
func (t *Timeline) widen() {
	for _, s := range t.series {
		for i := 0; i < Buckets/2; i++ {
			s.counts[i] = s.counts[2*i] + s.counts[2*i+1]
		}
		clear(s.counts[Buckets/2:])
	}
	t.width *= 2
}

// bucket returns the bucket of time now, advancing the clock when now is
// past the last bucket; times before the first bucket go to the first.
func (t *Timeline) bucket(now int64) int {
	if !t.started || now > t.latest {
		t.Advance(now)
	}
	d := now - t.origin
	if d < 0 {
		return 0
	}
	return int(min(d/t.width, Buckets-1))
}

// NewSeries returns a handle for a new series of kind k, or the zero
// Handle when series of that kind are at their limit (counted).
func (t *Timeline) NewSeries(k SeriesKind) Handle {
	if t == nil {
		return 0
	}
	if t.perKind[k] >= t.limits.Series {
		t.seriesOmitted[k]++
		return 0
	}
	t.perKind[k]++
	t.series = append(t.series, &Series{Kind: k})
	return Handle(len(t.series))
}

// Add counts n at time now in the series h. It allocates nothing.
func (t *Timeline) Add(h Handle, now int64, n uint64) {
	if t == nil || h <= 0 || int(h) > len(t.series) {
		return
	}
	b := t.bucket(now)
	c := &t.series[h-1].counts[b]
	*c = uint32(min(uint64(*c)+n, 1<<32-1))
}

// Record adds an event, or counts it as dropped when its log is full.
func (t *Timeline) Record(e Event) {
	if t == nil {
		return
	}
	if !t.started || e.Time > t.latest {
		t.Advance(e.Time)
	}
	l := e.Kind.log()
	if len(t.events[l]) >= t.limits.Events {
		t.dropped[l]++
		return
	}
	t.events[l] = append(t.events[l], e)
}

// Axis is the geometry the series share.
type Axis struct {
	Start   time.Time     // start of the first bucket
	Width   time.Duration // width of a bucket
	Buckets int           // buckets in use, up to the latest time
}

// Axis returns the current geometry; the zero Axis before any time.
func (t *Timeline) Axis() Axis {
	if t == nil || !t.started {
		return Axis{}
	}
	return Axis{Start: time.Unix(0, t.origin).UTC(), Width: time.Duration(t.width),
		Buckets: int(min((t.latest-t.origin)/t.width+1, Buckets))}
}

// Counts returns a copy of the buckets in use of series h, plus extra
// counted at time at (a second in progress that the caller holds), or nil
// for the zero Handle.
func (t *Timeline) Counts(h Handle, extra uint64, at int64) []uint32 {
	if t == nil || h <= 0 || int(h) > len(t.series) {
		return nil
	}
	n := t.Axis().Buckets
	out := make([]uint32, n)
	copy(out, t.series[h-1].counts[:n])
	if extra > 0 {
		if b := t.bucket(at); b < n {
			out[b] += uint32(min(extra, 1<<32-1))
		}
	}
	return out
}

// Events returns the recorded events of kind k, oldest first as recorded
// (the log is not sorted by time: a gap is recorded when it ends).
func (t *Timeline) Events(k EventKind) []Event {
	if t == nil {
		return nil
	}
	var out []Event
	for _, e := range t.events[k.log()] {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// Omitted returns how many series could not be kept (limits) and how many
// events were dropped.
func (t *Timeline) Omitted() (series, events uint64) {
	if t == nil {
		return 0, 0
	}
	for _, n := range t.seriesOmitted {
		series += n
	}
	for _, n := range t.dropped {
		events += n
	}
	return series, events
}
