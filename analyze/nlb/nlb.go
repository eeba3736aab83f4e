// Package nlb follows NLB clusters through their heartbeats: per cluster IP
// and VLAN, the mode (from where heartbeats go and whether sources are
// masked), the hosts with their priority, dedicated IP, MAC, version, name,
// convergence state and port rules, and how regularly each heartbeats.
//
// It raises heartbeat-gap (a host silent for more than AliveMsgTolerance
// heartbeat periods, the point where NLB drops it and re-converges),
// duplicate-host-priority, port-rule-mismatch and nlb-mixed-modes.
package nlb

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/coverage"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/remedy"
	"github.com/nlbprobe/nlbprobe/analyze/table"
	"github.com/nlbprobe/nlbprobe/analyze/timeline"
)

// NLB's defaults (registry AliveMsgPeriod and AliveMsgTolerance).
const (
	DefaultPeriod = time.Second
	Tolerance     = 5
)

// MaxHosts bounds the hosts tracked per cluster: NLB allows 32, the rest is
// room for hosts that come and go (migrations, re-IPs).
const MaxHosts = 64

// ClusterKey identifies a cluster: its primary cluster IP on a VLAN.
type ClusterKey struct {
	VLAN frame.VLAN
	IP   netip.Addr
}

// Host is one cluster host as its heartbeats show it.
type Host struct {
	Priority uint32
	// Dedicated is the host's dedicated IP; invalid when the heartbeats
	// were cut before it.
	Dedicated netip.Addr
	// MAC is the source MAC of the last heartbeat: the masked 02:P:W:X:Y:Z
	// in unicast mode, the NIC's own MAC in the multicast modes. MACs holds
	// every source seen, oldest first.
	MAC     addr.MAC
	MACs    [4]addr.MAC
	NumMACs int

	Version          uint32
	HostName         string
	IPs              [4]netip.Addr
	NumIPs           int
	ConvergenceState uint16
	NumPortRules     uint16
	StateKnown       bool
	// RuleDigest is a hash of the port-rule codes, when all were captured.
	RuleDigest  uint32
	DigestKnown bool

	Mode       addr.Mode
	ModeCounts [4]uint64

	Heartbeats, Extended  uint64
	First, Last           int64
	FirstFrame, LastFrame uint64
	// Period is the smoothed time between membership heartbeats (ns).
	Period int64

	// Truncated counts heartbeats cut by the snaplen; MinCaptured is the
	// fewest payload bytes one of them had.
	Truncated   uint64
	MinCaptured int
	// FromMAC is set when the cluster IP and priority came from the masked
	// source MAC because the heartbeat was cut before them.
	FromMAC bool
	// UnmaskedMAC and UnmaskedFrame are the source and number of the first
	// unicast-mode heartbeat (to broadcast) that did not come from the
	// host's masked source 02:P:W:X:Y:Z: a host whose adapter kept its own
	// MAC (a Hyper-V vNIC without MAC address spoofing refuses the cluster
	// MAC) or one with source masking turned off. Zero when every
	// unicast-mode heartbeat was masked.
	UnmaskedMAC   addr.MAC
	UnmaskedFrame uint64
	UnmaskedAt    int64

	silent      bool
	silentSince int64
	Gaps        uint32
	LongestGap  int64

	// Inputs are the inputs (files read together) whose frames carried
	// the host's heartbeats, and LastInput the one that carried the
	// latest: nil and 0 with one input.
	Inputs    coverage.Set
	LastInput int

	// Series is the host's heartbeats per second in the timeline (the
	// zero Handle when not kept).
	Series timeline.Handle
}

// Silent reports whether the host is silent now, for longer than NLB
// tolerates, and since when (its last heartbeat): a gap still open.
func (h *Host) Silent() (since int64, ok bool) { return h.silentSince, h.silent }

// Cluster is one cluster IP on one VLAN.
type Cluster struct {
	Hosts        []Host
	HostsDropped uint64
	Heartbeats   uint64
	First, Last  int64
	FirstFrame   uint64
	ModeCounts   [4]uint64
	// LastMode is the mode of the latest heartbeat that showed one.
	LastMode addr.Mode
	// Inputs are the inputs whose frames carried the cluster's
	// heartbeats (nil with one input).
	Inputs coverage.Set
}

