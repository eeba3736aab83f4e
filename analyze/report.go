package analyze

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/arp"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/igmp"
	"github.com/nlbprobe/nlbprobe/analyze/nlb"
	"github.com/nlbprobe/nlbprobe/analyze/timeline"
)

// Report is the outcome of an analysis, in the shape of the JSON contract
// (analyze/report/schema/report.schema.json; its rules are in
// analyze/design.md, "The machine-readable contract"): the names of its
// fields are stable; fields may be added.
//
// Empty values are present, so consumers can index them: lists are never
// nil in JSON ([], see report.WriteJSON), unknown strings and addresses are
// "", numbers not captured are null (pointers); only times that do not
// apply are left out (omitzero).
type Report struct {
	// NLBProbeVersion is the version of the nlbprobe build that made the
	// report; the caller fills it (the engine knows no build).
	NLBProbeVersion string  `json:"nlbprobe_version"`
	Tool            string  `json:"tool"`
	Vantage         Vantage `json:"vantage"`
	// Partial says the run stopped before the end of its input (Ctrl-C,
	// a read error): the report covers what was read before, and
	// PartialReason says why ("" when the report is whole). The caller
	// fills them.
	Partial       bool   `json:"partial"`
	PartialReason string `json:"partial_reason"`
	// Inputs describes the capture files or interface; the caller fills it.
	Inputs     []Input           `json:"inputs"`
	Capture    CaptureSpan       `json:"capture"`
	Clusters   []Cluster         `json:"clusters"`
	Bindings   []Binding         `json:"bindings"`
	IGMPGroups []IGMPGroup       `json:"igmp_groups"`
	Queriers   []Querier         `json:"igmp_queriers"`
	Flood      []Flood           `json:"flood"`
	Findings   []finding.Finding `json:"findings"`
	Stats      Stats             `json:"stats"`

	// Timeline is the time axis of the per-bucket histories attached to
	// hosts, cluster MACs, bindings, IGMP members and queriers (their
	// Activity and History fields), which the HTML report draws. Like
	// them it is not part of the JSON report; a status snapshot has none.
	Timeline TimelineAxis `json:"-"`
}

// TimelineAxis is the geometry the histories of a report share: bucket i
// of an Activity covers [Start + i*Bucket, Start + (i+1)*Bucket).
type TimelineAxis struct {
	Start   time.Time
	Bucket  time.Duration // a second, doubled as often as a long capture needed
	Buckets int           // buckets in use
	// SeriesOmitted and EventsDropped count what the timeline's limits
	// kept out (hosts, MACs or queriers without a history; changes not
	// recorded).
	SeriesOmitted, EventsDropped uint64
}

// HostEventKind says what happened to a host.
type HostEventKind uint8

// The host events.
const (
	HostGap        HostEventKind = iota // no heartbeat from Start to End (End zero: still silent at the end)
	HostMACChange                       // heartbeats from a new MAC at Start: FromMAC to ToMAC
	HostModeChange                      // heartbeats in a new mode at Start: FromMode to ToMode
)

// HostEvent is a gap in a host's heartbeats or a change of its MAC or
// mode.
type HostEvent struct {
	Kind             HostEventKind
	Start, End       time.Time
	Frame            uint64 // the heartbeat that ended the gap or showed the change
	FromMAC, ToMAC   addr.MAC
	FromMode, ToMode addr.Mode
}

// BindingChange is a move of an IP's ARP binding to another MAC.
type BindingChange struct {
	Time     time.Time
	Frame    uint64
	From, To addr.MAC
}

// IGMPEvent is a member joining (reporting, first or after a leave) or
// leaving its group.
type IGMPEvent struct {
	Time  time.Time
	Frame uint64
	Join  bool
}

