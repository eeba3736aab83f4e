package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/arp"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/flood"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/igmp"
	"github.com/nlbprobe/nlbprobe/analyze/nlb"
	rem "github.com/nlbprobe/nlbprobe/analyze/remedy"
)

// check runs the detectors that compare tables. It is idempotent (findings
// are keyed), so it runs every few seconds of capture time for the live
// stream and once more, final, at the end.
func (e *Engine) check(now int64, final bool) {
	if e.stats.Frames == 0 {
		return
	}
	e.nlb.Check(now)
	e.igmp.Check(now, final)
	e.checkMembership(now, final)
	e.scanBindings(now)
	e.checkFlooding(now)
	e.checkHyperV(now)
	e.checkEvictions(now)
	if final {
		e.finishTruncation()
	}
}

// memberOf finds the membership of an NLB host in its cluster's group: by
// dedicated IP (the report's source) or by MAC (IGMP mode sends from the
// NIC's own MAC, as reports do).
func (e *Engine) memberOf(vlan frame.VLAN, group [4]byte, h *nlb.Host) *igmp.Membership {
	if h.Dedicated.IsValid() {
		if m := e.igmp.Membership(vlan, group, h.Dedicated.As4()); m != nil {
			return m
		}
	}
	for k, m := range e.igmp.Members() {
		if k.VLAN == vlan && k.Group == group && m.MAC == h.MAC {
			return m
		}
	}
	return nil
}

// hostAddrs lists the addresses a finding about host h of a cluster names.
func hostAddrs(cluster, group netip.Addr, h *nlb.Host) []netip.Addr {
	out := []netip.Addr{cluster, group}
	if h.Dedicated.IsValid() {
		out = append(out, h.Dedicated)
	}
	return out
}

// liveCluster finds a cluster heartbeating on vlan whose IP the NLB form f
// embeds.
func (e *Engine) liveCluster(vlan frame.VLAN, f addr.NLBForm) (nlb.ClusterKey, *nlb.Cluster) {
	if ip, ok := f.EmbeddedIP(); ok {
		if c := e.nlb.Cluster(vlan, ip); c != nil {
			return nlb.ClusterKey{VLAN: vlan, IP: ip}, c
		}
		return nlb.ClusterKey{}, nil
	}
	for k, c := range e.nlb.Clusters() {
		if k.VLAN == vlan && f.Encodes(k.IP) {
			return k, c
		}
	}
	return nlb.ClusterKey{}, nil
}

// macRole is what the ARP bindings say about a cluster MAC on a VLAN, for
// the remedies of the findings about its traffic.
type macRole struct {
	// staleFor is an IP answered with this MAC, which embeds another IP:
	// the subject of an nlb-stale-cluster-mac finding.
	staleFor netip.Addr
	// ips are IPs bound to this MAC now, at most maxRoleIPs of them.
	ips []netip.Addr
}

// maxRoleIPs bounds the IPs a macRole names (a cluster's VIPs).
const maxRoleIPs = 8

