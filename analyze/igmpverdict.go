package analyze

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/flood"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/igmp"
	"github.com/nlbprobe/nlbprobe/analyze/nlb"
	rem "github.com/nlbprobe/nlbprobe/analyze/remedy"
)

// This file holds the verdicts that rest on the IGMP control plane of an
// IGMP-mode cluster: igmp-member-missing, and the flood verdict (with its
// multicast-flooding finding) that membership and the querier decide on a
// span. They follow the control plane as it is:
//
//   - judged only once the state is known: a host reports when it joins
//     and when a querier asks, so one that heartbeats before its join
//     report, or was not asked yet, is pending, not missing; a VLAN without
//     a query is without a querier only after a switch would have aged its
//     memberships out;
//   - a finding holds while its state does and ends, with the time it
//     held, when the state changes (a host reports, a querier asks), as a
//     heartbeat gap ends; the state coming back is a new episode
//     (finding.Store.Episode);
//   - igmp-member-missing, igmp-no-querier and the flood verdict rest on the
//     same status (memberStatus, igmp.Tables.QuerierStatus), so they never
//     contradict each other, live or in the final report.

// answerTime is how long after a query a host's report may come: the Max
// Resp Time (10 s by default) plus slack. It is also how long after a
// leave a switch keeps the port (its last-member queries, about 2 s) and a
// host that restarts NLB takes to join again.
const answerTime = 12 * time.Second

// memberState is what the IGMP control plane, seen from the capture's
// vantage, says of one host's membership of its cluster's group.
type memberState uint8

const (
	// memberJoined: the host reported the group and did not leave it.
	memberJoined memberState = iota
	// memberPending: no report yet, but the host was not asked yet either:
	// too early to tell.
	memberPending
	// memberMissing: the host should have reported and did not, or it
	// left the group.
	memberMissing
	// memberUnknown: no report of the host was seen, but from this vantage
	// (a port with no NLB node) that proves nothing; why says why.
	memberUnknown
)

// memberStatus is a host's memberState with its times.
type memberStatus struct {
	state memberState
	// since is when the state began: the membership's first report
	// (joined), the host's first heartbeat or its leave (missing,
	// unknown, pending).
	since int64
	// leftAt is set (non-zero) when the host left the group.
	leftAt int64
	// asked is the query the host should have answered (0: none).
	asked int64
	// watched is how long, since since, an input that hears the host was
	// capturing (a host without a report only).
	watched int64
	// why says, for memberUnknown, why the vantage cannot tell, and for a
	// memberMissing judged from a nonmember port, what proves it.
	why string
}

// nonmemberVantage reports whether frames on vlan were captured on a port
// with no NLB node. A remote span's frames are mirrored copies wherever
// the capture stands: they are judged as a span's.
func (e *Engine) nonmemberVantage(vlan frame.VLAN) bool {
	session, _ := vlan.Session()
	return e.opts.Vantage == VantageNonMember && session == frame.SessionNone
}