// Mode returns the cluster's mode as its latest heartbeats show it (after a
// mode change, the new one), ModeUnknown if none showed one.
func (c *Cluster) Mode() addr.Mode { return c.LastMode }

// Config sets the limits of a Tracker.
type Config struct {
	Limit int // clusters, default 4096
	// Timeline, when set, receives each host's heartbeats per second and
	// its gaps, MAC and mode changes (for the HTML report).
	Timeline *timeline.Timeline
	// Coverage, when set, is when each input of a run of several was
	// capturing: a host's silence is a gap only where an input that can
	// hear it was (Tracker.Listened).
	Coverage *coverage.Inputs
}

// Tracker holds the clusters. It is not safe for concurrent use.
type Tracker struct {
	clusters *table.Table[ClusterKey, Cluster]
	store    *finding.Store
	tl       *timeline.Timeline
	cov      *coverage.Inputs
	// Unattributed counts NLB heartbeats that could not be tied to a
	// cluster: cut before the cluster IP, from an unmasked source, to an
	// unknown destination.
	Unattributed uint64
	// Reliable counts reliable-protocol messages (0xC0DE01DE), which carry
	// no membership state.
	Reliable uint64
}

// hashCluster spreads clusters over the cluster table's index: a
// multiply, where hashing a struct holding a netip.Addr goes field by
// field.
func hashCluster(k ClusterKey) uint64 { return table.HashAddr(k.IP, uint64(k.VLAN)) }

// New returns a Tracker that raises findings in store.
func New(cfg Config, store *finding.Store) *Tracker {
	if cfg.Limit == 0 {
		cfg.Limit = 4096
	}
	return &Tracker{clusters: table.New[ClusterKey, Cluster](cfg.Limit, hashCluster), store: store, tl: cfg.Timeline, cov: cfg.Coverage}
}

// identify returns the cluster IP and host priority of a heartbeat: from
// its header, or, when the snaplen cut it before them, from the masked
// source MAC 02:P:W:X:Y:Z of a unicast-mode host (tcpdump's msnlb2 capture
// keeps 6 bytes of the payload, and its sources still name cluster and
// host), or from a cluster-MAC destination.
func identify(f *frame.Frame) (ip netip.Addr, prio uint32, fromMAC, ok bool) {
	h := f.Heartbeat
	if h.HasClusterIP() {
		return netip.AddrFrom4(h.ClusterIP), h.HostID, false, true
	}
	if src := addr.Classify(f.Src); src.Form == addr.FormMaskedSource && (!f.DstKnown || f.Dst == addr.Broadcast) {
		ip, _ := src.EmbeddedIP()
		return ip, uint32(src.Priority), true, true
	}
	if dst := addr.Classify(f.Dst); f.DstKnown && dst.Form == addr.FormMulticastCluster {
		ip, _ := dst.EmbeddedIP()
		return ip, h.HostID, true, h.HasHostID()
	}
	return netip.Addr{}, 0, false, false
}

// inferMode reads the mode off the addressing of a heartbeat of cluster ip.
func inferMode(f *frame.Frame, ip netip.Addr) addr.Mode {
	if !f.DstKnown {
		// A cooked capture keeps no destination: only the masked source
		// of unicast mode is telling.
		if src := addr.Classify(f.Src); src.Form == addr.FormMaskedSource && src.Encodes(ip) {
			return addr.ModeUnicast
		}
		return addr.ModeUnknown
	}
	if f.Dst == addr.Broadcast {
		return addr.ModeUnicast
	}
	dst := addr.Classify(f.Dst)
	if dst.Form == addr.FormMulticastCluster || dst.Form == addr.FormIGMPCluster {
		return dst.Form.Mode()
	}
	return addr.ModeUnknown
}