// scanBindings goes through the ARP bindings once per check: it raises
// nlb-stale-cluster-mac for an IP bound to a cluster MAC that embeds
// another IP, and records for each cluster MAC its role (e.roles) for the
// remedies of checkFlooding. Two cases are normal and left alone: in
// unicast mode every host's dedicated IP answers with the cluster MAC, and
// a cluster's additional VIPs answer with the primary VIP's MAC.
func (e *Engine) scanBindings(now int64) {
	clear(e.roles)
	if e.roles == nil {
		e.roles = make(map[flood.Key]*macRole)
	}
	role := func(vlan frame.VLAN, mac addr.MAC) *macRole {
		k := flood.Key{VLAN: vlan, MAC: mac}
		r := e.roles[k]
		if r == nil {
			r = &macRole{}
			e.roles[k] = r
		}
		return r
	}
	for k, b := range e.arp.All() {
		if cur := b.CurrentMAC(); addr.Classify(cur).Form.IsCluster() {
			if r := role(k.VLAN, cur); len(r.ips) < maxRoleIPs {
				r.ips = append(r.ips, k.IP)
			}
		}
		for _, seen := range b.Seen() {
			f := addr.Classify(seen.MAC)
			if !f.Form.IsCluster() || f.Encodes(k.IP) {
				continue
			}
			own := e.nlb.Cluster(k.VLAN, k.IP)
			var sev finding.Severity
			var why string
			switch _, ownerCluster := e.liveCluster(k.VLAN, f); {
			case own != nil:
				sev = finding.Error
				mac, _ := addr.ClusterMAC(own.Mode(), k.IP)
				why = fmt.Sprintf("cluster %v itself heartbeats on this VLAN (%s mode, cluster MAC %v), "+
					"so %v is a leftover of another cluster", k.IP, own.Mode(), mac, seen.MAC)
			case ownerCluster != nil:
				// A unicast-mode host's dedicated IP, or an additional VIP
				// of a live cluster: normal, not stale.
				continue
			default:
				sev = finding.Warning
				why = "no cluster with that IP heartbeats on this VLAN: the mark of a cluster moved or re-created, " +
					"or of a static ARP entry typed wrong (if it is the primary IP of a cluster whose heartbeats this capture missed, " +
					k.IP.String() + " may be one of its additional VIPs)"
			}
			role(k.VLAN, seen.MAC).staleFor = k.IP
			key := finding.Key{Kind: finding.NLBStaleClusterMAC, VLAN: uint64(k.VLAN), IP: k.IP, MAC: seen.MAC}
			if _, ok := e.store.Get(key); ok {
				continue
			}
			e.store.Raise(key, finding.Finding{
				Severity: sev, Subject: fmt.Sprintf("%v vlan %v", k.IP, k.VLAN), VLAN: k.VLAN.ID(), Time: at(seen.First),
				Message: fmt.Sprintf("%v is answered with %v, the %s cluster MAC of %s: %s",
					k.IP, seen.MAC, f.Form.Mode(), embedded(f), why),
				Remedy:   e.staleRemedy(k.VLAN, k.IP, seen, own),
				Evidence: []uint64{seen.FirstFrame},
				IPs:      []netip.Addr{k.IP},
				MACs:     []addr.MAC{seen.MAC},
			})
		}
	}
	for _, r := range e.roles {
		slices.SortFunc(r.ips, netip.Addr.Compare)
	}
}

// staleRemedy says how to get rid of the stale cluster MAC that ip is
// answered with: where the answers come from, and what the neighbours that
// learned it need. own is the live cluster of ip itself, if any.
func (e *Engine) staleRemedy(vlan frame.VLAN, ip netip.Addr, seen arp.MACSeen, own *nlb.Cluster) string {
	var b strings.Builder
	if clusterIP, h := e.hostBySource(vlan, seen.EthSrc); h != nil {
		fmt.Fprintf(&b, "the answers come from %s of cluster %v, so that host's NLB configuration still carries the old cluster "+
			"(a second cluster bound to its adapter, or %v left as a VIP of the old one): look for the old cluster (MAC %v) in %s there and remove it",
			h.Describe(), clusterIP, ip, seen.MAC.Dashed(), rem.Code(rem.NLBDisplay))
	} else {
		fmt.Fprintf(&b, "find the device that answers, %v (Cisco %s gives its switch port), and remove the old cluster "+
			"configuration or the ARP entry it publishes there", seen.EthSrc, rem.Code(rem.CiscoShowMAC(seen.EthSrc, vlan.ID())))
	}
	fmt.Fprintf(&b, "; then make routers and clients forget %v: where a static entry was typed, Cisco %s; clear what they learned, "+
		"Cisco %s, Windows %s", seen.MAC, rem.Code(rem.CiscoNoARP(ip, seen.MAC)), rem.Code(rem.CiscoClearARP(ip)),
		rem.Code(rem.RemoveNetNeighbor(ip, seen.MAC)))
	if own != nil && own.Mode() == addr.ModeMulticast {
		mac, _ := addr.ClusterMAC(addr.ModeMulticast, ip)
		fmt.Fprintf(&b, "; a router needs the cluster's own multicast MAC as a static entry instead (Cisco %s)", rem.Code(rem.CiscoARP(ip, mac)))
	}
	return b.String()
}