// Input is one capture source of a run.
type Input struct {
	Path      string   `json:"path"`
	Format    string   `json:"format"`
	LinkTypes []string `json:"link_types"`
	Snaplen   uint32   `json:"snaplen"` // 0: not known
	// Sections counts the file headers of the input: more than 1 for
	// captures joined with cat, read one after the other.
	Sections int `json:"sections"`
	// Frames counts the frames read from the input, DuplicatesDropped
	// those of them dropped as copies of another input's frames.
	Frames            uint64 `json:"frames"`
	DuplicatesDropped uint64 `json:"duplicates_dropped"`
	TruncatedAtEnd    bool   `json:"truncated_at_end"`
	Error             string `json:"error"`
	// Start and End are the times of the input's first and last frame
	// (capinfos' earliest and latest packet time): when it was
	// capturing. Absent for an input without time stamped frames and for
	// a live capture.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// CaptureSpan is the time the frames cover.
type CaptureSpan struct {
	Start           time.Time `json:"start,omitzero"`
	End             time.Time `json:"end,omitzero"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Uncovered are the stretches of that time no input covers, with
	// several inputs that do not follow each other (rotated files with a
	// pause between them): no heartbeat gap, rate or wait for a query
	// counts them. Empty when the inputs cover the whole time.
	Uncovered []TimeSpan `json:"uncovered"`
}

// TimeSpan is a stretch of time.
type TimeSpan struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
}

// Cluster is one NLB cluster IP on one VLAN.
type Cluster struct {
	ClusterIP  netip.Addr  `json:"cluster_ip"`
	Mode       addr.Mode   `json:"mode"`
	VLAN       uint16      `json:"vlan"`
	SVLAN      uint16      `json:"svlan"`
	RemoteSpan *RemoteSpan `json:"remote_span,omitempty"` // nil for frames captured directly
	ClusterMAC addr.MAC    `json:"cluster_mac"`           // zero ("") when the mode is unknown
	IGMPGroup  netip.Addr  `json:"igmp_group"`            // zero ("") unless in IGMP mode
	// ModeBasis says what the mode was read from.
	ModeBasis  string    `json:"mode_basis"`
	Heartbeats uint64    `json:"heartbeats"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	Hosts      []Host    `json:"hosts"`
	// HostsDropped counts hosts beyond the per-cluster limit.
	HostsDropped uint64 `json:"hosts_dropped"`
	// Declared is set for a cluster IP given with --cluster.
	Declared bool `json:"declared"`
}

// Host is one host of a cluster.
type Host struct {
	Priority uint32 `json:"priority"`
	// DedicatedIP is empty when the heartbeats were cut before it.
	DedicatedIP netip.Addr `json:"dedicated_ip"`
	MAC         addr.MAC   `json:"mac"`
	// MACs lists every source MAC seen, in the order seen: more than one
	// after a migration to another NIC.
	MACs    []addr.MAC `json:"macs"`
	Mode    addr.Mode  `json:"mode"`
	Version string     `json:"version"`
	// HostName and IPs come from extended heartbeats ("" and empty when
	// none was captured); they are the sender's words, not checked.
	HostName   string       `json:"host_name"`
	IPs        []netip.Addr `json:"ips"`
	Heartbeats uint64       `json:"heartbeats"`
	// HeartbeatRate is membership heartbeats per second between the first
	// and the last (NLB sends one a second by default).
	HeartbeatRate float64   `json:"heartbeat_rate"`
	PeriodSeconds float64   `json:"heartbeat_period_seconds"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	// ConvergenceState is nil (null) when not captured.
	ConvergenceState *uint16 `json:"convergence_state"`
	// PortRules is the number of port rules the host announces, nil (null)
	// when not captured; PortRuleDigest hashes their codes (FNV-1a) when
	// all were captured, so hosts can be compared ("" otherwise).
	PortRules      *uint16 `json:"port_rules"`
	PortRuleDigest string  `json:"port_rule_digest"`
	Gaps           uint32  `json:"gaps"`
	LongestGapSecs float64 `json:"longest_gap_seconds"`
	// Truncated is set when heartbeats were cut; CapturedBytes is the
	// fewest payload bytes one kept (0 when none was cut), and Inferred
	// says what was read from the addresses instead ("" when nothing).
	Truncated     bool   `json:"truncated"`
	CapturedBytes int    `json:"heartbeat_bytes_captured"`
	Inferred      string `json:"inferred"`

	// With several inputs, what they could not tell of the host (text and
	// HTML report): UnknownAfter, when set, is when UnknownAfterInput, the
	// last input that hears the host, stopped capturing, soon after the
	// host's last heartbeat, so whether it went on is not known (and no
	// heartbeat-gap says it left); UnknownBefore is when
	// UnknownBeforeInput, the first input that carried its heartbeats,
	// began, just before its first one, so whether it was up before is
	// not known.
	UnknownAfter       time.Time `json:"-"`
	UnknownAfterInput  string    `json:"-"`
	UnknownBefore      time.Time `json:"-"`
	UnknownBeforeInput string    `json:"-"`

	// Activity counts the host's membership heartbeats per bucket of the
	// report's Timeline, nil when the timeline kept none for it; Events
	// are its gaps and changes in time order (HTML report only).
	Activity []uint32    `json:"-"`
	Events   []HostEvent `json:"-"`
}

// Binding is one IP's ARP history on a VLAN.
type Binding struct {
	VLAN       uint16       `json:"vlan"`
	SVLAN      uint16       `json:"svlan"`
	RemoteSpan *RemoteSpan  `json:"remote_span,omitempty"` // nil for frames captured directly
	IP         netip.Addr   `json:"ip"`
	MAC        addr.MAC     `json:"mac"`
	NLB        string       `json:"nlb"` // what an NLB-form MAC means here, "" for others
	FirstSeen  time.Time    `json:"first_seen"`
	LastSeen   time.Time    `json:"last_seen"`
	Count      uint64       `json:"count"`
	Changes    uint32       `json:"changes"`
	Flips      uint32       `json:"flips"`
	MACs       []BindingMAC `json:"macs"`
	// History is every change of MAC the timeline recorded, in time order
	// (HTML report only).
	History []BindingChange `json:"-"`
}

// BindingMAC is one MAC an IP was bound to.
type BindingMAC struct {
	MAC       addr.MAC  `json:"mac"`
	Form      addr.Form `json:"form"`
	EthSource addr.MAC  `json:"ethernet_source"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     uint64    `json:"count"`
	// FirstFrame is the first frame that announced this MAC.
	FirstFrame uint64 `json:"first_frame"`
}

// IGMPGroup is one multicast group on a VLAN.
type IGMPGroup struct {
	VLAN       uint16       `json:"vlan"`
	SVLAN      uint16       `json:"svlan"`
	RemoteSpan *RemoteSpan  `json:"remote_span,omitempty"` // nil for frames captured directly
	Group      netip.Addr   `json:"group"`
	NLBCluster netip.Addr   `json:"nlb_cluster"` // "" unless an IGMP-mode cluster's group
	Members    []IGMPMember `json:"members"`
}

// IGMPMember is one host's membership.
type IGMPMember struct {
	IP        netip.Addr `json:"ip"`
	MAC       addr.MAC   `json:"mac"`
	Version   uint8      `json:"version"`
	Reports   uint64     `json:"reports"`
	FirstSeen time.Time  `json:"first_seen"`
	LastSeen  time.Time  `json:"last_seen"`
	Left      bool       `json:"left"`
	// Active is what a snooping switch would still hold at the end of the
	// capture: reported within the last igmp.MembershipTimeout and not left.
	Active      bool `json:"active"`
	WithSources bool `json:"with_sources"`
	// History is the member's joins and leaves of an NLB group
	// (239.255.Y.Z) in time order (HTML report only).
	History []IGMPEvent `json:"-"`
}

// State says in a word where the membership stands at the end of the
// capture: "active", "left" (a leave or an exclude-all record) or
// "expired" (no report within igmp.MembershipTimeout).
func (m *IGMPMember) State() string {
	switch {
	case m.Left:
		return "left"
	case !m.Active:
		return "expired"
	}
	return "active"
}

// Querier is one IGMP querier.
type Querier struct {
	VLAN            uint16      `json:"vlan"`
	SVLAN           uint16      `json:"svlan"`
	RemoteSpan      *RemoteSpan `json:"remote_span,omitempty"` // nil for frames captured directly
	IP              netip.Addr  `json:"ip"`
	MAC             addr.MAC    `json:"mac"`
	Version         uint8       `json:"version"`
	Queries         uint64      `json:"queries"`
	GeneralQueries  uint64      `json:"general_queries"`
	IntervalSeconds float64     `json:"interval_seconds"` // 0 before a second general query
	MaxRespSeconds  float64     `json:"max_response_seconds"`
	FirstSeen       time.Time   `json:"first_seen"`
	LastSeen        time.Time   `json:"last_seen"`
	// Activity counts queries per bucket of the report's Timeline (HTML
	// report only).
	Activity []uint32 `json:"-"`
}

// Flood is the traffic to one cluster MAC and the verdict on it.
type Flood struct {
	VLAN       uint16      `json:"vlan"`
	SVLAN      uint16      `json:"svlan"`
	RemoteSpan *RemoteSpan `json:"remote_span,omitempty"` // nil for frames captured directly
	MAC        addr.MAC    `json:"mac"`
	Form       addr.Form   `json:"form"`
	ClusterIP  netip.Addr  `json:"cluster_ip"` // "" when no cluster IP is known for the MAC
	Frames     uint64      `json:"frames"`
	Bytes      uint64      `json:"bytes"`
	Heartbeats uint64      `json:"heartbeats"`
	FPS        float64     `json:"frames_per_second"`
	BPS        float64     `json:"bytes_per_second"`
	PeakFPS    uint64      `json:"peak_frames_per_second"`
	FirstSeen  time.Time   `json:"first_seen"`
	LastSeen   time.Time   `json:"last_seen"`
	// Verdict is one of Verdicts; Basis (one of Bases) says what it rests
	// on, and Reason says why in a sentence.
	Verdict string `json:"verdict"`
	Basis   string `json:"basis"`
	Reason  string `json:"reason"`
	// Activity counts frames per bucket of the report's Timeline (HTML
	// report only).
	Activity []uint32 `json:"-"`
}

// Stats counts what went through the engine.
type Stats struct {
	Frames        uint64 `json:"frames"`
	Bytes         uint64 `json:"bytes"`
	CapturedBytes uint64 `json:"captured_bytes"`
	Protocols     struct {
		ARP      uint64 `json:"arp"`
		ARPOther uint64 `json:"arp_other"`
		IPv4     uint64 `json:"ipv4"`
		IGMP     uint64 `json:"igmp"`
		// The names are the metrics' protocol label values.
		Heartbeats uint64 `json:"nlb_heartbeat"`
		NLBUnknown uint64 `json:"nlb_unknown"` // ethertype 0x886F without an NLB signature
		Other      uint64 `json:"other"`
		VLANTagged uint64 `json:"vlan_tagged"`
		// ClusterMAC counts frames to NLB cluster MACs.
		ClusterMAC uint64 `json:"to_cluster_macs"`
	} `json:"protocols"`
	Malformed           uint64 `json:"malformed"`
	Truncated           uint64 `json:"truncated"`
	TruncatedHeartbeats uint64 `json:"truncated_heartbeats"`
	Unsupported         uint64 `json:"unsupported_link_type"`
	Unattributed        uint64 `json:"unattributed_heartbeats"`
	// ARPOtherOpcodes counts ARP frames (in Protocols.ARP) that are
	// neither requests nor replies: RARP, InARP... They bind nothing.
	ARPOtherOpcodes uint64 `json:"arp_other_opcodes"`
	KernelDrops     uint64 `json:"kernel_drops"`
	// DuplicatesDropped counts the frames of several inputs dropped as
	// copies of frames another input had (the caller fills it): Frames
	// is the inputs' frames less these.
	DuplicatesDropped uint64 `json:"duplicates_dropped"`
	// AfterTimeJump counts the frames at and after a time jump no capture
	// can have (capture-time-jump), counted in Frames but not analyzed.
	AfterTimeJump uint64    `json:"after_time_jump"`
	Evicted       Evictions `json:"evicted"`
	// Encapsulated counts the frames that came through a remote span
	// (ERSPAN, VXLAN); the other counters count the frames they carried.
	Encapsulated Encapsulations `json:"encapsulated"`
}

// Encapsulations counts frames by the remote span that carried them.
type Encapsulations struct {
	ERSPANI   uint64 `json:"erspan_i"`
	ERSPANII  uint64 `json:"erspan_ii"`
	ERSPANIII uint64 `json:"erspan_iii"`
	VXLAN     uint64 `json:"vxlan"`
}

// Total returns the frames of every encapsulation.
func (c Encapsulations) Total() uint64 { return c.ERSPANI + c.ERSPANII + c.ERSPANIII + c.VXLAN }

// Evictions counts entries each table dropped to stay within its limit.
type Evictions struct {
	Bindings    uint64 `json:"bindings"`
	IGMP        uint64 `json:"igmp"`
	Clusters    uint64 `json:"clusters"`
	ClusterMACs uint64 `json:"cluster_macs"`
	Findings    uint64 `json:"findings"`
	// DedupWindow counts frames the reader's table of recent frames
	// forgot before their dedup window closed (the caller fills it).
	DedupWindow uint64 `json:"dedup_window"`
}

func (e *Engine) evictions() Evictions {
	return Evictions{
		Bindings: e.arp.Evicted(), IGMP: e.igmp.Evicted(), Clusters: e.nlb.Evicted(),
		ClusterMACs: e.flood.Evicted(), Findings: e.store.Overflow(),
	}
}

// report builds the report; withTables adds the ARP bindings and the IGMP
// groups, the large part that a status line does without. The queriers are
// always in: the metrics need them to tell whether a VLAN's querier came back.
func (e *Engine) report(withTables bool) *Report {
	r := &Report{Tool: "nlbprobe", Vantage: e.opts.Vantage}
	r.Stats = e.stats
	r.Stats.Unattributed = e.nlb.Unattributed
	r.Stats.ARPOtherOpcodes = e.arp.OtherOpcodes
	r.Stats.Evicted = e.evictions()
	if e.stats.Frames > 0 {
		r.Capture = CaptureSpan{Start: at(e.first), End: at(e.last),
			DurationSeconds: time.Duration(e.last - e.first).Seconds()}
		if e.cov != nil {
			for _, h := range e.cov.Holes(e.first, e.last) {
				r.Capture.Uncovered = append(r.Capture.Uncovered, TimeSpan{Start: at(h.Start), End: at(h.End),
					Seconds: time.Duration(h.End - h.Start).Seconds()})
			}
		}
	}
	// The histories come with the tables: a status snapshot has neither.
	var hist *histories
	if withTables {
		hist = e.histories()
		ax := e.tl.Axis()
		r.Timeline = TimelineAxis{Start: ax.Start, Bucket: ax.Width, Buckets: ax.Buckets}
		r.Timeline.SeriesOmitted, r.Timeline.EventsDropped = e.tl.Omitted()
	}
	r.Clusters = e.clusterReports(hist)
	if withTables {
		r.Bindings = e.bindingReports(hist)
		r.IGMPGroups = e.igmpGroupReports(hist)
	}
	r.Queriers = e.querierReports(withTables)
	r.Flood = e.floodReports(hist)
	r.Findings = e.store.Findings()
	return r
}

func versionString(v uint32) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", (v>>8)&0xff, v&0xff)
}