// memberStatusOf says what the control plane shows of host h's membership
// of group on vlan at now. See analyze/design.md, "IGMP".
func (e *Engine) memberStatusOf(vlan frame.VLAN, group [4]byte, c *nlb.Cluster, h *nlb.Host, now int64) memberStatus {
	m := e.memberOf(vlan, group, h)
	switch {
	case m != nil && !m.Left:
		return memberStatus{state: memberJoined, since: m.Since}
	case m != nil:
		// A host that leaves and joins again at once (NLB restarted) never
		// lost its port; one that stays out did.
		if now-m.LeftAt < int64(answerTime) {
			return memberStatus{state: memberPending, since: m.LeftAt, leftAt: m.LeftAt}
		}
		return memberStatus{state: memberMissing, since: m.LeftAt, leftAt: m.LeftAt}
	}
	// Never reported: a host reports when it joins (which may trail its
	// first heartbeat) and when a querier asks. It should have answered a
	// query after its first heartbeat whose response time is over, or
	// joined within the time a switch keeps a membership.
	since := h.First
	queries := e.igmp.QueriesOn(vlan)
	var asked int64
	for _, q := range []int64{queries.Last, queries.Prev} {
		if queries.Count > 0 && q != 0 && q >= since && now-q >= int64(answerTime) {
			asked = q
			break
		}
	}
	// The time an input that hears the host was capturing counts: not the
	// time between rotated files, nor after its input ended.
	_, heard := e.nlb.Listened(c, h, since, now)
	if asked == 0 && heard < int64(igmp.MembershipTimeout) {
		return memberStatus{state: memberPending, since: since, watched: heard}
	}
	st := memberStatus{state: memberMissing, since: since, asked: asked, watched: heard}
	if !e.nonmemberVantage(vlan) {
		// A span sees every report: one that never came was not sent.
		return st
	}
	// A port with no NLB node sees reports only where the switch sends
	// them, and a v1/v2 host that hears another member's report for the
	// group keeps its own (report suppression, RFC 2236 section 3;
	// IGMPv3 has none): a missing report proves something only where
	// reports reach this port and none of another member suppressed it.
	groupIP := netip.AddrFrom4(group)
	if asked == 0 {
		st.state = memberUnknown
		st.why = "no query it should have answered was seen, and a port with no NLB node sees a host's join report only while the switch floods reports"
		return st
	}
	if _, last := e.igmp.ReportTimes(vlan); last < asked {
		st.state = memberUnknown
		st.why = fmt.Sprintf("no IGMP report of any host reached this port after the query at %s: a snooping switch sends reports "+
			"to its router ports only, so a port with no NLB node sees them only while the switch floods them", clock(asked))
		return st
	}
	if who, m := e.suppressor(vlan, group, c, h, asked); m != nil {
		st.state = memberUnknown
		st.why = fmt.Sprintf("an IGMPv%d report for %v from %s came at %s, after the query at %s that this host should have answered, "+
			"and a host with IGMPv1/v2 that hears another member's report for the group keeps its own (report suppression, RFC 2236 section 3)",
			m.Version, groupIP, who, clock(m.Last), clock(asked))
		return st
	}
	st.why = fmt.Sprintf("reports reach this port, and no other member's IGMPv1/v2 report for %v after the query at %s could have "+
		"suppressed its own", groupIP, clock(asked))
	return st
}

// suppressor finds another host's IGMPv1/v2 report for group on vlan at or
// after the query at asked, which would have kept host h of cluster c from
// sending its own, and names that host. A later report than the query's
// response window counts too (the membership keeps only the last report):
// from a nonmember port, doubt means no finding.
func (e *Engine) suppressor(vlan frame.VLAN, group [4]byte, c *nlb.Cluster, h *nlb.Host, asked int64) (string, *igmp.Membership) {
	for k, m := range e.igmp.Members() {
		if k.VLAN != vlan || k.Group != group || m.Version > 2 || m.Left || m.Last < asked {
			continue
		}
		member := netip.AddrFrom4(k.Member)
		if member == h.Dedicated || m.MAC == h.MAC {
			continue
		}
		for i := range c.Hosts {
			if o := &c.Hosts[i]; o != h && (o.Dedicated == member || o.MAC == m.MAC) {
				return o.Describe(), m
			}
		}
		return member.String(), m
	}
	return "", nil
}

func clock(ns int64) string { return at(ns).Format(time.RFC3339Nano) }

