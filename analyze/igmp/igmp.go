// Package igmp keeps the IGMP state of each VLAN as a snooping switch would
// see it: which hosts reported which groups (v1, v2 and v3 reports, leaves),
// and who queries, how often. It raises igmp-no-querier when reports come
// but nobody asks for them, because a snooping switch then ages the
// memberships out (about 260 s) and floods or drops the group.
package igmp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/coverage"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/remedy"
	"github.com/nlbprobe/nlbprobe/analyze/table"
	"github.com/nlbprobe/nlbprobe/analyze/timeline"
)

// Timers from RFC 2236/3376 defaults, which switches follow.
const (
	// QueryInterval is the default time between general queries.
	QueryInterval = 125 * time.Second
	// MembershipTimeout is how long a snooping switch keeps a membership
	// without a report: robustness 2 x 125 s + 10 s response time.
	MembershipTimeout = 260 * time.Second
)

// MemberKey identifies one host's membership of a group on a VLAN.
type MemberKey struct {
	VLAN   frame.VLAN
	Group  [4]byte
	Member [4]byte // the report's IPv4 source
}

// Membership is what the reports of one host for one group said.
type Membership struct {
	MAC                   addr.MAC
	Version               uint8
	Reports               uint64
	First, Last           int64
	FirstFrame, LastFrame uint64
	// Since is when the membership as it stands began: the first report,
	// or the first after a leave.
	Since int64
	// Left is set by a v2 leave or a v3 record that excludes everything;
	// a later report clears it.
	Left   bool
	LeftAt int64
	// WithSources is set for v3 source-specific memberships (INCLUDE or
	// ALLOW with sources): the host wants only some senders.
	WithSources bool
}

// QuerierKey identifies a querier.
type QuerierKey struct {
	VLAN frame.VLAN
	IP   [4]byte
}

// Querier is one router or switch that sent membership queries.
type Querier struct {
	MAC              addr.MAC
	Version          uint8
	Queries, General uint64
	First, Last      int64
	FirstFrame       uint64
	lastGeneral      int64
	Interval         int64 // smoothed time between general queries, ns; 0 until two were seen
	// MaxRespTenths is the last query's maximum response time in tenths
	// of a second, QQI its query interval in seconds (v3), both decoded
	// (frame.IGMP.MaxRespTenths, QQI).
	MaxRespTenths, QQI uint16
	QRV                uint8
	// Series is the querier's queries per second in the timeline.
	Series timeline.Handle
}

// vlanState is what one VLAN saw of IGMP as a whole.
type vlanState struct {
	firstReport, lastReport int64
	firstFrame              uint64
	reports                 uint64
	queries                 QueryTimes
}

// QueryTimes summarises the queries seen on a VLAN.
type QueryTimes struct {
	Count             uint64
	First, Prev, Last int64 // packet times in ns; Prev is the one before Last
	LastMaxRespTenths uint16
	// Since is the first query after the last silence as long as a
	// switch keeps memberships (MembershipTimeout): since when a querier
	// has been asking.
	Since int64
}

// Config sets the limits of the tables.
type Config struct {
	MemberLimit  int // default 65536
	QuerierLimit int // default 1024
	VLANLimit    int // default 4096
	// Timeline, when set, receives the joins and leaves of NLB groups
	// (239.255.0.0/16) and each querier's queries (for the HTML report).
	Timeline *timeline.Timeline
	// Coverage, when set, is when each input of a run of several was
	// capturing: a wait for a query counts only the time some input was.
	Coverage *coverage.Inputs
}

// Tables holds the IGMP state. It is not safe for concurrent use.
type Tables struct {
	members  *table.Table[MemberKey, Membership]
	queriers *table.Table[QuerierKey, Querier]
	vlans    *table.Table[frame.VLAN, vlanState]
	store    *finding.Store
	tl       *timeline.Timeline
	cov      *coverage.Inputs
	// Ignored counts reports for addresses that are not multicast groups.
	Ignored uint64
}

// New returns empty Tables that raise findings in store.
func New(cfg Config, store *finding.Store) *Tables {
	if cfg.MemberLimit == 0 {
		cfg.MemberLimit = 1 << 16
	}
	if cfg.QuerierLimit == 0 {
		cfg.QuerierLimit = 1024
	}
	if cfg.VLANLimit == 0 {
		cfg.VLANLimit = 4096
	}
	return &Tables{
		members:  table.New[MemberKey, Membership](cfg.MemberLimit, hashMember),
		queriers: table.New[QuerierKey, Querier](cfg.QuerierLimit, hashQuerier),
		vlans:    table.New[frame.VLAN, vlanState](cfg.VLANLimit, hashVLAN),
		store:    store,
		tl:       cfg.Timeline,
		cov:      cfg.Coverage,
	}
}