// hostBySource finds the cluster host on vlan that sends from src: its
// NIC's MAC (multicast modes) or its masked source 02:P:W:X:Y:Z (unicast).
func (e *Engine) hostBySource(vlan frame.VLAN, src addr.MAC) (netip.Addr, *nlb.Host) {
	masked := addr.Classify(src)
	for k, c := range e.nlb.Clusters() {
		if k.VLAN != vlan {
			continue
		}
		for i := range c.Hosts {
			h := &c.Hosts[i]
			if masked.Form == addr.FormMaskedSource && masked.Encodes(k.IP) && uint32(masked.Priority) == h.Priority {
				return k.IP, h
			}
			if slices.Contains(h.MACs[:h.NumMACs], src) {
				return k.IP, h
			}
		}
	}
	return netip.Addr{}, nil
}

func isDedicated(c *nlb.Cluster, ip netip.Addr) bool {
	for i := range c.Hosts {
		if c.Hosts[i].Dedicated == ip {
			return true
		}
	}
	return false
}

func embedded(f addr.NLBForm) string {
	if ip, ok := f.EmbeddedIP(); ok {
		return ip.String()
	}
	return fmt.Sprintf("*.*.%d.%d", f.IP[2], f.IP[3])
}

// The flood verdicts (Flood.Verdict), as the JSON contract spells them.
const (
	VerdictFlooding = "flooding"
	VerdictTargeted = "targeted" // proved only from a nonmember vantage
	// VerdictTargetedIfMACGroup: IGMP mode with every host a member and a
	// querier: targeted only where the switch constrains by MAC group.
	VerdictTargetedIfMACGroup = "targeted-if-mac-group"
	VerdictUnknown            = "unknown"
)

// Verdicts lists the flood verdicts; the JSON schema's enum equals it.
var Verdicts = []string{VerdictFlooding, VerdictTargeted, VerdictTargetedIfMACGroup, VerdictUnknown}

// What a flood verdict rests on (Flood.Basis): the capture's vantage (a
// nonmember port) or the control plane (mode, IGMP membership, querier).
// See analyze/design.md, "Flooding versus targeted".
const (
	BasisVantage      = "vantage"
	BasisControlPlane = "control-plane"
)

// Bases lists the flood verdict bases; the JSON schema's enum equals it.
var Bases = []string{BasisVantage, BasisControlPlane}

// floodVerdict says whether traffic to a cluster MAC floods, on what the
// verdict rests (basis) and why, in a sentence that starts with the basis
// (reason).
type floodVerdict struct {
	verdict string
	basis   string
	reason  string
	kind    finding.Kind
	raise   bool
	// For the IGMP form, what the control plane lacks.
	membersMissing, noQuerier bool
	// episodic: an IGMP-mode verdict from the control plane, which
	// changes as hosts join and leave and queriers come and go: its
	// flooding findings hold from since and end when it no longer says
	// flooding (since is then when the new state began).
	episodic bool
	since    int64
	// state says in a few words what the control plane shows, for the
	// message of a flooding episode it ended.
	state string
}

// verdictFor decides flooding for the cluster MAC mac on vlan with what the
// vantage and the control plane (mode, IGMP membership, querier) say.
func (e *Engine) verdictFor(vlan frame.VLAN, mac addr.MAC, frames uint64) floodVerdict {
	f := addr.Classify(mac)
	kind := finding.MulticastFlooding
	if f.Form == addr.FormUnicastCluster {
		kind = finding.UnicastFlooding
	}
	// A remote span's frames are mirrored copies wherever the capture
	// stands: they are judged as a span's.
	if session, _ := vlan.Session(); e.opts.Vantage == VantageNonMember && session == frame.SessionNone {
		if frames == 0 {
			return floodVerdict{verdict: VerdictTargeted, basis: BasisVantage, reason: "vantage nonmember: no frame to this MAC reached this port", kind: kind}
		}
		return floodVerdict{verdict: VerdictFlooding, basis: BasisVantage, reason: "vantage nonmember: frames to the cluster MAC reached a port with no NLB node", kind: kind, raise: true}
	}
	switch f.Form {
	case addr.FormUnicastCluster:
		return floodVerdict{verdict: VerdictFlooding, basis: BasisControlPlane, reason: "control plane: unicast mode; hosts send from masked sources (02:P:...), " +
			"so the switch never learns " + mac.String() + " and floods every frame to it", kind: kind, raise: true}
	case addr.FormMulticastCluster:
		return floodVerdict{verdict: VerdictFlooding, basis: BasisControlPlane, reason: "control plane: multicast mode; a switch floods a multicast MAC to every port " +
			"of the VLAN unless it has a static entry for it (not visible from a span)", kind: kind, raise: true}
	}
	// IGMP mode: complete membership and a querier are necessary, not
	// sufficient (a switch snooping by IP group never matches NLB frames).
	return e.igmpVerdict(vlan, f, kind)
}