// checkMembership raises igmp-member-missing for IGMP-mode hosts that
// heartbeat but are not members of their cluster's group when they should
// be, ends it when they report, and says so (info) where the capture
// cannot tell: too short, or a vantage that does not see every report.
func (e *Engine) checkMembership(now int64, final bool) {
	for k, c := range e.nlb.Clusters() {
		if c.Mode() != addr.ModeIGMP {
			continue
		}
		group := igmp.GroupOf(k.IP)
		groupIP := netip.AddrFrom4(group)
		for i := range c.Hosts {
			h := &c.Hosts[i]
			key, f := e.store.Episode(finding.Key{Kind: finding.IGMPMemberMissing, VLAN: uint64(k.VLAN), IP: k.IP, IP2: h.Dedicated, N: int64(h.Priority)})
			open := f != nil && f.End.IsZero()
			st := e.memberStatusOf(k.VLAN, group, c, h, now)
			var sev finding.Severity
			var msg, remedy string
			switch st.state {
			case memberJoined:
				switch {
				case !open:
				case f.Severity < finding.Warning:
					// The host reported: what the info could not tell is
					// answered.
					e.store.Withdraw(key)
				default:
					start := f.Start.UnixNano()
					end := max(st.since, start)
					left := false
					if m := e.memberOf(k.VLAN, group, h); m != nil && m.LeftAt == start {
						left = true
					}
					f.End = at(end)
					f.Message = memberEndedMessage(h, groupIP, start, end, left)
					e.store.Update(key)
				}
				continue
			case memberPending:
				if !final || f != nil {
					continue
				}
				sev = finding.Info
				msg = fmt.Sprintf("%s heartbeats in IGMP mode and sent no IGMP report for %v, but the capture is too short "+
					"to know: hosts report when a querier asks (every %s by default) and %s was captured without a query to answer",
					h.Describe(), groupIP, igmp.QueryInterval, dur(st.watched))
				remedy = "capture for at least " + igmp.MembershipTimeout.String() + ", or until a query and its reports are seen"
			case memberUnknown:
				sev = finding.Info
				msg = fmt.Sprintf("%s heartbeats in IGMP mode and no IGMP report of it for %v reached this port in %s, "+
					"but from a port with no NLB node that cannot tell whether it is a member: %s",
					h.Describe(), groupIP, dur(st.watched), st.why)
				remedy = "judge the membership from a span of the hosts' ports, or on the switch (Cisco " +
					rem.Code(rem.CiscoShowIGMPGroups(k.VLAN.ID())) + ", Linux bridge " + rem.Code(rem.BridgeMDBShow) + ")"
			case memberMissing:
				sev = finding.Warning
				msg = e.memberMissingMessage(k.VLAN, h, groupIP, st, now)
				remedy = "check IGMP multicast is enabled on that host (NLB Manager: cluster operation mode IGMP multicast) " +
					"and that its NIC and virtual switch pass IGMP; compare the switch's groups (Cisco " +
					rem.Code(rem.CiscoShowIGMPGroups(k.VLAN.ID())) + ", Linux bridge " + rem.Code(rem.BridgeMDBShow) + ")"
			}
			switch {
			case open && sev < f.Severity:
				// A nonmember port proved the host missing in an earlier
				// window: that stands until it reports.
			case open:
				// Keep the message current; stream it again when it
				// turned from "cannot tell" into a warning.
				raised := sev > f.Severity
				f.Severity, f.Message, f.Remedy = sev, msg, remedy
				if raised {
					f.Time = at(now)
					e.store.Update(key)
				}
			case f != nil:
				// Past finding.MaxEpisodes: the last episode opens again.
				f.Severity, f.Message, f.Remedy, f.Start, f.End = sev, msg, remedy, at(st.since), time.Time{}
				e.store.Update(key)
			default:
				e.store.Raise(key, finding.Finding{
					Severity: sev, Subject: fmt.Sprintf("cluster %v vlan %v host %d", k.IP, k.VLAN, h.Priority), VLAN: k.VLAN.ID(),
					Time: at(now), Start: at(st.since), Message: msg, Remedy: remedy,
					Evidence: []uint64{h.FirstFrame, h.LastFrame},
					IPs:      hostAddrs(k.IP, groupIP, h),
					MACs:     []addr.MAC{h.MAC},
				})
			}
		}
	}
}

// memberMissingMessage says why host h is missing from group.
func (e *Engine) memberMissingMessage(vlan frame.VLAN, h *nlb.Host, group netip.Addr, st memberStatus, now int64) string {
	const impact = "a snooping switch does not deliver the cluster's traffic to its port"
	if st.leftAt != 0 {
		return fmt.Sprintf("%s left %v at %s (an IGMP leave) and heartbeats on in IGMP mode without joining again: %s",
			h.Describe(), group, clock(st.leftAt), impact)
	}
	queries := e.igmp.QueriesOn(vlan)
	asked := "no querier asked in that time"
	if queries.Count > 0 {
		asked = fmt.Sprintf("queries seen on the VLAN: %d, the last at %s", queries.Count, at(queries.Last).Format(time.RFC3339))
	}
	if st.why != "" {
		asked += "; " + st.why
	}
	return fmt.Sprintf("%s heartbeats in IGMP mode but sent no IGMP report for %v in %s (%s): %s",
		h.Describe(), group, dur(st.watched), asked, impact)
}

