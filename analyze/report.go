package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/nlb"
)

// Report is the outcome of an analysis, in the shape of the JSON contract
// in design.md: the names of its fields are stable; fields may be added.
type Report struct {
	Tool    string  `json:"tool"`
	Vantage Vantage `json:"vantage"`
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
}

// Input is one capture source of a run.
type Input struct {
	Path      string   `json:"path"`
	Format    string   `json:"format"`
	LinkTypes []string `json:"link_types"`
	Snaplen   uint32   `json:"snaplen,omitempty"`
	// Sections counts the file headers of the input: more than 1 for
	// captures joined with cat, read one after the other.
	Sections int `json:"sections"`
	// Frames counts the frames read from the input, DuplicatesDropped
	// those of them dropped as copies of another input's frames.
	Frames            uint64 `json:"frames"`
	DuplicatesDropped uint64 `json:"duplicates_dropped"`
	TruncatedAtEnd    bool   `json:"truncated_at_end,omitempty"`
	Error             string `json:"error,omitempty"`
}

// CaptureSpan is the time the frames cover.
type CaptureSpan struct {
	Start           time.Time `json:"start,omitzero"`
	End             time.Time `json:"end,omitzero"`
	DurationSeconds float64   `json:"duration_seconds"`
}

// Cluster is one NLB cluster IP on one VLAN.
type Cluster struct {
	ClusterIP  netip.Addr `json:"cluster_ip"`
	Mode       addr.Mode  `json:"mode"`
	VLAN       uint16     `json:"vlan"`
	SVLAN      uint16     `json:"svlan,omitempty"`
	ClusterMAC addr.MAC   `json:"cluster_mac,omitzero"`
	IGMPGroup  netip.Addr `json:"igmp_group,omitzero"`
	// ModeBasis says what the mode was read from.
	ModeBasis  string    `json:"mode_basis"`
	Heartbeats uint64    `json:"heartbeats"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	Hosts      []Host    `json:"hosts"`
	// HostsDropped counts hosts beyond the per-cluster limit.
	HostsDropped uint64 `json:"hosts_dropped,omitempty"`
	Declared     bool   `json:"declared,omitempty"`
}

// Host is one host of a cluster.
type Host struct {
	Priority uint32 `json:"priority"`
	// DedicatedIP is empty when the heartbeats were cut before it.
	DedicatedIP netip.Addr `json:"dedicated_ip"`
	MAC         addr.MAC   `json:"mac"`
	// MACs lists every source MAC seen, when there was more than one (a
	// migration to another NIC).
	MACs       []addr.MAC   `json:"macs,omitempty"`
	Mode       addr.Mode    `json:"mode"`
	Version    string       `json:"version,omitempty"`
	HostName   string       `json:"host_name,omitempty"`
	IPs        []netip.Addr `json:"ips,omitempty"`
	Heartbeats uint64       `json:"heartbeats"`
	// HeartbeatRate is membership heartbeats per second between the first
	// and the last (NLB sends one a second by default).
	HeartbeatRate    float64   `json:"heartbeat_rate"`
	PeriodSeconds    float64   `json:"heartbeat_period_seconds"`
	FirstSeen        time.Time `json:"first_seen"`
	LastSeen         time.Time `json:"last_seen"`
	ConvergenceState *uint16   `json:"convergence_state,omitempty"`
	// PortRules is the number of port rules the host announces, absent
	// when not captured; PortRuleDigest hashes their codes (FNV-1a) when
	// all were captured, so hosts can be compared.
	PortRules      *uint16 `json:"port_rules,omitempty"`
	PortRuleDigest string  `json:"port_rule_digest,omitempty"`
	Gaps           uint32  `json:"gaps,omitempty"`
	LongestGapSecs float64 `json:"longest_gap_seconds,omitempty"`
	// Truncated is set when heartbeats were cut; CapturedBytes is the
	// fewest payload bytes one kept, and Inferred says what was read from
	// the addresses instead.
	Truncated     bool   `json:"truncated,omitempty"`
	CapturedBytes int    `json:"heartbeat_bytes_captured,omitempty"`
	Inferred      string `json:"inferred,omitempty"`
}

// Binding is one IP's ARP history on a VLAN.
type Binding struct {
	VLAN      uint16       `json:"vlan"`
	SVLAN     uint16       `json:"svlan,omitempty"`
	IP        netip.Addr   `json:"ip"`
	MAC       addr.MAC     `json:"mac"`
	NLB       string       `json:"nlb,omitempty"`
	FirstSeen time.Time    `json:"first_seen"`
	LastSeen  time.Time    `json:"last_seen"`
	Count     uint64       `json:"count"`
	Changes   uint32       `json:"changes"`
	Flips     uint32       `json:"flips"`
	MACs      []BindingMAC `json:"macs"`
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
	SVLAN      uint16       `json:"svlan,omitempty"`
	Group      netip.Addr   `json:"group"`
	NLBCluster netip.Addr   `json:"nlb_cluster,omitzero"`
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
	Left      bool       `json:"left,omitempty"`
	// Active is what a snooping switch would still hold at the end of the
	// capture: reported within the last 260 s and not left.
	Active      bool `json:"active"`
	WithSources bool `json:"with_sources,omitempty"`
}

// Querier is one IGMP querier.
type Querier struct {
	VLAN            uint16     `json:"vlan"`
	SVLAN           uint16     `json:"svlan,omitempty"`
	IP              netip.Addr `json:"ip"`
	MAC             addr.MAC   `json:"mac"`
	Version         uint8      `json:"version"`
	Queries         uint64     `json:"queries"`
	GeneralQueries  uint64     `json:"general_queries"`
	IntervalSeconds float64    `json:"interval_seconds,omitempty"`
	MaxRespSeconds  float64    `json:"max_response_seconds"`
	FirstSeen       time.Time  `json:"first_seen"`
	LastSeen        time.Time  `json:"last_seen"`
}

// Flood is the traffic to one cluster MAC and the verdict on it.
type Flood struct {
	VLAN       uint16     `json:"vlan"`
	SVLAN      uint16     `json:"svlan,omitempty"`
	MAC        addr.MAC   `json:"mac"`
	Form       addr.Form  `json:"form"`
	ClusterIP  netip.Addr `json:"cluster_ip,omitzero"`
	Frames     uint64     `json:"frames"`
	Bytes      uint64     `json:"bytes"`
	Heartbeats uint64     `json:"heartbeats"`
	FPS        float64    `json:"frames_per_second"`
	BPS        float64    `json:"bytes_per_second"`
	PeakFPS    uint64     `json:"peak_frames_per_second"`
	FirstSeen  time.Time  `json:"first_seen"`
	LastSeen   time.Time  `json:"last_seen"`
	Verdict    string     `json:"verdict"`
	Basis      string     `json:"basis"`
}

// Stats counts what went through the engine.
type Stats struct {
	Frames        uint64 `json:"frames"`
	Bytes         uint64 `json:"bytes"`
	CapturedBytes uint64 `json:"captured_bytes"`
	Protocols     struct {
		ARP        uint64 `json:"arp"`
		ARPOther   uint64 `json:"arp_other"`
		IPv4       uint64 `json:"ipv4"`
		IGMP       uint64 `json:"igmp"`
		Heartbeats uint64 `json:"nlb_heartbeats"`
		NLBUnknown uint64 `json:"nlb_unknown_886f"`
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
	KernelDrops         uint64 `json:"kernel_drops"`
	// DuplicatesDropped counts the frames of several inputs dropped as
	// copies of frames another input had (the caller fills it): Frames
	// is the inputs' frames less these.
	DuplicatesDropped uint64 `json:"duplicates_dropped"`
	// AfterTimeJump counts the frames at and after a time jump no capture
	// can have (capture-time-jump), counted in Frames but not analyzed.
	AfterTimeJump uint64    `json:"after_time_jump"`
	Evicted       Evictions `json:"evicted"`
}

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
// tables, the large part that a status line does without.
func (e *Engine) report(withTables bool) *Report {
	r := &Report{Tool: "nlbprobe", Vantage: e.opts.Vantage}
	r.Stats = e.stats
	r.Stats.Unattributed = e.nlb.Unattributed
	r.Stats.Evicted = e.evictions()
	if e.stats.Frames > 0 {
		r.Capture = CaptureSpan{Start: at(e.first), End: at(e.last),
			DurationSeconds: time.Duration(e.last - e.first).Seconds()}
	}
	r.Clusters = e.clusterReports()
	if withTables {
		r.Bindings = e.bindingReports()
		r.IGMPGroups, r.Queriers = e.igmpReports()
	}
	r.Flood = e.floodReports()
	r.Findings = e.store.Findings()
	return r
}

func versionString(v uint32) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", (v>>8)&0xff, v&0xff)
}

func (e *Engine) clusterReports() []Cluster {
	out := []Cluster{}
	for k, c := range e.nlb.Clusters() {
		mode := c.Mode()
		cr := Cluster{
			ClusterIP: k.IP, Mode: mode, VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(),
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
			cr.Hosts = append(cr.Hosts, hostReport(&c.Hosts[i]))
		}
		slices.SortFunc(cr.Hosts, func(a, b Host) int {
			return cmp.Or(cmp.Compare(a.Priority, b.Priority), a.DedicatedIP.Compare(b.DedicatedIP),
				cmp.Compare(a.MAC.String(), b.MAC.String()))
		})
		out = append(out, cr)
	}
	slices.SortFunc(out, func(a, b Cluster) int {
		return cmp.Or(cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), a.ClusterIP.Compare(b.ClusterIP))
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

func hostReport(h *nlb.Host) Host {
	hr := Host{
		Priority: h.Priority, DedicatedIP: h.Dedicated, MAC: h.MAC, Mode: h.Mode,
		Version: versionString(h.Version), HostName: h.HostName, Heartbeats: h.Heartbeats,
		FirstSeen: at(h.First), LastSeen: at(h.Last),
		PeriodSeconds: time.Duration(h.Period).Seconds(),
		Gaps:          h.Gaps, LongestGapSecs: time.Duration(h.LongestGap).Seconds(),
		Truncated: h.Truncated > 0, CapturedBytes: h.MinCaptured,
	}
	if h.NumMACs > 1 {
		hr.MACs = slices.Clone(h.MACs[:h.NumMACs])
	}
	if h.NumIPs > 0 {
		hr.IPs = slices.Clone(h.IPs[:h.NumIPs])
	}
	if span := time.Duration(h.Last - h.First).Seconds(); h.Heartbeats > 1 && span > 0 {
		hr.HeartbeatRate = float64(h.Heartbeats-1) / span
	}
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

func (e *Engine) bindingReports() []Binding {
	out := []Binding{}
	for k, b := range e.arp.All() {
		br := Binding{
			VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), IP: k.IP, MAC: b.CurrentMAC(),
			FirstSeen: at(b.First), LastSeen: at(b.Last), Count: b.Count, Changes: b.Changes, Flips: b.Flips,
			NLB: e.bindingNote(k.VLAN, k.IP, b.CurrentMAC()),
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
		return cmp.Or(cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), a.IP.Compare(b.IP))
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

func (e *Engine) igmpReports() ([]IGMPGroup, []Querier) {
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
			gr = &IGMPGroup{VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), Group: netip.AddrFrom4(k.Group)}
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
			Active: !m.Left && e.last-m.Last < int64(260*time.Second),
		})
	}
	outG := make([]IGMPGroup, 0, len(order))
	for _, g := range order {
		gr := groups[g]
		slices.SortFunc(gr.Members, func(a, b IGMPMember) int { return a.IP.Compare(b.IP) })
		outG = append(outG, *gr)
	}
	slices.SortFunc(outG, func(a, b IGMPGroup) int {
		return cmp.Or(cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), a.Group.Compare(b.Group))
	})
	outQ := []Querier{}
	for k, q := range e.igmp.Queriers() {
		maxResp := float64(q.MaxResp) / 10
		if q.Version == 1 {
			maxResp = 10
		}
		outQ = append(outQ, Querier{
			VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), IP: netip.AddrFrom4(k.IP), MAC: q.MAC, Version: q.Version,
			Queries: q.Queries, GeneralQueries: q.General, IntervalSeconds: time.Duration(q.Interval).Round(time.Millisecond).Seconds(),
			MaxRespSeconds: maxResp, FirstSeen: at(q.First), LastSeen: at(q.Last),
		})
	}
	slices.SortFunc(outQ, func(a, b Querier) int {
		return cmp.Or(cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), a.IP.Compare(b.IP))
	})
	return outG, outQ
}

func (e *Engine) floodReports() []Flood {
	out := []Flood{}
	for k, c := range e.flood.All() {
		f := addr.Classify(k.MAC)
		fps, bps, peak, _ := c.Rates()
		v := e.verdictFor(k.VLAN, k.MAC, c.Frames)
		fr := Flood{
			VLAN: k.VLAN.ID(), SVLAN: k.VLAN.Outer(), MAC: k.MAC, Form: f.Form,
			Frames: c.Frames, Bytes: c.Bytes, Heartbeats: c.Heartbeats,
			FPS: round2(fps), BPS: round2(bps), PeakFPS: peak,
			FirstSeen: at(c.First), LastSeen: at(c.Last), Verdict: v.verdict, Basis: v.basis,
		}
		fr.ClusterIP = e.clusterIPOf(k.VLAN, k.MAC, c.DstIP)
		out = append(out, fr)
	}
	slices.SortFunc(out, func(a, b Flood) int {
		return cmp.Or(cmp.Compare(a.SVLAN, b.SVLAN), cmp.Compare(a.VLAN, b.VLAN), cmp.Compare(a.MAC.String(), b.MAC.String()))
	})
	return out
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