// checkFlooding raises unicast-flooding and multicast-flooding from the
// counted traffic and the verdict.
func (e *Engine) checkFlooding(now int64) {
	for k, c := range e.flood.All() {
		v := e.verdictFor(k.VLAN, k.MAC, c.Frames)
		if v.episodic {
			e.floodEpisode(k, c, v, now)
			continue
		}
		if !v.raise {
			continue
		}
		key := finding.Key{Kind: v.kind, VLAN: uint64(k.VLAN), MAC: k.MAC}
		fps, bps, peak, _ := c.RatesOver(e.cov.Total(c.First, c.Last))
		msg := fmt.Sprintf("%s (%s) to %v on vlan %v: %.1f frames/s, %s/s, peak %s in one second; %s",
			finding.Plural(c.Frames, "frame", "frames"), FormatBytes(float64(c.Bytes)), k.MAC, k.VLAN, fps, FormatBytes(bps),
			finding.Plural(peak, "frame", "frames"), v.reason)
		remedy := e.floodRemedy(k, c, v)
		if f, ok := e.store.Get(key); ok {
			f.Message, f.Count = msg, c.Frames
			if f.Remedy != remedy {
				// What the bindings say about the MAC changed (it turned
				// out stale): the advice follows.
				f.Remedy = remedy
				e.store.Update(key)
			}
			continue
		}
		var ips []netip.Addr
		if ip := e.clusterIPOf(k.VLAN, k.MAC, c.DstIP); ip.IsValid() {
			ips = []netip.Addr{ip}
		}
		e.store.Raise(key, finding.Finding{
			Severity: finding.Warning, Subject: fmt.Sprintf("%v vlan %v", k.MAC, k.VLAN), VLAN: k.VLAN.ID(),
			Time: at(c.First), Message: msg, Remedy: remedy, Count: c.Frames,
			Evidence: []uint64{c.FirstFrame, c.LastFrame}, IPs: ips, MACs: []addr.MAC{k.MAC},
		})
	}
}