// Observe records the heartbeat in f: now is the packet time in
// nanoseconds, n the frame number, input the index of the input whose
// frame it is (0 with one input).
func (t *Tracker) Observe(f *frame.Frame, now int64, n uint64, input int) {
	h := f.Heartbeat
	switch h.Kind {
	case frame.HeartbeatMembership, frame.HeartbeatExtended:
	case frame.HeartbeatReliable:
		t.Reliable++
		return
	default:
		return
	}
	ip, prio, fromMAC, ok := identify(f)
	if !ok {
		t.Unattributed++
		return
	}
	mode := inferMode(f, ip)
	k := ClusterKey{VLAN: f.VLAN, IP: ip}
	c, created := t.clusters.Upsert(k, now)
	if created {
		c.First, c.FirstFrame = now, n
		c.Inputs = t.cov.NewSet()
	}
	c.Inputs.Add(input)
	c.Last = now
	c.Heartbeats++
	c.ModeCounts[mode]++
	if mode != addr.ModeUnknown {
		c.LastMode = mode
	}

	var dedicated netip.Addr
	if h.HasHeader() {
		dedicated = netip.AddrFrom4(h.DedicatedIP)
	}
	host := t.host(k, c, prio, dedicated, f.Src, mode, now, n)
	if host == nil {
		return
	}
	host.Inputs.Add(input)
	host.ModeCounts[mode]++
	if mode != addr.ModeUnknown {
		if host.Mode != addr.ModeUnknown && host.Mode != mode {
			t.tl.Record(timeline.Event{Kind: timeline.HostModeChange, Time: now, Frame: n, Series: host.Series,
				FromMode: host.Mode, ToMode: mode})
		}
		host.Mode = mode
	}
	host.FromMAC = host.FromMAC || fromMAC
	if mode == addr.ModeUnicast && host.UnmaskedFrame == 0 {
		if src := addr.Classify(f.Src); src.Form != addr.FormMaskedSource || !src.Encodes(ip) {
			host.UnmaskedMAC, host.UnmaskedFrame, host.UnmaskedAt = f.Src, n, now
		}
	}
	if f.Status == frame.Truncated {
		host.Truncated++
		if host.MinCaptured == 0 || h.Captured < host.MinCaptured {
			host.MinCaptured = h.Captured
		}
	}
	if h.HasVersion() {
		host.Version = h.Version
	}
	if host.MAC != f.Src {
		t.tl.Record(timeline.Event{Kind: timeline.HostMACChange, Time: now, Frame: n, Series: host.Series,
			From: host.MAC, To: f.Src})
		host.addMAC(f.Src)
	}
	if h.Kind == frame.HeartbeatExtended {
		host.Extended++
		t.extended(host, h)
		return
	}
	if host.Heartbeats > 0 {
		t.interval(k, c, host, now, n)
	}
	host.Heartbeats++
	host.Last, host.LastFrame, host.LastInput = now, n, input
	t.tl.Add(host.Series, now, 1)
	if h.HasState() {
		host.ConvergenceState, host.NumPortRules, host.StateKnown = h.ConvergenceState, h.NumPortRules, true
	}
	if h.HasAllPortRules() {
		host.RuleDigest, host.DigestKnown = ruleDigest(h), true
	}
}

// host finds or adds the host a heartbeat comes from. Hosts are told apart
// by priority and dedicated IP; where the dedicated IP was not captured, by
// priority and source MAC (in unicast mode every host of one priority has
// the same masked MAC, so priority alone).
func (t *Tracker) host(k ClusterKey, c *Cluster, prio uint32, dedicated netip.Addr, src addr.MAC, mode addr.Mode, now int64, n uint64) *Host {
	for i := range c.Hosts {
		h := &c.Hosts[i]
		if h.Priority != prio {
			continue
		}
		switch {
		case dedicated.IsValid() && h.Dedicated.IsValid():
			if dedicated == h.Dedicated {
				return h
			}
		case mode == addr.ModeUnicast || h.MAC == src:
			if dedicated.IsValid() {
				h.Dedicated = dedicated
			}
			return h
		}
	}
	if len(c.Hosts) >= MaxHosts {
		c.HostsDropped++
		return nil
	}
	c.Hosts = append(c.Hosts, Host{
		Priority: prio, Dedicated: dedicated, MAC: src, MACs: [4]addr.MAC{src}, NumMACs: 1,
		First: now, FirstFrame: n, Period: int64(DefaultPeriod), Series: t.tl.NewSeries(timeline.HostHeartbeats),
		Inputs: t.cov.NewSet(),
	})
	return &c.Hosts[len(c.Hosts)-1]
}

