package analyze

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/arp"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/remedy"
)

// This file holds what a live capture (nlbprobe watch) asks of the engine
// beyond frames: the kernel's drop counters, the local neighbour table to
// compare with the wire, and a cheap snapshot for status lines and
// metrics. Like the rest of the engine it is pure: the capture side reads
// the counters and the table and passes them in.

// Snapshot returns what a status line or a metrics scrape needs, cheaper
// than Report: the clusters, the cluster-MAC traffic with its verdicts, the
// IGMP queriers, the findings and the counters, but no ARP bindings or IGMP
// groups (Bindings and IGMPGroups are nil). Like Report it runs the table checks
// first, so findings are current.
func (e *Engine) Snapshot() *Report {
	e.flushTouches()
	e.check(e.last, false)
	return e.report(false)
}

// CaptureCounters are a live capture's counters as the kernel keeps them.
type CaptureCounters struct {
	// Received counts the frames that passed the capture filter, dropped
	// ones included.
	Received uint64
	// Dropped counts the frames the kernel dropped because nlbprobe's
	// ring was full: they were never analyzed.
	Dropped uint64
	// Freezes counts the times the ring filled up.
	Freezes uint64
}

// NoteCaptureDrops records the kernel's counters of a live capture
// (cumulative since it opened): stats.kernel_drops, and a capture-drops
// warning as soon as a frame was dropped, whose message (and Count, the
// frames dropped) is kept current and streamed again as drops grow. now is
// used as the finding's time when no frame was analyzed yet.
func (e *Engine) NoteCaptureDrops(c CaptureCounters, now time.Time) {
	if c.Dropped <= e.stats.KernelDrops {
		return
	}
	e.stats.KernelDrops = c.Dropped
	when := now.UTC()
	if e.stats.Frames > 0 {
		when = at(e.last)
	}
	pct := 100 * float64(c.Dropped) / float64(max(c.Received, c.Dropped))
	msg := fmt.Sprintf("the kernel dropped %d of the %d frames that passed the capture filter (%.2f%%; the ring filled up %s): "+
		"they were never analyzed, so counts, rates and gaps are uncertain by that much (the last drop by %s)",
		c.Dropped, c.Received, pct, finding.Plural(c.Freezes, "time", "times"), when.Format(time.RFC3339))
	key := finding.Key{Kind: finding.CaptureDrops}
	if f, ok := e.store.Get(key); ok {
		f.Message, f.Count = msg, c.Dropped
		e.store.Update(key)
		return
	}
	e.store.Raise(key, finding.Finding{
		Severity: finding.Warning, Subject: "capture", Time: when, Message: msg, Count: c.Dropped,
		Remedy: "give the capture a bigger ring (--ring-size), keep the pre-filter (no --all), give the probe a CPU of its own, " +
			"or capture on a less busy port (the cluster's VLAN only)",
	})
}

// StaticNeighbor is a permanent entry of the probe host's neighbour table
// (`ip neigh ... nud permanent`, `arp -s`), as CheckStaticARP compares it
// with the wire.
type StaticNeighbor struct {
	// Interface names where the entry is, for messages.
	Interface string
	// VLAN is the 802.1Q VLAN the entry's interface sends on (0 untagged).
	VLAN uint16
	IP   netip.Addr
	MAC  addr.MAC
}

// CheckStaticARP compares permanent neighbour entries with what the wire
// says about their IPs, and raises stale-static-arp (an error: this host
// sends the IP's traffic to a MAC the wire no longer uses) for each entry
// that disagrees:
//   - with the ARP binding the capture saw for the IP on the entry's VLAN;
//   - or, when no ARP was seen, with the cluster MAC of the mode in which
//     the IP heartbeats as an NLB cluster (a static entry kept from
//     before a change of mode).
//
// Entries for IPs the wire said nothing about are left alone. It returns
// how many entries disagree. Each disagreement is raised once per entry and
// wire MAC; call it whenever the table was read.
func (e *Engine) CheckStaticARP(entries []StaticNeighbor) int {
	stale := 0
	for _, n := range entries {
		if !n.IP.Is4() {
			continue
		}
		vlan := frame.MakeVLAN(n.VLAN, 0)
		wire, evidence, basis, ok := e.wireMAC(vlan, n.IP)
		if !ok || wire == n.MAC {
			continue
		}
		stale++
		key := finding.Key{Kind: finding.StaleStaticARP, VLAN: uint64(vlan), IP: n.IP, MAC: n.MAC, MAC2: wire}
		if _, ok := e.store.Get(key); ok {
			continue
		}
		why := ""
		if arp.Explain(n.MAC, wire) == arp.ModeChange {
			why = fmt.Sprintf(": the entry is the %s-mode cluster MAC and the cluster now uses %s mode",
				addr.Classify(n.MAC).Form.Mode(), addr.Classify(wire).Form.Mode())
		}
		var ev []uint64
		if evidence != 0 {
			ev = []uint64{evidence}
		}
		e.store.Raise(key, finding.Finding{
			Severity: finding.Error, Subject: fmt.Sprintf("%v vlan %v", n.IP, vlan), VLAN: n.VLAN, Time: at(e.last),
			Message: fmt.Sprintf("this host's neighbour table has a permanent entry %v -> %v (dev %s), but %s %v%s",
				n.IP, n.MAC, n.Interface, basis, wire, why),
			Remedy:   staticARPRemedy(n, wire),
			Evidence: ev,
			IPs:      []netip.Addr{n.IP},
			MACs:     []addr.MAC{n.MAC, wire},
		})
	}
	return stale
}

// staticARPRemedy says how to fix the permanent entry n that the wire
// contradicts: replace or delete it here, and look for the same entry on
// routers and firewalls, which need a static entry themselves only for a
// multicast cluster MAC (they do not learn one from ARP).
func staticARPRemedy(n StaticNeighbor, wire addr.MAC) string {
	s := fmt.Sprintf("replace the static entry: %s (or delete it: %s); check routers and firewalls for the same stale entry (Cisco %s)",
		remedy.Code(remedy.IPNeighReplace(n.IP, wire, n.Interface)), remedy.Code(remedy.IPNeighDel(n.IP, n.Interface)),
		remedy.Code(remedy.CiscoNoARP(n.IP, n.MAC)))
	if wire.IsMulticast() {
		s += fmt.Sprintf(" and give them the multicast cluster MAC instead (Cisco %s)", remedy.Code(remedy.CiscoARP(n.IP, wire)))
	}
	return s
}

// wireMAC returns the MAC the wire binds ip to on vlan, the frame that
// shows it, and what it rests on.
func (e *Engine) wireMAC(vlan frame.VLAN, ip netip.Addr) (mac addr.MAC, evidence uint64, basis string, ok bool) {
	if b := e.arp.Get(vlan, ip); b != nil {
		cur := b.MACs[b.Current]
		return cur.MAC, cur.LastFrame, fmt.Sprintf("ARP on the wire (last at %s, from %v) binds it to",
			at(cur.Last).Format(time.RFC3339), cur.EthSrc), true
	}
	if c := e.nlb.Cluster(vlan, ip); c != nil {
		if mac, ok := addr.ClusterMAC(c.Mode(), ip); ok {
			return mac, c.FirstFrame, fmt.Sprintf("the cluster's heartbeats (%s mode) give it the cluster MAC", c.Mode()), true
		}
	}
	return addr.MAC{}, 0, "", false
}