// floodRemedy says what to do about the traffic to cluster MAC k.MAC,
// consistently with the other findings about that MAC: a stale cluster
// MAC, or one the cluster left behind when it changed mode, is not pinned
// to switch ports (its traffic ends when caches forget it); the MAC of a
// live cluster is, in the notation of each platform.
func (e *Engine) floodRemedy(k flood.Key, c *flood.Counter, v floodVerdict) string {
	vlan := k.VLAN.ID()
	if r := e.roles[k]; r != nil && r.staleFor.IsValid() {
		return fmt.Sprintf("%v is the stale cluster MAC that %v is answered with (see nlb-stale-cluster-mac): this traffic ends "+
			"when routers and clients resolve %v to the cluster's own MAC; do not pin %v to switch ports",
			k.MAC, r.staleFor, r.staleFor, k.MAC)
	}
	ip := e.clusterIPOf(k.VLAN, k.MAC, c.DstIP)
	if ip.IsValid() {
		if cl := e.nlb.Cluster(k.VLAN, ip); cl != nil && cl.Mode() != addr.ModeUnknown {
			if now, _ := addr.ClusterMAC(cl.Mode(), ip); now != k.MAC {
				return fmt.Sprintf("%v is cluster %v's MAC from before it changed to %s mode (its heartbeats now go with cluster MAC %v): "+
					"this traffic comes from caches that still hold the old MAC and ends when they are cleared (Cisco %s, Windows %s); "+
					"do not pin %v to switch ports", k.MAC, ip, cl.Mode(), now, rem.Code(rem.CiscoClearARP(ip)),
					rem.Code(rem.RemoveNetNeighbor(ip, k.MAC)), k.MAC)
			}
		}
	}
	switch addr.Classify(k.MAC).Form {
	case addr.FormUnicastCluster:
		if !ip.IsValid() {
			break
		}
		igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, ip)
		return fmt.Sprintf("in unicast mode a switch floods every frame to %v by design; to stop it, move the cluster to IGMP multicast mode "+
			"(%s on one host: the cluster MAC becomes %v, group %v), pin that MAC to the hosts' switch ports (Cisco %s, Linux bridge %s) "+
			"and clear the router's ARP entry for %v (Cisco %s); or give the cluster a VLAN of its own",
			k.MAC, rem.Code(rem.NLBClusterMode(addr.ModeIGMP)), igmpMAC, addr.IGMPGroup(ip),
			rem.Code(rem.CiscoStaticMAC(igmpMAC, vlan)), rem.Code(rem.BridgeMDBAdd(igmpMAC, vlan)), ip, rem.Code(rem.CiscoClearARP(ip)))
	case addr.FormMulticastCluster:
		ips := []netip.Addr{ip}
		if r := e.roles[k]; r != nil {
			for _, other := range r.ips {
				if !slices.Contains(ips, other) {
					ips = append(ips, other)
				}
			}
		}
		var arps []string
		for _, a := range ips {
			arps = append(arps, rem.Code(rem.CiscoARP(a, k.MAC)))
		}
		return fmt.Sprintf("pin the cluster MAC to the hosts' switch ports: Cisco %s and, on the router (which does not learn a multicast MAC from ARP), %s; "+
			"Linux bridge %s", rem.Code(rem.CiscoStaticMAC(k.MAC, vlan)), strings.Join(arps, ", "), rem.Code(rem.BridgeMDBAdd(k.MAC, vlan)))
	case addr.FormIGMPCluster:
		var b strings.Builder
		if v.membersMissing {
			b.WriteString("make every host report the group (see igmp-member-missing); ")
		}
		if v.noQuerier {
			fmt.Fprintf(&b, "run an IGMP querier on the VLAN (see igmp-no-querier; Cisco %s, Linux bridge %s); ",
				rem.Code(rem.CiscoQuerier), rem.Code(rem.BridgeQuerier))
		}
		fmt.Fprintf(&b, "to target the traffic, pin the cluster MAC to the hosts' switch ports (Cisco %s, Linux bridge %s): "+
			"a switch that snoops by IP group never matches NLB's frames to it", rem.Code(rem.CiscoStaticMAC(k.MAC, vlan)), rem.Code(rem.BridgeMDBAdd(k.MAC, vlan)))
		return b.String()
	}
	return "give the cluster a VLAN of its own, or move it to IGMP multicast mode and pin its cluster MAC to the hosts' switch ports"
}

// clusterIPOf names the cluster a cluster MAC belongs to: the IP it embeds,
// or for the IGMP form a live cluster matching its two bytes, or the VIP the
// clients sent to.
func (e *Engine) clusterIPOf(vlan frame.VLAN, mac addr.MAC, dstIP netip.Addr) netip.Addr {
	f := addr.Classify(mac)
	if ip, ok := f.EmbeddedIP(); ok {
		return ip
	}
	if k, _ := e.liveCluster(vlan, f); k.IP.IsValid() {
		return k.IP
	}
	if dstIP.IsValid() && f.Encodes(dstIP) {
		return dstIP
	}
	return netip.Addr{}
}

// FormatBytes writes a byte count or rate for people: "1.5 MiB", "512 B".
func FormatBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// checkEvictions reports tables that hit their limits: results for the
// stations evicted are incomplete, and the user should know.
func (e *Engine) checkEvictions(now int64) {
	ev := e.evictions()
	var parts []string
	for _, p := range []struct {
		name string
		n    uint64
	}{{"ARP bindings", ev.Bindings}, {"IGMP entries", ev.IGMP}, {"clusters", ev.Clusters},
		{"cluster-MAC counters", ev.ClusterMACs}, {"findings", ev.Findings}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.name))
		}
	}
	if len(parts) == 0 {
		return
	}
	key := finding.Key{Kind: finding.StateEvicted}
	msg := "state tables reached their limits and evicted the least recently seen entries (" +
		strings.Join(parts, ", ") + "): a flood of random MACs or IPs, or a very large network; results for the evicted stations are incomplete"
	if f, ok := e.store.Get(key); ok {
		f.Message = msg
		return
	}
	e.store.Raise(key, finding.Finding{
		Severity: finding.Warning, Subject: "state tables", Time: at(now), Message: msg,
		Remedy: "capture closer to the cluster (its VLAN only), or look for the source of the flood",
	})
}