func (h *Host) addMAC(m addr.MAC) {
	h.MAC = m
	for _, seen := range h.MACs[:h.NumMACs] {
		if seen == m {
			return
		}
	}
	if h.NumMACs < len(h.MACs) {
		h.MACs[h.NumMACs] = m
		h.NumMACs++
		return
	}
	copy(h.MACs[:], h.MACs[1:])
	h.MACs[len(h.MACs)-1] = m
}

func (t *Tracker) extended(host *Host, h *frame.Heartbeat) {
	if name := h.HostNameBytes(); len(name) > 0 && string(name) != host.HostName {
		host.HostName = string(name)
	}
	for _, ip := range h.IPs[:h.NumIPs] {
		known := false
		for _, have := range host.IPs[:host.NumIPs] {
			known = known || have == ip
		}
		if !known && host.NumIPs < len(host.IPs) {
			host.IPs[host.NumIPs] = ip
			host.NumIPs++
		}
	}
}

// ruleDigest hashes the port-rule codes a heartbeat announces with 32-bit
// FNV-1a over their little-endian bytes, so that hosts can be compared and
// the report stays short. Written out because hash/fnv allocates its state.
func ruleDigest(h *frame.Heartbeat) uint32 {
	const offset32, prime32 = 2166136261, 16777619
	sum := uint32(offset32)
	var b [4]byte
	for _, code := range h.PortRules[:min(int(h.NumPortRules), frame.MaxPortRules)] {
		binary.LittleEndian.PutUint32(b[:], code)
		for _, c := range b {
			sum ^= uint32(c)
			sum *= prime32
		}
	}
	return sum
}

// interval learns the heartbeat period and catches gaps, when a heartbeat
// arrives more than Tolerance periods after the one before while an input
// that can hear the host was capturing (Listened).
func (t *Tracker) interval(k ClusterKey, c *Cluster, h *Host, now int64, n uint64) {
	iv := now - h.Last
	if iv > Tolerance*h.Period {
		longest, total := t.Listened(c, h, h.Last, now)
		if !h.silent && longest <= Tolerance*h.Period {
			// Silent only where nothing that hears the host was capturing
			// (between rotated files, or before the input that carries it
			// now began): no gap, and not a period either.
			return
		}
		t.gapEnded(k, h, h.Last, now, n, longest, total)
		return
	}
	// Copies of one heartbeat (a span of both directions) are not a period;
	// nor is a late one, which would teach the estimate to tolerate gaps.
	if iv >= int64(100*time.Millisecond) && iv < 2*h.Period {
		h.Period = (h.Period*7 + iv) / 8
	}
}

func at(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func dur(ns int64) time.Duration { return time.Duration(ns).Round(100 * time.Millisecond) }

// Describe names a host for messages: priority, dedicated IP, MAC, name.
func (h *Host) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host %d", h.Priority)
	var parts []string
	if h.HostName != "" {
		parts = append(parts, h.HostName)
	}
	if h.Dedicated.IsValid() {
		parts = append(parts, h.Dedicated.String())
	}
	parts = append(parts, h.MAC.String())
	fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	return b.String()
}

func gapKey(k ClusterKey, h *Host, start int64) finding.Key {
	return finding.Key{Kind: finding.HeartbeatGap, VLAN: uint64(k.VLAN), IP: k.IP, IP2: h.Dedicated,
		MAC: h.MACs[0], N: int64(h.Priority), M: start}
}

// hyperVNIC returns the host's latest source MAC that is a Hyper-V vNIC's,
// if any: in the multicast modes heartbeats come from the NIC's own MAC.
func (h *Host) hyperVNIC() (addr.MAC, bool) {
	if h.MAC.IsHyperV() {
		return h.MAC, true
	}
	for i := h.NumMACs - 1; i >= 0; i-- {
		if h.MACs[i].IsHyperV() {
			return h.MACs[i], true
		}
	}
	return addr.MAC{}, false
}