// Observe records the IGMP message in f: now is the packet time in
// nanoseconds, n the frame number.
func (t *Tables) Observe(f *frame.Frame, now int64, n uint64) {
	g := f.IGMP
	src := f.IPv4.Src.As4()
	switch g.Type {
	case frame.IGMPQuery:
		t.query(f, src, now, n)
	case frame.IGMPv1Report, frame.IGMPv2Report:
		t.report(f.VLAN, g.Group, src, f.Src, g.Version, true, false, now, n)
	case frame.IGMPv2Leave:
		t.report(f.VLAN, g.Group, src, f.Src, g.Version, false, false, now, n)
	case frame.IGMPv3Report:
		for i := 0; i < g.RecordsDecoded; i++ {
			r := g.Records[i]
			switch {
			case r.IsLeave():
				t.report(f.VLAN, r.Group, src, f.Src, 3, false, false, now, n)
			case r.IsJoin():
				t.report(f.VLAN, r.Group, src, f.Src, 3, true, false, now, n)
			case r.Type == frame.RecordModeIsInclude || r.Type == frame.RecordAllowNew ||
				r.Type == frame.RecordChangeToInclude:
				t.report(f.VLAN, r.Group, src, f.Src, 3, true, true, now, n)
			}
		}
	}
}

// hashMember, hashQuerier and hashVLAN spread the tables' keys over their
// indexes.
func hashMember(k MemberKey) uint64 {
	g, m := binary.BigEndian.Uint32(k.Group[:]), binary.BigEndian.Uint32(k.Member[:])
	return table.HashPair(uint64(g)<<32|uint64(m), uint64(k.VLAN))
}

func hashQuerier(k QuerierKey) uint64 {
	return table.HashPair(uint64(binary.BigEndian.Uint32(k.IP[:])), uint64(k.VLAN))
}

func hashVLAN(v frame.VLAN) uint64 { return table.HashPair(uint64(v), 0) }

func isMulticast(g [4]byte) bool { return g[0] >= 224 && g[0] <= 239 }

// nlbGroup reports whether g is of the form an IGMP-mode NLB cluster joins,
// 239.255.Y.Z, other than SSDP's 239.255.255.250, which every Windows host
// joins: the groups whose joins and leaves the timeline records.
func nlbGroup(g [4]byte) bool {
	return g[0] == 239 && g[1] == 255 && g != [4]byte{239, 255, 255, 250}
}

func (t *Tables) report(vlan frame.VLAN, group, member [4]byte, mac addr.MAC, version uint8, join, sources bool, now int64, n uint64) {
	if !isMulticast(group) {
		t.Ignored++
		return
	}
	v, created := t.vlans.Upsert(vlan, now)
	if created || v.reports == 0 {
		v.firstReport, v.firstFrame = now, n
	}
	v.reports++
	v.lastReport = now

	m, created := t.members.Upsert(MemberKey{VLAN: vlan, Group: group, Member: member}, now)
	if created {
		m.First, m.FirstFrame = now, n
	}
	if join && (created || m.Left) {
		m.Since = now
	}
	if nlbGroup(group) && (created || m.Left != !join) {
		kind := timeline.IGMPLeave
		if join {
			kind = timeline.IGMPJoin
		}
		t.tl.Record(timeline.Event{Kind: kind, Time: now, Frame: n, VLAN: uint32(vlan), IP: group, Member: member})
	}
	m.MAC, m.Version = mac, version
	m.Last, m.LastFrame = now, n
	if join {
		m.Reports++
		m.Left = false
		m.WithSources = sources
	} else {
		m.Left, m.LeftAt = true, now
	}
}