// finishTruncation completes the capture-truncated findings with what the
// whole capture showed: the one of the capture's snaplen and those of the
// remote-span sessions whose switch cut frames.
func (e *Engine) finishTruncation() {
	if f, ok := e.store.Get(finding.Key{Kind: finding.CaptureTruncated}); ok {
		s := &e.stats
		f.Message = fmt.Sprintf("%d of %s %s cut by the capture's snaplen (at most %d bytes kept)",
			s.Truncated, finding.Plural(s.Frames, "frame", "frames"), finding.Verb(s.Truncated, "was", "were"), e.maxCutCaptured) +
			heartbeatsCut(s.TruncatedHeartbeats, e.minHeartbeatCut)
	}
	for session, mc := range e.mirrorCuts {
		f, ok := e.store.Get(mirrorCutKey(session))
		if !ok {
			continue
		}
		kind, id := session.Session()
		to := ""
		if mc.maxKept > 0 {
			to = fmt.Sprintf(" to at most %d bytes", mc.maxKept)
		}
		msg := fmt.Sprintf("%s of %s session %d %s cut%s by the switch that mirrored them, before it sent them (T bit in the ERSPAN header)",
			finding.Plural(mc.frames, "frame", "frames"), strings.ToUpper(kind.String()), id, finding.Verb(mc.frames, "was", "were"), to)
		if mc.alsoSnaplen > 0 {
			msg += fmt.Sprintf("; %d of them %s also cut by the capture's snaplen", mc.alsoSnaplen, finding.Verb(mc.alsoSnaplen, "was", "were"))
		}
		f.Message = msg + heartbeatsCut(mc.heartbeats, mc.minHeartbeat)
	}
}

// heartbeatsCut says, after a truncation message, what n cut heartbeats
// lost, the shortest of them kept to minKept payload bytes; "" for none.
func heartbeatsCut(n uint64, minKept int) string {
	if n == 0 {
		return ""
	}
	msg := fmt.Sprintf("; %s %s truncated, the shortest to %d of %d payload bytes: ",
		finding.Plural(n, "NLB heartbeat", "NLB heartbeats"), finding.Verb(n, "was", "were"), minKept, frame.MembershipLen)
	switch {
	case minKept < 16:
		msg += "cluster IP and priority were taken from the masked source MAC where there was one, dedicated IP, version and port rules are unknown"
	case minKept < 20:
		msg += "dedicated IP and port rules are unknown"
	case minKept < 28:
		msg += "convergence state and port rules are unknown"
	case minKept < 44+4*frame.MaxPortRules:
		msg += "port rules were compared only where all of a host's rule codes were captured"
	default:
		msg += "only the load maps were cut, which nlbprobe does not use"
	}
	return msg
}

// finishDeclared reports the clusters the user expects (--cluster) that
// left no trace, or only some.
func (e *Engine) finishDeclared() {
	for _, vip := range e.opts.Clusters {
		var heartbeats, arpSeen, frames, unicast bool
		uniMAC, _ := addr.ClusterMAC(addr.ModeUnicast, vip)
		for k := range e.nlb.Clusters() {
			heartbeats = heartbeats || k.IP == vip
		}
		for k, b := range e.arp.All() {
			arpSeen = arpSeen || k.IP == vip
			for _, m := range b.Seen() {
				arpSeen = arpSeen || addr.Classify(m.MAC).Encodes(vip)
				unicast = unicast || m.MAC == uniMAC
			}
		}
		for k := range e.flood.All() {
			frames = frames || addr.Classify(k.MAC).Encodes(vip)
			unicast = unicast || k.MAC == uniMAC
		}
		if heartbeats {
			continue
		}
		key := finding.Key{Kind: finding.ClusterNotSeen, IP: vip}
		if _, ok := e.store.Get(key); ok {
			continue
		}
		macs := clusterMACs(vip)
		var msg string
		sev := finding.Warning
		switch {
		case arpSeen || frames:
			sev = finding.Info
			msg = fmt.Sprintf("no heartbeats of cluster %v were seen, though ARP or frames to its MACs were: "+
				"this port is not on the cluster's VLAN, or a filter or snaplen dropped ethertype 0x886F", vip)
		default:
			msg = fmt.Sprintf("no heartbeats, ARP or frames to %s were seen for cluster %v: "+
				"the capture point is not on the cluster's VLAN, or the cluster is down", strings.Join(macs, ", "), vip)
		}
		fix := "capture on a port of the cluster's VLAN (a span of a host's port), and check the cluster is up: " +
			rem.Code(rem.NLBQuery) + " on a host"
		if unicast {
			// Unicast mode is in use (ARP or clients name 02:bf), yet no
			// heartbeat: a Hyper-V guest's masked heartbeats are dropped by
			// its virtual switch without MAC address spoofing.
			fix += fmt.Sprintf("; %v is in use, so the cluster runs in unicast mode: if its hosts are Hyper-V guests, their "+
				"heartbeats leave from masked sources (02:P:...), which the virtual switch drops unless the vNICs allow MAC "+
				"address spoofing (%s on the Hyper-V hosts)", uniMAC, rem.Code(rem.HyperVSpoofingOnByName))
		}
		e.store.Raise(key, finding.Finding{
			Severity: sev, Subject: "cluster " + vip.String(), Time: at(e.last), Message: msg,
			Remedy: fix, IPs: []netip.Addr{vip},
		})
	}
}