// histories are the timeline's events, grouped by what they are about.
type histories struct {
	hosts    map[timeline.Handle][]HostEvent
	bindings map[arp.Key][]BindingChange
	members  map[igmp.MemberKey][]IGMPEvent
}

func (e *Engine) histories() *histories {
	h := &histories{hosts: map[timeline.Handle][]HostEvent{}, bindings: map[arp.Key][]BindingChange{},
		members: map[igmp.MemberKey][]IGMPEvent{}}
	for _, ev := range e.tl.Events(timeline.HostGap) {
		h.hosts[ev.Series] = append(h.hosts[ev.Series], HostEvent{Kind: HostGap, Start: at(ev.Start), End: at(ev.Time), Frame: ev.Frame})
	}
	for _, ev := range e.tl.Events(timeline.HostMACChange) {
		h.hosts[ev.Series] = append(h.hosts[ev.Series], HostEvent{Kind: HostMACChange, Start: at(ev.Time), End: at(ev.Time),
			Frame: ev.Frame, FromMAC: ev.From, ToMAC: ev.To})
	}
	for _, ev := range e.tl.Events(timeline.HostModeChange) {
		h.hosts[ev.Series] = append(h.hosts[ev.Series], HostEvent{Kind: HostModeChange, Start: at(ev.Time), End: at(ev.Time),
			Frame: ev.Frame, FromMode: ev.FromMode, ToMode: ev.ToMode})
	}
	for _, ev := range e.tl.Events(timeline.ARPChange) {
		k := arp.Key{VLAN: frame.VLAN(ev.VLAN), IP: netip.AddrFrom4(ev.IP)}
		h.bindings[k] = append(h.bindings[k], BindingChange{Time: at(ev.Time), Frame: ev.Frame, From: ev.From, To: ev.To})
	}
	for _, kind := range []timeline.EventKind{timeline.IGMPJoin, timeline.IGMPLeave} {
		for _, ev := range e.tl.Events(kind) {
			k := igmp.MemberKey{VLAN: frame.VLAN(ev.VLAN), Group: ev.IP, Member: ev.Member}
			h.members[k] = append(h.members[k], IGMPEvent{Time: at(ev.Time), Frame: ev.Frame, Join: kind == timeline.IGMPJoin})
		}
	}
	for _, evs := range h.members {
		slices.SortStableFunc(evs, func(a, b IGMPEvent) int { return cmp.Compare(a.Frame, b.Frame) })
	}
	return h
}