// memberEndedMessage says that host h was not a member of group from
// start (its leave, when left is set, else its first heartbeat) until end,
// when it reported the group.
func memberEndedMessage(h *nlb.Host, group netip.Addr, start, end int64, left bool) string {
	const impact = "a snooping switch did not deliver the cluster's traffic to its port meanwhile"
	if left {
		return fmt.Sprintf("%s left %v at %s (an IGMP leave), heartbeating on in IGMP mode, and joined again at %s (%s later): %s",
			h.Describe(), group, clock(start), clock(end), dur(end-start), impact)
	}
	return fmt.Sprintf("%s heartbeated in IGMP mode from %s but sent no IGMP report for %v until %s (%s later): %s",
		h.Describe(), clock(start), group, clock(end), dur(end-start), impact)
}

// igmpVerdict is the flood verdict, from the control plane, on the
// IGMP-form cluster MAC f on vlan of a span: flooding while a host is
// missing from the group or no querier asks, unknown until both are known,
// and otherwise targeted-if-mac-group (see analyze/design.md, "Flooding
// versus targeted").
func (e *Engine) igmpVerdict(vlan frame.VLAN, f addr.NLBForm, kind finding.Kind) floodVerdict {
	_, c := e.liveCluster(vlan, f)
	if c == nil {
		// Episodic too: a cluster evicted from the tables ends what was
		// said about it.
		return floodVerdict{verdict: VerdictUnknown, basis: BasisControlPlane, reason: "control plane: no heartbeats for an IGMP-mode cluster with this MAC were seen",
			kind: kind, episodic: true, since: e.last, state: "no IGMP-mode cluster with this MAC is known any more"}
	}
	now := e.last
	group := [4]byte{239, 255, f.IP[2], f.IP[3]}
	groupIP := netip.AddrFrom4(group)
	var missing, pending int
	var missingSince, joinedSince int64
	for i := range c.Hosts {
		st := e.memberStatusOf(vlan, group, c, &c.Hosts[i], now)
		switch st.state {
		case memberJoined:
			joinedSince = max(joinedSince, st.since)
		case memberMissing:
			if missing == 0 || st.since < missingSince {
				missingSince = st.since
			}
			missing++
		default:
			pending++
		}
	}
	hosts := finding.Plural(len(c.Hosts), "host", "hosts")
	querier, querierSince := e.igmp.QuerierStatus(vlan, now)
	v := floodVerdict{basis: BasisControlPlane, kind: kind, episodic: true}
	switch {
	case missing > 0:
		v.verdict, v.raise, v.membersMissing, v.noQuerier, v.since = VerdictFlooding, true, true, querier == igmp.QuerierAbsent, missingSince
		v.reason = fmt.Sprintf("control plane: IGMP mode, but %d of %s %s not a member of %v (never reported it when asked, or left it): "+
			"a snooping switch floods the group or keeps it from those hosts", missing, hosts, finding.Verb(missing, "is", "are"), groupIP)
	case querier == igmp.QuerierAbsent:
		// The switch aged the memberships out MembershipTimeout after
		// the last query (or, with none, the first report).
		v.verdict, v.raise, v.noQuerier, v.since = VerdictFlooding, true, true, querierSince+int64(igmp.MembershipTimeout)
		every := "with every host reported"
		if pending > 0 {
			every = "with " + finding.Plural(len(c.Hosts)-pending, "host", "hosts") + " reported"
		}
		v.reason = fmt.Sprintf("control plane: IGMP mode %s, but no querier on the VLAN for %s: memberships have aged out "+
			"and the switch floods (or drops) the group", every, dur(e.cov.Total(querierSince, now)))
	case pending > 0 || querier == igmp.QuerierPending:
		v.verdict, v.since = VerdictUnknown, joinedSince
		var why []string
		if pending > 0 {
			why = append(why, fmt.Sprintf("%d of %s %s not reported %v and %s not been asked yet (a host reports when it joins "+
				"and when a querier asks)", pending, hosts, finding.Verb(pending, "has", "have"), groupIP, finding.Verb(pending, "was", "were")))
		}
		if querier == igmp.QuerierPending {
			why = append(why, "no IGMP query was seen yet")
		} else {
			v.since = max(v.since, querierSince)
		}
		when := fmt.Sprintf("judged after a query (every %s by default) or %s", igmp.QueryInterval, igmp.MembershipTimeout)
		if e.finished {
			when = "the capture is too short to tell"
		}
		v.state = joinWords(why)
		v.reason = fmt.Sprintf("control plane: IGMP mode, not judged yet: %s; %s", v.state, when)
	default:
		v.verdict, v.since = VerdictTargetedIfMACGroup, max(joinedSince, querierSince)
		v.state = fmt.Sprintf("every host is a member of %v and a querier asks", groupIP)
		v.reason = "control plane: IGMP mode, every host reported and a querier is present; " +
			"traffic is targeted only where the switch constrains by MAC group (a static MAC entry, Nexus 9000), " +
			"while switches that snoop by IP group (Catalyst 9000, a Linux bridge) flood or drop it: only a nonmember vantage proves it"
	}
	return v
}