// gapRemedy says what to check for a host that went silent, and, with
// left, never came back. A Hyper-V guest is the common case: its vNIC is
// named by the MAC its heartbeats came from where they show it (the
// multicast modes), and a unicast-mode host's heartbeats leave from a
// masked source, which the virtual switch drops unless the vNIC allows MAC
// address spoofing (the setting is lost when a VM is re-created or gets a
// new vNIC).
func gapRemedy(h *Host, left bool) string {
	var b strings.Builder
	if left {
		b.WriteString("check whether the host is up and in the cluster (" + remedy.Code(remedy.NLBQuery) + " or " +
			remedy.Code(remedy.NLBNodes) + " on it), and its NIC, virtual switch port and VLAN after a migration")
	} else {
		b.WriteString("check the host's NIC, virtual switch and VLAN (a live migration pauses heartbeats; " +
			"more than 5 missed heartbeats drop the host and make the cluster re-converge): " + remedy.Code(remedy.NLBQuery) + " on the host")
	}
	if nic, ok := h.hyperVNIC(); ok {
		fmt.Fprintf(&b, "; %v is a Hyper-V vNIC: on the Hyper-V host that runs it %s and %s show its virtual switch, MAC address spoofing and VLAN",
			nic, remedy.Code(remedy.HyperVShow(nic)), remedy.Code(remedy.HyperVShowVLAN(nic)))
	} else if h.Mode == addr.ModeUnicast {
		fmt.Fprintf(&b, "; if the host is a Hyper-V guest: in unicast mode its heartbeats leave from the masked source %v, "+
			"which the virtual switch drops unless the guest's vNIC allows MAC address spoofing (%s on the Hyper-V host)",
			h.MAC, remedy.Code(remedy.HyperVSpoofingOnByName))
	}
	return b.String()
}

// gapEnded records a silence from start to end, which the heartbeat at end
// (frame n) closed; inputs that can hear the host were capturing for total
// of it, longest without a break (all of it with one input).
func (t *Tracker) gapEnded(k ClusterKey, h *Host, start, end int64, n uint64, longest, total int64) {
	h.Gaps++
	h.LongestGap = max(h.LongestGap, longest)
	h.silent = false
	t.tl.Record(timeline.Event{Kind: timeline.HostGap, Start: start, Time: end, Frame: n, Series: h.Series})
	key := gapKey(k, h, start)
	fix := gapRemedy(h, false)
	msg := fmt.Sprintf("%s of cluster %v sent no heartbeat for %s (%s to %s), more than %d periods of %s: "+
		"the cluster dropped it and re-converged", h.Describe(), k.IP, dur(end-start),
		at(start).Format(time.RFC3339Nano), at(end).Format(time.RFC3339Nano), Tolerance, dur(h.Period))
	if total < end-start {
		msg = fmt.Sprintf("%s of cluster %v sent no heartbeat from %s to %s: inputs that hear it were capturing for %s of "+
			"those %s and heard no heartbeat for %s without a break, more than %d periods of %s: the cluster dropped it "+
			"and re-converged (for the other %s no input that hears it was capturing)", h.Describe(), k.IP,
			at(start).Format(time.RFC3339Nano), at(end).Format(time.RFC3339Nano), dur(total), dur(end-start), dur(longest),
			Tolerance, dur(h.Period), dur(end-start-total))
	}
	if f, ok := t.store.Get(key); ok {
		f.End, f.Message, f.Remedy = at(end), msg, fix
		if len(f.Evidence) < finding.MaxEvidence {
			f.Evidence = append(f.Evidence, n)
		}
		t.store.Update(key)
		return
	}
	t.store.Raise(key, finding.Finding{
		Severity: finding.Warning, Subject: fmt.Sprintf("cluster %v vlan %v host %d", k.IP, k.VLAN, h.Priority),
		VLAN: k.VLAN.ID(), Time: at(end), Start: at(start), End: at(end), Message: msg, Remedy: fix,
		Evidence: []uint64{h.LastFrame, n}, IPs: hostIPs(k, h), MACs: []addr.MAC{h.MAC},
	})
}

func hostIPs(k ClusterKey, h *Host) []netip.Addr {
	if h.Dedicated.IsValid() {
		return []netip.Addr{k.IP, h.Dedicated}
	}
	return []netip.Addr{k.IP}
}