// hostHistory attaches a host's activity and events (with a gap still open
// at the end) to its report.
func (e *Engine) hostHistory(hr *Host, h *nlb.Host, hist *histories) {
	hr.Activity = e.tl.Counts(h.Series, 0, 0)
	hr.Events = slices.Clone(hist.hosts[h.Series])
	if since, silent := h.Silent(); silent && h.Series != 0 {
		hr.Events = append(hr.Events, HostEvent{Kind: HostGap, Start: at(since), Frame: h.LastFrame})
	}
	slices.SortStableFunc(hr.Events, func(a, b HostEvent) int { return a.Start.Compare(b.Start) })
}

func (e *Engine) clusterReports(hist *histories) []Cluster {
	out := []Cluster{}
	for k, c := range e.nlb.Clusters() {
		mode := c.Mode()
		cr := Cluster{
			ClusterIP: k.IP, Mode: mode, VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), RemoteSpan: finding.RemoteSpanOf(k.VLAN),
			Heartbeats: c.Heartbeats, FirstSeen: at(c.First), LastSeen: at(c.Last),
			HostsDropped: c.HostsDropped, Declared: slices.Contains(e.opts.Clusters, k.IP),
		}
		if mac, ok := addr.ClusterMAC(mode, k.IP); ok {
			cr.ClusterMAC = mac
		}
		if mode == addr.ModeIGMP {
			cr.IGMPGroup = addr.IGMPGroup(k.IP)
		}
		cr.ModeBasis = modeBasis(mode, k.IP)
		for i := range c.Hosts {
			hr := e.hostReport(c, &c.Hosts[i])
			if hist != nil {
				e.hostHistory(&hr, &c.Hosts[i], hist)
			}
			cr.Hosts = append(cr.Hosts, hr)
		}
		slices.SortFunc(cr.Hosts, func(a, b Host) int {
			return cmp.Or(cmp.Compare(a.Priority, b.Priority), a.DedicatedIP.Compare(b.DedicatedIP),
				cmp.Compare(a.MAC.String(), b.MAC.String()))
		})
		out = append(out, cr)
	}
	slices.SortFunc(out, func(a, b Cluster) int {
		return cmp.Or(compareSpan(a.RemoteSpan, b.RemoteSpan), cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), a.ClusterIP.Compare(b.ClusterIP))
	})
	return out
}

