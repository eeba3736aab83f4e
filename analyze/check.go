package analyze

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/igmp"
	"github.com/nlbprobe/nlbprobe/analyze/nlb"
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
	e.checkStaleClusterMACs(now)
	e.checkFlooding(now)
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

// checkMembership raises igmp-member-missing for IGMP-mode hosts that
// heartbeat but never reported their cluster's group. Hosts report only
// when asked (or once when they join), so "never" needs a query the host
// should have answered, or as long as a switch keeps a membership.
func (e *Engine) checkMembership(now int64, final bool) {
	const answerTime = 12 * time.Second // Max Resp Time (10 s) plus slack
	for k, c := range e.nlb.Clusters() {
		if c.Mode() != addr.ModeIGMP {
			continue
		}
		group := igmp.GroupOf(k.IP)
		queries := e.igmp.QueriesOn(k.VLAN)
		for i := range c.Hosts {
			h := &c.Hosts[i]
			key := finding.Key{Kind: finding.IGMPMemberMissing, VLAN: uint32(k.VLAN), IP: k.IP, IP2: h.Dedicated, N: int64(h.Priority)}
			subject := fmt.Sprintf("cluster %v vlan %v host %d", k.IP, k.VLAN, h.Priority)
			if m := e.memberOf(k.VLAN, group, h); m != nil && !m.Left {
				// A late report withdraws what an earlier check said.
				e.store.Withdraw(key)
				continue
			}
			askedAfterJoin := func(q int64) bool { return q >= h.First && now-q >= int64(answerTime) }
			watched := time.Duration(now - h.First).Round(time.Second)
			shouldHave := askedAfterJoin(queries.Last) || askedAfterJoin(queries.Prev) ||
				watched >= igmp.MembershipTimeout
			groupIP := netip.AddrFrom4(group)
			var sev finding.Severity
			var msg, remedy string
			switch {
			case shouldHave:
				asked := "no querier asked in that time"
				if queries.Count > 0 {
					asked = fmt.Sprintf("queries seen on the VLAN: %d, the last at %s", queries.Count,
						at(queries.Last).Format(time.RFC3339))
				}
				sev = finding.Warning
				msg = fmt.Sprintf("%s heartbeats in IGMP mode but sent no IGMP report for %v in %s (%s): "+
					"a snooping switch does not deliver the cluster's traffic to its port", h.Describe(), groupIP, watched, asked)
				remedy = "check IGMP multicast is enabled on that host (NLB Manager: cluster operation mode IGMP multicast) " +
					"and that its NIC/virtual switch passes IGMP; compare `bridge mdb show` or `show ip igmp snooping groups`"
			case final:
				sev = finding.Info
				msg = fmt.Sprintf("%s heartbeats in IGMP mode and sent no IGMP report for %v, but the capture is too short "+
					"to know: hosts report when a querier asks (every %s by default) and %s was captured without a query to answer",
					h.Describe(), groupIP, igmp.QueryInterval, watched)
				remedy = "capture for at least " + igmp.MembershipTimeout.String() + ", or until a query and its reports are seen"
			default:
				continue
			}
			if f, ok := e.store.Get(key); ok {
				// Keep the message current: the first check may have run
				// early in the capture.
				if sev >= f.Severity {
					f.Severity, f.Message, f.Remedy = sev, msg, remedy
				}
				continue
			}
			e.store.Raise(key, finding.Finding{
				Severity: sev, Subject: subject, VLAN: k.VLAN.ID(), Time: at(now), Message: msg, Remedy: remedy,
				Evidence: []uint64{h.FirstFrame, h.LastFrame},
				IPs:      hostAddrs(k.IP, groupIP, h),
				MACs:     []addr.MAC{h.MAC},
			})
		}
	}
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

// checkStaleClusterMACs raises nlb-stale-cluster-mac for an IP bound to a
// cluster MAC that embeds another IP. Two cases are normal and left alone:
// in unicast mode every host's dedicated IP answers with the cluster MAC,
// and a cluster's additional VIPs answer with the primary VIP's MAC.
func (e *Engine) checkStaleClusterMACs(now int64) {
	for k, b := range e.arp.All() {
		for _, seen := range b.Seen() {
			f := addr.Classify(seen.MAC)
			if !f.Form.IsCluster() || f.Encodes(k.IP) {
				continue
			}
			key := finding.Key{Kind: finding.NLBStaleClusterMAC, VLAN: uint32(k.VLAN), IP: k.IP, MAC: seen.MAC}
			if _, ok := e.store.Get(key); ok {
				continue
			}
			owner, ownerCluster := e.liveCluster(k.VLAN, f)
			own := e.nlb.Cluster(k.VLAN, k.IP)
			var sev finding.Severity
			var why string
			switch {
			case own != nil:
				sev = finding.Error
				mac, _ := addr.ClusterMAC(own.Mode(), k.IP)
				why = fmt.Sprintf("cluster %v itself heartbeats on this VLAN (%s mode, cluster MAC %v), "+
					"so %v is a leftover of another cluster", k.IP, own.Mode(), mac, seen.MAC)
			case ownerCluster != nil && isDedicated(ownerCluster, k.IP):
				continue // a unicast-mode host's dedicated IP
			case ownerCluster != nil:
				// An additional VIP of a live cluster: normal, not stale.
				_ = owner
				continue
			default:
				sev = finding.Warning
				why = "no cluster with that IP heartbeats on this VLAN: the mark of a cluster moved or re-created, " +
					"or of a static ARP entry typed wrong (if it is the primary IP of a cluster whose heartbeats this capture missed, " +
					k.IP.String() + " may be one of its additional VIPs)"
			}
			e.store.Raise(key, finding.Finding{
				Severity: sev, Subject: fmt.Sprintf("%v vlan %v", k.IP, k.VLAN), VLAN: k.VLAN.ID(), Time: at(seen.First),
				Message: fmt.Sprintf("%v is answered with %v, the %s cluster MAC of %s: %s",
					k.IP, seen.MAC, f.Form.Mode(), embedded(f), why),
				Remedy: "find who answers (the Ethernet source " + seen.EthSrc.String() + ") and remove the old cluster " +
					"configuration or static ARP entry (arp " + k.IP.String() + " " + seen.MAC.Dotted() + " ARPA on a router)",
				Evidence: []uint64{seen.FirstFrame},
				IPs:      []netip.Addr{k.IP},
				MACs:     []addr.MAC{seen.MAC},
			})
		}
	}
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

// floodVerdict says whether traffic to a cluster MAC floods, and on what
// the verdict rests.
type floodVerdict struct {
	verdict string // flooding, targeted-if-mac-group, unknown
	basis   string
	kind    finding.Kind
	raise   bool
}

// verdictFor decides flooding for the cluster MAC mac on vlan with what the
// vantage and the control plane (mode, IGMP membership, querier) say.
func (e *Engine) verdictFor(vlan frame.VLAN, mac addr.MAC, frames uint64) floodVerdict {
	f := addr.Classify(mac)
	kind := finding.MulticastFlooding
	if f.Form == addr.FormUnicastCluster {
		kind = finding.UnicastFlooding
	}
	if e.opts.Vantage == VantageNonMember {
		if frames == 0 {
			return floodVerdict{"targeted", "vantage nonmember: no frame to this MAC reached this port", kind, false}
		}
		return floodVerdict{"flooding", "vantage nonmember: frames to the cluster MAC reached a port with no NLB node", kind, true}
	}
	switch f.Form {
	case addr.FormUnicastCluster:
		return floodVerdict{"flooding", "control plane: unicast mode; hosts send from masked sources (02:P:...), " +
			"so the switch never learns " + mac.String() + " and floods every frame to it", kind, true}
	case addr.FormMulticastCluster:
		return floodVerdict{"flooding", "control plane: multicast mode; a switch floods a multicast MAC to every port " +
			"of the VLAN unless it has a static entry for it (not visible from a span)", kind, true}
	}
	// IGMP mode: complete membership and a querier are necessary, not
	// sufficient (a switch snooping by IP group never matches NLB frames).
	_, c := e.liveCluster(vlan, f)
	if c == nil {
		return floodVerdict{"unknown", "control plane: no heartbeats for an IGMP-mode cluster with this MAC were seen", kind, false}
	}
	missing := 0
	group := [4]byte{239, 255, f.IP[2], f.IP[3]}
	for i := range c.Hosts {
		if m := e.memberOf(vlan, group, &c.Hosts[i]); m == nil || m.Left {
			missing++
		}
	}
	queries := e.igmp.QueriesOn(vlan)
	switch {
	case missing > 0:
		return floodVerdict{"flooding", fmt.Sprintf("control plane: IGMP mode, but %d of %d hosts never reported %v: "+
			"a snooping switch floods the group or keeps it from those hosts", missing, len(c.Hosts), netip.AddrFrom4(group)), kind, true}
	case queries.Count == 0:
		return floodVerdict{"flooding", "control plane: IGMP mode with every host reported, but no querier on the VLAN: " +
			"memberships age out and the switch then floods (or drops) the group", kind, true}
	}
	return floodVerdict{"targeted-if-mac-group", "control plane: IGMP mode, every host reported and a querier is present; " +
		"traffic is targeted only where the switch constrains by MAC group (a static MAC entry, Nexus 9000), " +
		"while switches that snoop by IP group (Catalyst 9000, a Linux bridge) flood or drop it: only a nonmember vantage proves it", kind, false}
}

// checkFlooding raises unicast-flooding and multicast-flooding from the
// counted traffic and the verdict.
func (e *Engine) checkFlooding(now int64) {
	for k, c := range e.flood.All() {
		v := e.verdictFor(k.VLAN, k.MAC, c.Frames)
		if !v.raise {
			continue
		}
		key := finding.Key{Kind: v.kind, VLAN: uint32(k.VLAN), MAC: k.MAC}
		fps, bps, peak, _ := c.Rates()
		msg := fmt.Sprintf("%d frames (%s) to %v on vlan %v: %.1f frames/s, %s/s, peak %d frames in one second; %s",
			c.Frames, FormatBytes(float64(c.Bytes)), k.MAC, k.VLAN, fps, FormatBytes(bps), peak, v.basis)
		if f, ok := e.store.Get(key); ok {
			f.Message, f.Count = msg, c.Frames
			continue
		}
		remedy := "switch the cluster to IGMP multicast mode and give the switch a MAC-based group for its ports " +
			"(or isolate the cluster in its own VLAN)"
		switch {
		case addr.Classify(k.MAC).Form == addr.FormIGMPCluster:
			remedy = "make every host report the group (see igmp-member-missing) and run a querier on the VLAN (igmp-no-querier); " +
				"to target the traffic, give the switch a MAC-based group for the hosts' ports " +
				"(Cisco `mac address-table static " + k.MAC.Dotted() + " vlan <N> interface ...`, Linux `bridge mdb add ... grp " + k.MAC.String() + " permanent`)"
		case v.kind == finding.MulticastFlooding:
			vlan := "<N>"
			if k.VLAN.ID() != 0 {
				vlan = fmt.Sprint(k.VLAN.ID())
			}
			remedy = fmt.Sprintf("pin the cluster MAC to the cluster's ports: Cisco `mac address-table static %s vlan %s interface ...` "+
				"(plus `arp <VIP> %s ARPA` on the router); Linux bridge `bridge mdb add dev BR port P grp %v permanent`",
				k.MAC.Dotted(), vlan, k.MAC.Dotted(), k.MAC)
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

// finishTruncation completes the capture-truncated finding with what the
// cut hid.
func (e *Engine) finishTruncation() {
	f, ok := e.store.Get(finding.Key{Kind: finding.CaptureTruncated})
	if !ok {
		return
	}
	s := &e.stats
	msg := fmt.Sprintf("%d of %d frames were cut by the capture's snaplen (at most %d bytes kept)",
		s.Truncated, s.Frames, e.maxCutCaptured)
	if s.TruncatedHeartbeats > 0 {
		c := e.minHeartbeatCut
		msg += fmt.Sprintf("; %d NLB heartbeats were truncated, the shortest to %d of %d payload bytes: ",
			s.TruncatedHeartbeats, c, frame.MembershipLen)
		switch {
		case c < 16:
			msg += "cluster IP and priority were taken from the masked source MAC where there was one, dedicated IP, version and port rules are unknown"
		case c < 20:
			msg += "dedicated IP and port rules are unknown"
		case c < 28:
			msg += "convergence state and port rules are unknown"
		case c < 44+4*frame.MaxPortRules:
			msg += "port rules were compared only where all of a host's rule codes were captured"
		default:
			msg += "only the load maps were cut, which nlbprobe does not use"
		}
	}
	f.Message = msg
}

// finishDeclared reports the clusters the user expects (--cluster) that
// left no trace, or only some.
func (e *Engine) finishDeclared() {
	for _, vip := range e.opts.Clusters {
		var heartbeats, arpSeen, frames bool
		for k := range e.nlb.Clusters() {
			heartbeats = heartbeats || k.IP == vip
		}
		for k, b := range e.arp.All() {
			arpSeen = arpSeen || k.IP == vip
			for _, m := range b.Seen() {
				arpSeen = arpSeen || addr.Classify(m.MAC).Encodes(vip)
			}
		}
		for k := range e.flood.All() {
			frames = frames || addr.Classify(k.MAC).Encodes(vip)
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
		e.store.Raise(key, finding.Finding{
			Severity: sev, Subject: "cluster " + vip.String(), Time: at(e.last), Message: msg,
			Remedy: "capture on a port of the cluster's VLAN (a span of a host's port), and check the cluster is up: nlb.exe query",
			IPs:    []netip.Addr{vip},
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