func clusterMACs(vip netip.Addr) []string {
	var out []string
	for _, m := range []addr.Mode{addr.ModeUnicast, addr.ModeMulticast, addr.ModeIGMP} {
		if mac, ok := addr.ClusterMAC(m, vip); ok {
			out = append(out, mac.String())
		}
	}
	return out
}

// checkHyperV raises hyperv-mac-spoofing where a Hyper-V vNIC (OUI
// 00:15:5d) acts for a unicast-mode cluster from its own MAC. In unicast
// mode NLB replaces the adapter's MAC with the cluster MAC and masks the
// source of every frame a host sends (02:P:W:X:Y:Z), so a healthy host
// never sends from its vNIC's MAC. A Hyper-V vNIC refuses the guest's
// change of MAC unless MAC address spoofing is on: the adapter keeps its
// 00:15:5d MAC, the virtual switch drops what the host sends from other
// sources and does not deliver the frames for 02:bf:W:X:Y:Z, which it
// floods, to the vNIC. The evidence:
//   - heartbeats of the cluster in unicast mode (to broadcast) from the
//     vNIC's MAC: the host converges, takes its share of the load and never
//     gets it (an error);
//   - ARP for the VIP answered from the vNIC's MAC, with no heartbeats from
//     it: such a host's masked heartbeats are dropped, or a VM has the VIP
//     configured as its own address (a warning).
//
// Multicast-mode hosts send from their NIC's MAC by design, and their
// traffic goes to a multicast MAC the virtual switch delivers: nothing here
// tells spoofing on from off, so nothing is raised for them.
func (e *Engine) checkHyperV(now int64) {
	type vNIC struct {
		mac      addr.MAC
		host     *nlb.Host
		arpFrame uint64
		arpAt    int64
	}
	for k, c := range e.nlb.Clusters() {
		if c.Mode() != addr.ModeUnicast {
			continue
		}
		var nics []vNIC
		for i := range c.Hosts {
			h := &c.Hosts[i]
			if h.Mode == addr.ModeUnicast && h.UnmaskedFrame != 0 && h.UnmaskedMAC.IsHyperV() {
				nics = append(nics, vNIC{mac: h.UnmaskedMAC, host: h})
			}
		}
		if b := e.arp.Get(k.VLAN, k.IP); b != nil {
			for _, seen := range b.Seen() {
				if !seen.EthSrc.IsHyperV() {
					continue
				}
				i := slices.IndexFunc(nics, func(n vNIC) bool { return n.mac == seen.EthSrc })
				if i < 0 {
					_, h := e.hostBySource(k.VLAN, seen.EthSrc)
					nics = append(nics, vNIC{mac: seen.EthSrc, host: h})
					i = len(nics) - 1
				}
				nics[i].arpFrame, nics[i].arpAt = seen.FirstFrame, seen.First
			}
		}
		for _, n := range nics {
			e.raiseHyperV(k, n.mac, n.host, n.arpFrame, n.arpAt)
		}
	}
}