func modeBasis(m addr.Mode, ip netip.Addr) string {
	switch m {
	case addr.ModeUnicast:
		return "heartbeats to ff:ff:ff:ff:ff:ff from masked sources 02:P:" + addr.MaskedSource(0, ip).String()[6:]
	case addr.ModeMulticast, addr.ModeIGMP:
		mac, _ := addr.ClusterMAC(m, ip)
		return "heartbeats to the cluster MAC " + mac.String()
	}
	return "heartbeat destination not captured or not an NLB form"
}

func (e *Engine) hostReport(c *nlb.Cluster, h *nlb.Host) Host {
	hr := Host{
		Priority: h.Priority, DedicatedIP: h.Dedicated, MAC: h.MAC, Mode: h.Mode,
		Version: versionString(h.Version), HostName: h.HostName, Heartbeats: h.Heartbeats,
		FirstSeen: at(h.First), LastSeen: at(h.Last),
		PeriodSeconds: time.Duration(h.Period).Seconds(),
		Gaps:          h.Gaps, LongestGapSecs: time.Duration(h.LongestGap).Seconds(),
		Truncated: h.Truncated > 0, CapturedBytes: h.MinCaptured,
	}
	hr.MACs = slices.Clone(h.MACs[:h.NumMACs])
	hr.IPs = slices.Clone(h.IPs[:h.NumIPs])
	// Over the time an input that hears the host was capturing: not the
	// time between rotated files.
	_, heard := e.nlb.Listened(c, h, h.First, h.Last)
	if span := time.Duration(heard).Seconds(); h.Heartbeats > 1 && span > 0 {
		hr.HeartbeatRate = float64(h.Heartbeats-1) / span
	}
	e.hostCoverage(&hr, c, h)
	if h.StateKnown {
		state, rules := h.ConvergenceState, h.NumPortRules
		hr.ConvergenceState, hr.PortRules = &state, &rules
	}
	if h.DigestKnown {
		hr.PortRuleDigest = fmt.Sprintf("%08x", h.RuleDigest)
	}
	if h.FromMAC {
		hr.Inferred = "cluster IP and priority from the masked source MAC (heartbeat cut before them)"
	}
	return hr
}