func (t *Tables) query(f *frame.Frame, src [4]byte, now int64, n uint64) {
	g := f.IGMP
	v, _ := t.vlans.Upsert(f.VLAN, now)
	qt := &v.queries
	if qt.Count == 0 {
		qt.First = now
	}
	if qt.Count == 0 || t.cov.Total(qt.Last, now) >= int64(MembershipTimeout) {
		qt.Since = now
	}
	qt.Count++
	qt.Prev, qt.Last = qt.Last, now
	qt.LastMaxRespTenths = g.MaxRespTenths()
	q, created := t.queriers.Upsert(QuerierKey{VLAN: f.VLAN, IP: src}, now)
	if created {
		q.First, q.FirstFrame = now, n
		q.Series = t.tl.NewSeries(timeline.QuerierQueries)
	}
	q.MAC, q.Version = f.Src, g.Version
	q.Queries++
	t.tl.Add(q.Series, now, 1)
	q.Last = now
	q.MaxRespTenths, q.QRV, q.QQI = g.MaxRespTenths(), g.QRV, g.QQI()
	if !g.IsGeneralQuery() {
		return
	}
	q.General++
	if q.lastGeneral != 0 {
		iv := now - q.lastGeneral
		switch {
		case iv < int64(time.Second):
			// A burst (startup queries, or the same query seen twice on
			// a span): not the steady interval.
		case q.Interval == 0:
			q.Interval = iv
		default:
			q.Interval = (q.Interval*3 + iv) / 4
		}
	}
	q.lastGeneral = now
}

// QuerierState is what the queries seen on a VLAN say of its querier.
type QuerierState uint8

// The querier states.
const (
	// QuerierPending: no query seen yet, for less time than a switch
	// keeps memberships: too early to tell.
	QuerierPending QuerierState = iota
	// QuerierPresent: a querier asked within MembershipTimeout.
	QuerierPresent
	// QuerierAbsent: no query for MembershipTimeout or longer since the
	// last query (the querier stopped) or, when none was ever seen, since
	// the first report: a snooping switch has aged the memberships out.
	QuerierAbsent
)

// QuerierStatus says what the queries on vlan tell at now, and since when
// that holds: for QuerierPresent the first query after the last silence;
// for QuerierAbsent when the silence began (the last query, or the first
// report when no query was ever seen); 0 while pending. igmp-no-querier and
// the IGMP-mode flood verdict both rest on it, so they agree.
func (t *Tables) QuerierStatus(vlan frame.VLAN, now int64) (QuerierState, int64) {
	v := t.vlans.Get(vlan)
	if v == nil {
		return QuerierPending, 0
	}
	timeout := int64(MembershipTimeout)
	// Only time some input was capturing counts: a query may have come
	// between rotated files.
	switch q := &v.queries; {
	case q.Count > 0 && t.cov.Total(q.Last, now) >= timeout:
		return QuerierAbsent, q.Last
	case q.Count > 0:
		return QuerierPresent, q.Since
	case v.reports > 0 && t.cov.Total(v.firstReport, now) >= timeout:
		return QuerierAbsent, v.firstReport
	}
	return QuerierPending, 0
}

// Check raises igmp-no-querier for VLANs where hosts report groups but no
// querier asked for longer than a snooping switch keeps memberships, or a
// querier went silent, and ends it (with the time it held) when a query
// comes. now is the current packet time. With final set (the end of a
// capture), a VLAN watched for less than that is reported as info: the
// capture is too short to know.
func (t *Tables) Check(now int64, final bool) {
	for vlan, v := range t.vlans.All() {
		if v.reports == 0 {
			continue
		}
		key, f := t.store.Episode(finding.Key{Kind: finding.IGMPNoQuerier, VLAN: uint64(vlan)})
		open := f != nil && f.End.IsZero()
		state, since := t.QuerierStatus(vlan, now)
		switch {
		case state == QuerierAbsent && open:
			// Still absent: keep the message current (the flood verdict,
			// which rests on the same status, says how long).
			f.Message, f.Remedy = t.noQuerierText(vlan, v, now, since)
		case state == QuerierAbsent:
			msg, fix := t.noQuerierText(vlan, v, now, since)
			if f != nil {
				// Past MaxEpisodes: the last episode opens again.
				f.Severity, f.Start, f.End, f.Message, f.Remedy = finding.Warning, at(since), time.Time{}, msg, fix
				t.store.Update(key)
				continue
			}
			t.store.Raise(key, finding.Finding{
				Severity: finding.Warning, Subject: "vlan " + vlan.String(), VLAN: vlan.ID(), Time: at(now), Start: at(since),
				Message: msg, Remedy: fix, Evidence: []uint64{v.firstFrame}, IPs: t.groupsOn(vlan),
			})
		case state == QuerierPresent && open && f.Severity >= finding.Warning:
			// A query came: the silence ended with it.
			end := max(since, f.Start.UnixNano())
			f.End = at(end)
			f.Message = fmt.Sprintf("no IGMP querier asked on vlan %v from %s until %s (%s), when a query came: "+
				"a snooping switch ages memberships out after %s without one and floods or drops the groups meanwhile",
				vlan, f.Start.Format(time.RFC3339Nano), f.End.Format(time.RFC3339Nano), dur(end-f.Start.UnixNano()), MembershipTimeout)
			t.store.Update(key)
		case state == QuerierPending && final && f == nil:
			t.store.Raise(key, finding.Finding{
				Severity: finding.Info, Subject: "vlan " + vlan.String(), VLAN: vlan.ID(), Time: at(now),
				Message: fmt.Sprintf("no IGMP query on vlan %v in the %s after the first report: too short to know "+
					"whether a querier exists (queries come every %s by default)", vlan, dur(t.cov.Total(v.firstReport, now)), QueryInterval),
				Remedy:   "capture for at least " + MembershipTimeout.String() + " to see the querier",
				Evidence: []uint64{v.firstFrame}, IPs: t.groupsOn(vlan),
			})
		}
	}
}