// raiseHyperV raises (or brings up to date) the hyperv-mac-spoofing
// finding about vNIC nic of cluster k: host is the cluster host whose
// heartbeats came from nic (nil if none did), arpFrame the first ARP
// answer for the VIP from it (0 if none), at arpAt.
func (e *Engine) raiseHyperV(k nlb.ClusterKey, nic addr.MAC, host *nlb.Host, arpFrame uint64, arpAt int64) {
	clusterMAC, _ := addr.ClusterMAC(addr.ModeUnicast, k.IP)
	var sev finding.Severity
	var msg string
	var evidence []uint64
	when := arpAt
	if host != nil && host.UnmaskedFrame != 0 {
		when = host.UnmaskedAt
		sev = finding.Error
		msg = fmt.Sprintf("%s of unicast-mode cluster %v heartbeats from %v, a Hyper-V vNIC's own MAC, instead of its masked source %v",
			host.Describe(), k.IP, nic, addr.MaskedSource(uint8(host.Priority), k.IP))
		if arpFrame != 0 {
			msg += fmt.Sprintf(", and answers ARP for %v from it", k.IP)
		}
		msg += fmt.Sprintf(": the vNIC kept its MAC because Hyper-V refuses a guest's change of MAC unless MAC address spoofing is on "+
			"(NLB logs that the adapter does not support dynamic MAC address updates), so the host converges and takes its share "+
			"of the load while the virtual switch does not deliver the frames for the cluster MAC %v to it: that share of the "+
			"client connections fails", clusterMAC)
		evidence = append(evidence, host.UnmaskedFrame)
	} else {
		sev = finding.Warning
		msg = fmt.Sprintf("%v, the VIP of unicast-mode cluster %v, is answered from %v, a Hyper-V vNIC's own MAC, while the cluster's "+
			"hosts send from masked sources (02:P:...) with the cluster MAC %v: a cluster host whose vNIC refused the cluster MAC "+
			"because MAC address spoofing is off (the virtual switch then drops the masked heartbeats it sends, which is why none "+
			"from it appear here, and does not deliver the cluster's traffic to it), or a VM with the VIP configured as its own address",
			k.IP, k.IP, nic, clusterMAC)
	}
	if arpFrame != 0 {
		evidence = append(evidence, arpFrame)
	}
	fix := fmt.Sprintf("allow MAC address spoofing on the guest's vNIC, as Microsoft requires for NLB in Hyper-V guests in every cluster mode: "+
		"on the Hyper-V host that runs the VM, %s, or, by the vNIC's MAC, %s (%s shows the VM and the setting first); "+
		"then restart the guest's NLB adapter (%s, in the guest) so that NLB can put the cluster MAC on it",
		rem.Code(rem.HyperVSpoofingOnByName), rem.Code(rem.HyperVSpoofingOn(nic)), rem.Code(rem.HyperVShow(nic)), rem.Code(rem.RestartNLBAdapter))
	if sev == finding.Warning {
		fix += fmt.Sprintf("; if that VM is not a host of the cluster, remove %v from its addresses instead", k.IP)
	}
	key := finding.Key{Kind: finding.HyperVMACSpoofing, VLAN: uint64(k.VLAN), IP: k.IP, MAC: nic}
	if f, ok := e.store.Get(key); ok {
		if f.Message != msg || f.Remedy != fix {
			f.Severity, f.Message, f.Remedy, f.Evidence, f.Time = max(f.Severity, sev), msg, fix, evidence, at(when)
			e.store.Update(key)
		}
	} else {
		ips := []netip.Addr{k.IP}
		if host != nil && host.Dedicated.IsValid() {
			ips = append(ips, host.Dedicated)
		}
		e.store.Raise(key, finding.Finding{
			Severity: sev, Subject: fmt.Sprintf("%v vlan %v", nic, k.VLAN), VLAN: k.VLAN.ID(), Time: at(when),
			Message: msg, Remedy: fix, Evidence: evidence, IPs: ips, MACs: []addr.MAC{nic, clusterMAC},
		})
	}
	// The VIP flips between the cluster MAC and this vNIC's: a duplicate-ip
	// that this finding explains, and whose fix is this one.
	dup := finding.Key{Kind: finding.DuplicateIP, VLAN: uint64(k.VLAN), IP: k.IP}
	if f, ok := e.store.Get(dup); ok && slices.Contains(f.MACs, nic) {
		f.Remedy = fmt.Sprintf("%v is a host of unicast-mode cluster %v answering from its own vNIC MAC (see hyperv-mac-spoofing): "+
			"once its vNIC allows MAC address spoofing it answers with the cluster MAC %v like the other hosts and the flip-flop ends",
			nic, k.IP, clusterMAC)
	}
}