// hostCoverage says, with several inputs, what they could not tell of
// host h of cluster c: that its heartbeats stop soon before the last
// input that hears it stopped capturing, or start soon after the first
// began.
func (e *Engine) hostCoverage(hr *Host, c *nlb.Cluster, h *nlb.Host) {
	if e.cov == nil || h.Heartbeats == 0 {
		return
	}
	tol := nlb.Tolerance * h.Period
	if _, silent := h.Silent(); !silent && e.last-h.Last > tol {
		// Silent at the end, and no gap said so: the inputs that hear it
		// were not capturing long enough after its last heartbeat.
		end, who := int64(math.MinInt64), -1
		for i := range e.cov.Len() {
			_, iend, started, ended := e.cov.Span(i)
			if !started || !e.nlb.Hears(c, h, i) {
				continue
			}
			if !ended {
				iend = e.last
			}
			if iend > end {
				end, who = iend, i
			}
		}
		if who >= 0 {
			hr.UnknownAfter, hr.UnknownAfterInput = at(end), e.cov.Name(who)
		}
	}
	if h.First-e.first > tol {
		start, who := int64(math.MaxInt64), -1
		for i := range e.cov.Len() {
			istart, _, started, _ := e.cov.Span(i)
			if started && h.Inputs.Has(i) && istart < start {
				start, who = istart, i
			}
		}
		// Heard from the start of the inputs that carry it: no input
		// that hears it was capturing long enough before to say it was
		// not up.
		if longest, _ := e.nlb.Listened(c, h, e.first, h.First); who >= 0 && longest <= tol {
			hr.UnknownBefore, hr.UnknownBeforeInput = at(start), e.cov.Name(who)
		}
	}
}