func joinWords(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return parts[0] + ", and " + parts[1]
}

// floodEpisode raises, keeps current or ends the multicast-flooding
// finding on the IGMP-form cluster MAC k from the control plane's verdict
// v: a flooding verdict holds from v.since; when the verdict turns, the
// finding ends at the time the new state began, with what it said.
func (e *Engine) floodEpisode(k flood.Key, c *flood.Counter, v floodVerdict, now int64) {
	key, f := e.store.Episode(finding.Key{Kind: v.kind, VLAN: uint64(k.VLAN), MAC: k.MAC})
	open := f != nil && f.End.IsZero()
	remedy := e.floodRemedy(k, c, v)
	if v.raise {
		fps, bps, peak, _ := c.RatesOver(e.cov.Total(c.First, c.Last))
		msg := fmt.Sprintf("%s (%s) to %v on vlan %v: %.1f frames/s, %s/s, peak %s in one second; %s",
			finding.Plural(c.Frames, "frame", "frames"), FormatBytes(float64(c.Bytes)), k.MAC, k.VLAN, fps, FormatBytes(bps),
			finding.Plural(peak, "frame", "frames"), v.reason)
		if e.floodReasons == nil {
			e.floodReasons = make(map[flood.Key]string)
		}
		e.floodReasons[k] = v.reason
		switch {
		case open:
			f.Message, f.Count = msg, c.Frames
			if f.Remedy != remedy {
				f.Remedy = remedy
				e.store.Update(key)
			}
		case f != nil:
			// Past finding.MaxEpisodes: the last episode opens again.
			f.Message, f.Count, f.Remedy, f.Start, f.End = msg, c.Frames, remedy, at(v.since), time.Time{}
			e.store.Update(key)
		default:
			var ips []netip.Addr
			if ip := e.clusterIPOf(k.VLAN, k.MAC, c.DstIP); ip.IsValid() {
				ips = []netip.Addr{ip}
			}
			e.store.Raise(key, finding.Finding{
				Severity: finding.Warning, Subject: fmt.Sprintf("%v vlan %v", k.MAC, k.VLAN), VLAN: k.VLAN.ID(),
				Time: at(now), Start: at(v.since), Message: msg, Remedy: remedy, Count: c.Frames,
				Evidence: []uint64{c.FirstFrame, c.LastFrame}, IPs: ips, MACs: []addr.MAC{k.MAC},
			})
		}
		return
	}
	if !open {
		return
	}
	// The control plane no longer says flooding: the episode ends when
	// the state that ended it began.
	start := f.Start.UnixNano()
	end := min(max(v.since, start), now)
	// Count stays the frames counted while the verdict said flooding.
	f.End, f.Remedy = at(end), remedy
	f.Message = fmt.Sprintf("traffic to %v on vlan %v flooded from %s until %s (%s): %s; then the control plane changed: %s (verdict since: %s)",
		k.MAC, k.VLAN, clock(start), clock(end), dur(end-start), e.floodReasons[k], v.state, v.verdict)
	delete(e.floodReasons, k)
	e.store.Update(key)
}

func dur(ns int64) time.Duration { return time.Duration(ns).Round(time.Second) }