// noQuerierText is the message and remedy of an igmp-no-querier warning on
// vlan at now, silent since since.
func (t *Tables) noQuerierText(vlan frame.VLAN, v *vlanState, now, since int64) (msg, fix string) {
	silent := t.cov.Total(since, now)
	if v.queries.Count == 0 {
		return fmt.Sprintf("hosts sent %d IGMP reports on vlan %v but no querier asked in %s: "+
				"a snooping switch ages memberships out after %s and then floods or drops the groups",
				v.reports, vlan, dur(silent), MembershipTimeout),
			"enable an IGMP querier on the VLAN (Cisco " + remedy.Code(remedy.CiscoQuerier) + ", Linux bridge " +
				remedy.Code(remedy.BridgeQuerier) + "), or turn snooping off there"
	}
	msg = fmt.Sprintf("the last IGMP query on vlan %v was at %s, %s ago: the querier stopped, so memberships age out",
		vlan, at(since).Format(time.RFC3339), dur(now-since))
	if silent < now-since {
		msg = fmt.Sprintf("the last IGMP query on vlan %v was at %s, %s ago, and the inputs captured %s of that time "+
			"without one: the querier stopped, so memberships age out", vlan, at(since).Format(time.RFC3339),
			dur(now-since), dur(silent))
	}
	return msg, "check the querier (Cisco " + remedy.Code(remedy.CiscoShowQuerier) + ") or enable one on the VLAN (Cisco " +
		remedy.Code(remedy.CiscoQuerier) + ", Linux bridge " + remedy.Code(remedy.BridgeQuerier) + ")"
}

// ReportTimes returns how many IGMP reports (of any group, by any host)
// were seen on vlan and when the last one came (0: none): whether reports
// reach the capture's port at all.
func (t *Tables) ReportTimes(vlan frame.VLAN) (count uint64, last int64) {
	if v := t.vlans.Get(vlan); v != nil {
		return v.reports, v.lastReport
	}
	return 0, 0
}

// groupsOn returns the groups reported on vlan (at most 16), for the
// findings to name.
func (t *Tables) groupsOn(vlan frame.VLAN) []netip.Addr {
	var out []netip.Addr
	for k := range t.members.All() {
		g := netip.AddrFrom4(k.Group)
		if k.VLAN == vlan && !slices.Contains(out, g) && len(out) < 16 {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func at(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func dur(ns int64) time.Duration { return time.Duration(ns).Round(time.Second) }

// Membership returns the membership of member in group on vlan, or nil.
func (t *Tables) Membership(vlan frame.VLAN, group, member [4]byte) *Membership {
	return t.members.Get(MemberKey{VLAN: vlan, Group: group, Member: member})
}

// Members yields every membership.
func (t *Tables) Members() func(yield func(MemberKey, *Membership) bool) { return t.members.All() }

// Queriers yields every querier.
func (t *Tables) Queriers() func(yield func(QuerierKey, *Querier) bool) { return t.queriers.All() }

// QueriesOn returns what queries were seen on vlan.
func (t *Tables) QueriesOn(vlan frame.VLAN) QueryTimes {
	if v := t.vlans.Get(vlan); v != nil {
		return v.queries
	}
	return QueryTimes{}
}

// Evicted returns how many memberships, queriers and VLANs were evicted.
func (t *Tables) Evicted() uint64 {
	return t.members.Evicted() + t.queriers.Evicted() + t.vlans.Evicted()
}

// GroupOf returns 239.255.Y.Z as the [4]byte key used here.
func GroupOf(clusterIP netip.Addr) [4]byte { return addr.IGMPGroup(clusterIP).As4() }