func (e *Engine) bindingReports(hist *histories) []Binding {
	out := []Binding{}
	for k, b := range e.arp.All() {
		br := Binding{
			VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), RemoteSpan: finding.RemoteSpanOf(k.VLAN), IP: k.IP, MAC: b.CurrentMAC(),
			FirstSeen: at(b.First), LastSeen: at(b.Last), Count: b.Count, Changes: b.Changes, Flips: b.Flips,
			NLB: e.bindingNote(k.VLAN, k.IP, b.CurrentMAC()), History: hist.bindings[k],
		}
		for _, m := range b.Seen() {
			br.MACs = append(br.MACs, BindingMAC{
				MAC: m.MAC, Form: addr.Classify(m.MAC).Form, EthSource: m.EthSrc,
				FirstSeen: at(m.First), LastSeen: at(m.Last), Count: m.Count, FirstFrame: m.FirstFrame,
			})
		}
		out = append(out, br)
	}
	slices.SortFunc(out, func(a, b Binding) int {
		return cmp.Or(compareSpan(a.RemoteSpan, b.RemoteSpan), cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), a.IP.Compare(b.IP))
	})
	return out
}

// bindingNote explains an NLB-form MAC bound to ip.
func (e *Engine) bindingNote(vlan frame.VLAN, ip netip.Addr, mac addr.MAC) string {
	f := addr.Classify(mac)
	if !f.Form.IsCluster() {
		return ""
	}
	mode := f.Form.Mode()
	if f.Encodes(ip) {
		return fmt.Sprintf("%s cluster MAC of %v", mode, ip)
	}
	if _, c := e.liveCluster(vlan, f); c != nil {
		if isDedicated(c, ip) {
			return fmt.Sprintf("dedicated IP of a host of %s cluster %s", mode, embedded(f))
		}
		return fmt.Sprintf("additional VIP of %s cluster %s", mode, embedded(f))
	}
	return fmt.Sprintf("%s cluster MAC of %s, another IP", mode, embedded(f))
}