// Tick lets time pass: a host silent for more than Tolerance periods at
// now, while an input that can hear it was capturing, gets a heartbeat-gap
// finding at once, while the silence lasts, so a live watch reports it
// before the host comes back (if it ever does).
func (t *Tracker) Tick(now int64) {
	for k, c := range t.clusters.All() {
		for i := range c.Hosts {
			h := &c.Hosts[i]
			if h.silent || h.Heartbeats == 0 || now-h.Last <= Tolerance*h.Period {
				continue
			}
			longest, total := t.Listened(c, h, h.Last, now)
			if longest <= Tolerance*h.Period {
				continue
			}
			h.silent, h.silentSince = true, h.Last
			msg := fmt.Sprintf("%s of cluster %v has sent no heartbeat since %s (%s, more than %d periods of %s): "+
				"the cluster has dropped it", h.Describe(), k.IP, at(h.Last).Format(time.RFC3339Nano),
				dur(now-h.Last), Tolerance, dur(h.Period))
			if total < now-h.Last {
				msg = fmt.Sprintf("%s of cluster %v has sent no heartbeat since %s: inputs that hear it have been capturing for %s "+
					"since then and heard none for %s without a break, more than %d periods of %s: the cluster has dropped it",
					h.Describe(), k.IP, at(h.Last).Format(time.RFC3339Nano), dur(total), dur(longest), Tolerance, dur(h.Period))
			}
			t.store.Raise(gapKey(k, h, h.Last), finding.Finding{
				Severity: finding.Warning, Subject: fmt.Sprintf("cluster %v vlan %v host %d", k.IP, k.VLAN, h.Priority),
				VLAN: k.VLAN.ID(), Time: at(now), Start: at(h.Last),
				Message: msg,
				Remedy:  gapRemedy(h, false), Evidence: []uint64{h.LastFrame}, IPs: hostIPs(k, h), MACs: []addr.MAC{h.MAC},
			})
		}
	}
}

// Finish closes the capture at end: a host still silent then left the
// cluster and never came back, which is an error.
func (t *Tracker) Finish(end int64) {
	t.Tick(end)
	for k, c := range t.clusters.All() {
		for i := range c.Hosts {
			h := &c.Hosts[i]
			if !h.silent {
				continue
			}
			key := gapKey(k, h, h.silentSince)
			f, ok := t.store.Get(key)
			if !ok {
				continue
			}
			f.Severity = finding.Error
			f.Message = fmt.Sprintf("%s of cluster %v sent its last heartbeat at %s and was not heard again in the "+
				"remaining %s of the capture: it left the cluster (stopped, crashed, migrated away, or its NIC or VLAN changed)",
				h.Describe(), k.IP, at(h.Last).Format(time.RFC3339Nano), dur(end-h.Last))
			if _, total := t.Listened(c, h, h.Last, end); total < end-h.Last {
				f.Message = fmt.Sprintf("%s of cluster %v sent its last heartbeat at %s and was not heard again in the "+
					"%s that inputs that hear it (%s) went on capturing, of the remaining %s of the capture: it left the cluster "+
					"(stopped, crashed, migrated away, or its NIC or VLAN changed)",
					h.Describe(), k.IP, at(h.Last).Format(time.RFC3339Nano), dur(total), t.listenerNames(c, h), dur(end-h.Last))
			}
			f.Remedy = gapRemedy(h, true)
			t.store.Update(key)
		}
	}
}

// Listened measures the time of [from, to] during which an input that can
// hear host h of cluster c was capturing, when several inputs are read
// together: longest is the longest stretch without a break, total the
// sum. With one input, all of it.
//
// An input can hear h if its frames carried h's heartbeats, or carried
// its cluster's and it started after h's latest heartbeat: the next file
// of a rotated capture, which would have heard h as it hears the others.
// An input that carried the cluster's heartbeats while h was heard
// elsewhere but never h's (a capture that sees only some hosts: a span of
// one port's transmit side) does not count: it cannot hear h.
func (t *Tracker) Listened(c *Cluster, h *Host, from, to int64) (longest, total int64) {
	if t.cov == nil {
		d := max(to-from, 0)
		return d, d
	}
	return t.cov.Covered(from, to, func(i int) bool { return t.Hears(c, h, i) })
}