func (e *Engine) igmpGroupReports(hist *histories) []IGMPGroup {
	type gk struct {
		vlan  frame.VLAN
		group [4]byte
	}
	groups := map[gk]*IGMPGroup{}
	var order []gk
	for k, m := range e.igmp.Members() {
		g := gk{k.VLAN, k.Group}
		gr, ok := groups[g]
		if !ok {
			gr = &IGMPGroup{VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), RemoteSpan: finding.RemoteSpanOf(k.VLAN), Group: netip.AddrFrom4(k.Group)}
			for ck := range e.nlb.Clusters() {
				if ck.VLAN == k.VLAN && addr.IGMPGroup(ck.IP) == gr.Group {
					gr.NLBCluster = ck.IP
				}
			}
			groups[g] = gr
			order = append(order, g)
		}
		gr.Members = append(gr.Members, IGMPMember{
			IP: netip.AddrFrom4(k.Member), MAC: m.MAC, Version: m.Version, Reports: m.Reports,
			FirstSeen: at(m.First), LastSeen: at(m.Last), Left: m.Left, WithSources: m.WithSources,
			Active:  !m.Left && e.last-m.Last < int64(igmp.MembershipTimeout),
			History: hist.members[k],
		})
	}
	outG := make([]IGMPGroup, 0, len(order))
	for _, g := range order {
		gr := groups[g]
		slices.SortFunc(gr.Members, func(a, b IGMPMember) int { return a.IP.Compare(b.IP) })
		outG = append(outG, *gr)
	}
	slices.SortFunc(outG, func(a, b IGMPGroup) int {
		return cmp.Or(compareSpan(a.RemoteSpan, b.RemoteSpan), cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), a.Group.Compare(b.Group))
	})
	return outG
}

// querierReports lists the IGMP queriers: a few per VLAN at most, cheap
// enough for every snapshot. withActivity adds each querier's history for
// the HTML timeline, which only a full report carries.
func (e *Engine) querierReports(withActivity bool) []Querier {
	outQ := []Querier{}
	for k, q := range e.igmp.Queriers() {
		maxResp := float64(q.MaxRespTenths) / 10
		if q.Version == 1 {
			maxResp = 10
		}
		outQ = append(outQ, Querier{
			VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), RemoteSpan: finding.RemoteSpanOf(k.VLAN), IP: netip.AddrFrom4(k.IP), MAC: q.MAC, Version: q.Version,
			Queries: q.Queries, GeneralQueries: q.General, IntervalSeconds: time.Duration(q.Interval).Round(time.Millisecond).Seconds(),
			MaxRespSeconds: maxResp, FirstSeen: at(q.First), LastSeen: at(q.Last),
		})
		if withActivity {
			outQ[len(outQ)-1].Activity = e.tl.Counts(q.Series, 0, 0)
		}
	}
	slices.SortFunc(outQ, func(a, b Querier) int {
		return cmp.Or(compareSpan(a.RemoteSpan, b.RemoteSpan), cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), a.IP.Compare(b.IP))
	})
	return outQ
}

func (e *Engine) floodReports(hist *histories) []Flood {
	out := []Flood{}
	for k, c := range e.flood.All() {
		f := addr.Classify(k.MAC)
		fps, bps, peak, _ := c.RatesOver(e.cov.Total(c.First, c.Last))
		v := e.verdictFor(k.VLAN, k.MAC, c.Frames)
		fr := Flood{
			VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), RemoteSpan: finding.RemoteSpanOf(k.VLAN), MAC: k.MAC, Form: f.Form,
			Frames: c.Frames, Bytes: c.Bytes, Heartbeats: c.Heartbeats,
			FPS: round2(fps), BPS: round2(bps), PeakFPS: peak,
			FirstSeen: at(c.First), LastSeen: at(c.Last), Verdict: v.verdict, Basis: v.basis, Reason: v.reason,
		}
		fr.ClusterIP = e.clusterIPOf(k.VLAN, k.MAC, c.DstIP)
		if hist != nil {
			fr.Activity = e.flood.Activity(c)
		}
		out = append(out, fr)
	}
	slices.SortFunc(out, func(a, b Flood) int {
		return cmp.Or(compareSpan(a.RemoteSpan, b.RemoteSpan), cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), cmp.Compare(a.MAC.String(), b.MAC.String()))
	})
	return out
}

// RemoteSpan names the remote-span session (ERSPAN, VXLAN) an entry's
// frames came through; absent for frames seen directly.
type RemoteSpan = finding.RemoteSpan

// compareSpan orders the entries seen directly first, then by session.
func compareSpan(a, b *RemoteSpan) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