// Hears reports whether input i can hear host h of cluster c (Listened),
// with several inputs.
func (t *Tracker) Hears(c *Cluster, h *Host, i int) bool {
	if h.Inputs.Has(i) {
		return true
	}
	start, _, _, _ := t.cov.Span(i)
	return c.Inputs.Has(i) && start > h.Last
}

// listenerNames names the inputs that can hear host h of cluster c, at
// most three and how many more.
func (t *Tracker) listenerNames(c *Cluster, h *Host) string {
	var names []string
	more := 0
	for i := range t.cov.Len() {
		switch {
		case !t.Hears(c, h, i):
		case len(names) < 3:
			names = append(names, t.cov.Name(i))
		default:
			more++
		}
	}
	if more > 0 {
		names = append(names, fmt.Sprintf("%d more", more))
	}
	return strings.Join(names, ", ")
}

// Check raises the findings that compare hosts of one cluster:
// duplicate-host-priority, port-rule-mismatch and nlb-mixed-modes. It is
// idempotent, so callers run it whenever they like.
func (t *Tracker) Check(now int64) {
	for k, c := range t.clusters.All() {
		t.checkPriorities(k, c, now)
		t.checkRules(k, c, now)
		t.checkModes(k, c, now)
	}
}

func (t *Tracker) checkPriorities(k ClusterKey, c *Cluster, now int64) {
	for i := range c.Hosts {
		for j := i + 1; j < len(c.Hosts); j++ {
			a, b := &c.Hosts[i], &c.Hosts[j]
			// Two hosts of one priority that were never up at the same time
			// are one host that changed address, not a conflict.
			if a.Priority != b.Priority || a.Heartbeats == 0 || b.Heartbeats == 0 ||
				a.First > b.Last || b.First > a.Last {
				continue
			}
			key := finding.Key{Kind: finding.DuplicateHostPriority, VLAN: uint64(k.VLAN), IP: k.IP, N: int64(a.Priority)}
			if _, ok := t.store.Get(key); ok {
				continue
			}
			t.store.Raise(key, finding.Finding{
				Severity: finding.Error, Subject: fmt.Sprintf("cluster %v vlan %v", k.IP, k.VLAN), VLAN: k.VLAN.ID(),
				Time: at(max(a.First, b.First)),
				Message: fmt.Sprintf("%s and %s both use host priority %d: the cluster cannot converge",
					a.Describe(), b.Describe(), a.Priority),
				Remedy:   priorityRemedy(c, b),
				Evidence: []uint64{a.FirstFrame, b.FirstFrame},
				IPs:      []netip.Addr{k.IP},
				MACs:     []addr.MAC{a.MAC, b.MAC},
			})
		}
	}
}

// priorityRemedy says how to end a priority conflict between b and
// another host of c: give b a priority no host of c uses.
func priorityRemedy(c *Cluster, b *Host) string {
	var used [33]bool
	for i := range c.Hosts {
		if p := c.Hosts[i].Priority; p < uint32(len(used)) {
			used[p] = true
		}
	}
	free := 0
	for p := 1; p < len(used) && free == 0; p++ {
		if !used[p] {
			free = p
		}
	}
	if free == 0 {
		return "give every host a unique priority (host ID) from 1 to 32: this cluster uses them all, so take one host out of it (NLB Manager)"
	}
	return fmt.Sprintf("give every host a unique priority (host ID): on %s run %s (%d is free among the hosts seen), or use NLB Manager's host properties",
		hostName(b), remedy.Code(remedy.NLBSetPriority(free)), free)
}

// hostName names a host for a remedy: by host name and dedicated IP where
// known, else by priority and MAC.
func hostName(h *Host) string {
	switch {
	case h.HostName != "" && h.Dedicated.IsValid():
		return fmt.Sprintf("%s (%v)", h.HostName, h.Dedicated)
	case h.HostName != "":
		return h.HostName
	case h.Dedicated.IsValid():
		return h.Dedicated.String()
	}
	return fmt.Sprintf("host %d (%v)", h.Priority, h.MAC)
}

func hostNames(c *Cluster) []string {
	var out []string
	for i := range c.Hosts {
		out = append(out, hostName(&c.Hosts[i]))
	}
	return out
}

func (t *Tracker) checkRules(k ClusterKey, c *Cluster, now int64) {
	var ref *Host
	mismatch := false
	for i := range c.Hosts {
		h := &c.Hosts[i]
		if !h.StateKnown {
			continue
		}
		if ref == nil {
			ref = h
			continue
		}
		if h.NumPortRules != ref.NumPortRules || (h.DigestKnown && ref.DigestKnown && h.RuleDigest != ref.RuleDigest) {
			mismatch = true
		}
	}
	if !mismatch {
		return
	}
	key := finding.Key{Kind: finding.PortRuleMismatch, VLAN: uint64(k.VLAN), IP: k.IP}
	if _, ok := t.store.Get(key); ok {
		return
	}
	var parts []string
	var evidence []uint64
	for i := range c.Hosts {
		h := &c.Hosts[i]
		if !h.StateKnown {
			continue
		}
		digest := "codes not captured"
		if h.DigestKnown {
			digest = fmt.Sprintf("codes digest %08x", h.RuleDigest)
		}
		parts = append(parts, fmt.Sprintf("host %d: %s, %s", h.Priority, finding.Plural(h.NumPortRules, "rule", "rules"), digest))
		evidence = append(evidence, h.LastFrame)
	}
	t.store.Raise(key, finding.Finding{
		Severity: finding.Error, Subject: fmt.Sprintf("cluster %v vlan %v", k.IP, k.VLAN), VLAN: k.VLAN.ID(), Time: at(now),
		Message:  "the hosts' port rules disagree (" + strings.Join(parts, "; ") + "): hosts with other rules stay out of convergence",
		Remedy:   "make the port rules identical on every host: compare " + remedy.Code(remedy.NLBPortRules) + " (or " + remedy.Code(remedy.NLBDisplay) + ") on each of " + strings.Join(hostNames(c), ", "),
		Evidence: evidence,
		IPs:      []netip.Addr{k.IP},
	})
}

func (t *Tracker) checkModes(k ClusterKey, c *Cluster, now int64) {
	var modes []string
	var seen [4]bool
	var evidence []uint64
	for i := range c.Hosts {
		h := &c.Hosts[i]
		if h.Mode == addr.ModeUnknown || seen[h.Mode] {
			continue
		}
		seen[h.Mode] = true
		modes = append(modes, fmt.Sprintf("%s by host %d", h.Mode, h.Priority))
		evidence = append(evidence, h.LastFrame)
	}
	if len(modes) < 2 {
		return
	}
	key := finding.Key{Kind: finding.NLBMixedModes, VLAN: uint64(k.VLAN), IP: k.IP}
	if _, ok := t.store.Get(key); ok {
		return
	}
	t.store.Raise(key, finding.Finding{
		Severity: finding.Error, Subject: fmt.Sprintf("cluster %v vlan %v", k.IP, k.VLAN), VLAN: k.VLAN.ID(), Time: at(now),
		Message: "hosts of one cluster heartbeat in different modes (" + strings.Join(modes, ", ") + "): they will not converge",
		Remedy: fmt.Sprintf("set one cluster operation mode on every host: %s on one host sets it for all (the latest heartbeats are in %s mode; "+
			"or NLB Manager cluster properties), then clear the ARP caches on the VLAN (Cisco %s)",
			remedy.Code(remedy.NLBClusterMode(c.Mode())), c.Mode(), remedy.Code(remedy.CiscoClearARP(k.IP))),
		Evidence: evidence,
		IPs:      []netip.Addr{k.IP},
	})
}

// Clusters yields every cluster.
func (t *Tracker) Clusters() func(yield func(ClusterKey, *Cluster) bool) { return t.clusters.All() }

// Cluster returns the cluster ip on vlan, or nil.
func (t *Tracker) Cluster(vlan frame.VLAN, ip netip.Addr) *Cluster {
	return t.clusters.Get(ClusterKey{VLAN: vlan, IP: ip})
}

// Evicted returns how many clusters were evicted to stay within the limit.
func (t *Tracker) Evicted() uint64 { return t.clusters.Evicted() }
