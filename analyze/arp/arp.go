// Package arp keeps the IP-to-MAC bindings that ARP requests, replies and
// gratuitous announcements reveal, per VLAN, and turns changes into
// findings: duplicate-ip (two MACs alternating for one IP, arpwatch's
// flip-flop), mac-change (an IP that moved to a new MAC) and
// nlb-mode-change (a VIP answered by the cluster MACs of two NLB modes).
//
// Unlike arpwatch, Zeek and Wireshark, it keeps frames whose Ethernet source
// differs from the ARP sender MAC and sender MACs with the multicast bit:
// that is how NLB answers in every mode.
package arp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/remedy"
	"github.com/nlbprobe/nlbprobe/analyze/table"
	"github.com/nlbprobe/nlbprobe/analyze/timeline"
)

// Key identifies a binding: the same IP on two VLANs is two stations.
type Key struct {
	VLAN frame.VLAN
	IP   netip.Addr
}

// maxMACs is how many distinct MACs a binding remembers. Two alternate in a
// duplicate, three or four appear across mode changes; more are replaced,
// least recently seen first.
const maxMACs = 4

// MACSeen is one MAC an IP was bound to.
type MACSeen struct {
	MAC addr.MAC
	// EthSrc is the Ethernet source of the last frame that announced MAC.
	// NLB puts the cluster MAC in the ARP sender field but sends from a
	// masked or NIC MAC, so the two differ for every NLB answer.
	EthSrc                addr.MAC
	EthMismatches         uint64
	First, Last           int64
	FirstFrame, LastFrame uint64
	Count                 uint64
}

// Binding is what the wire said about one IP.
type Binding struct {
	MACs    [maxMACs]MACSeen
	NumMACs int
	Current int // index into MACs of the MAC the IP is bound to now
	// Changes counts moves to another MAC; Flips counts moves back to a MAC
	// seen within the flip window.
	Changes, Flips uint32
	First, Last    int64
	Count          uint64
}

// CurrentMAC returns the MAC the IP is bound to now.
func (b *Binding) CurrentMAC() addr.MAC { return b.MACs[b.Current].MAC }

// Seen returns the MACs the IP was bound to.
func (b *Binding) Seen() []MACSeen { return b.MACs[:b.NumMACs] }

// Config sets the limits of a Table.
type Config struct {
	// Limit bounds the number of bindings (default 65536).
	Limit int
	// FlipWindow is how soon a return to an earlier MAC counts as a
	// flip-flop rather than a second move (default 10 minutes).
	FlipWindow time.Duration
	// Timeline, when set, receives every change of a binding's MAC (for
	// the HTML report).
	Timeline *timeline.Timeline
}

// Table holds the bindings. It is not safe for concurrent use.
type Table struct {
	cfg   Config
	tab   *table.Table[Key, Binding]
	store *finding.Store
	// OtherOpcodes counts ARP messages that are neither requests nor
	// replies (RARP 3/4, InARP 8/9, ...), which bind nothing.
	OtherOpcodes uint64
}

// New returns a Table that raises its findings in store.
func New(cfg Config, store *finding.Store) *Table {
	if cfg.Limit == 0 {
		cfg.Limit = 1 << 16
	}
	if cfg.FlipWindow == 0 {
		cfg.FlipWindow = 10 * time.Minute
	}
	return &Table{cfg: cfg, tab: table.New[Key, Binding](cfg.Limit, hashKey), store: store}
}

// hashKey spreads bindings over the table's index: a multiply instead of
// hashing Key, a struct with padding and a netip.Addr, field by field (a
// Go map's hashing measured at a fifth of an ARP frame's cost). IPv6 keys
// do not occur (Observe takes IPv4 senders only) and would only collide.
func hashKey(k Key) uint64 { return table.HashAddr(k.IP, uint64(k.VLAN)) }

// ARP operation codes (RFC 826) that carry the sender's binding.
const (
	OpRequest = 1
	OpReply   = 2
)

// Observe learns the binding that the ARP message in f announces: the
// sender of requests, replies and announcements (RFC 5227 announcements
// and gratuitous replies are requests and replies). Probes (sender
// 0.0.0.0) bind nothing, and neither do the other operations: RARP (3, 4)
// asks for the sender's own IP, InARP (8, 9) and the rest are not about
// who has an IP on this link; they are counted in OtherOpcodes. now is the
// packet time in nanoseconds, n its frame number.
func (t *Table) Observe(f *frame.Frame, now int64, n uint64) {
	a := &f.ARP
	if a.Op != OpRequest && a.Op != OpReply {
		t.OtherOpcodes++
		return
	}
	if !a.SenderIP.Is4() || a.SenderIP.IsUnspecified() || a.SenderMAC.IsZero() || a.SenderMAC == addr.Broadcast {
		return
	}
	k := Key{VLAN: f.VLAN, IP: a.SenderIP}
	b, created := t.tab.Upsert(k, now)
	if created {
		b.First = now
	}
	b.Last = now
	b.Count++
	if !created && b.MACs[b.Current].MAC == a.SenderMAC {
		b.MACs[b.Current].see(f.Src, a.SenderMAC, now, n)
		return
	}
	i := b.index(a.SenderMAC)
	if created {
		i, b.NumMACs = 0, 1
		b.MACs[0] = MACSeen{MAC: a.SenderMAC, First: now, FirstFrame: n}
		b.MACs[0].see(f.Src, a.SenderMAC, now, n)
		return
	}
	old := b.MACs[b.Current]
	returning := i >= 0
	if !returning {
		i = b.add(a.SenderMAC, now, n)
	}
	flip := returning && now-b.MACs[i].Last <= int64(t.cfg.FlipWindow)
	b.MACs[i].see(f.Src, a.SenderMAC, now, n)
	b.Current = i
	b.Changes++
	if flip {
		b.Flips++
	}
	t.cfg.Timeline.Record(timeline.Event{Kind: timeline.ARPChange, Time: now, Frame: n, VLAN: uint32(k.VLAN),
		IP: k.IP.As4(), From: old.MAC, To: a.SenderMAC})
	t.changed(k, b, old, b.MACs[i], flip, now, n)
}

func (m *MACSeen) see(ethSrc, sender addr.MAC, now int64, n uint64) {
	m.EthSrc = ethSrc
	if ethSrc != sender {
		m.EthMismatches++
	}
	m.Last, m.LastFrame = now, n
	m.Count++
}

func (b *Binding) index(m addr.MAC) int {
	for i := 0; i < b.NumMACs; i++ {
		if b.MACs[i].MAC == m {
			return i
		}
	}
	return -1
}

// add remembers a new MAC, replacing the least recently seen one other than
// the current when all slots are taken.
func (b *Binding) add(m addr.MAC, now int64, n uint64) int {
	i := b.NumMACs
	if i == maxMACs {
		i = -1
		for j := range b.MACs {
			if j != b.Current && (i < 0 || b.MACs[j].Last < b.MACs[i].Last) {
				i = j
			}
		}
	} else {
		b.NumMACs++
	}
	b.MACs[i] = MACSeen{MAC: m, First: now, FirstFrame: n}
	return i
}

// Explanation says what a change of MAC means in NLB terms.
type Explanation uint8

// Explanations of a change of MAC.
const (
	// NotNLB: no NLB form explains the change.
	NotNLB Explanation = iota
	// ModeChange: both MACs are cluster MACs of one cluster IP in two
	// different modes (02:bf, 03:bf, 01:00:5e:7f).
	ModeChange
	// SameCluster: both MACs belong to one unicast cluster (masked sources
	// 02:P:W:X:Y:Z of different hosts, or one and the cluster MAC): its nodes
	// answering, not two devices.
	SameCluster
)

// Explain classifies a change of an IP's MAC from a to b.
func Explain(a, b addr.MAC) Explanation {
	fa, fb := addr.Classify(a), addr.Classify(b)
	if fa.Form.IsCluster() && fb.Form.IsCluster() && fa.Form != fb.Form && sameClusterIP(fa, fb) {
		return ModeChange
	}
	unicastFamily := func(f addr.NLBForm) bool {
		return f.Form == addr.FormMaskedSource || f.Form == addr.FormUnicastCluster
	}
	if unicastFamily(fa) && unicastFamily(fb) && fa.IP == fb.IP {
		return SameCluster
	}
	return NotNLB
}

// sameClusterIP reports whether two NLB forms embed the same cluster IP; the
// IGMP form keeps only the last two bytes, so it is compared on those.
func sameClusterIP(a, b addr.NLBForm) bool {
	if a.Partial || b.Partial {
		return a.IP[2] == b.IP[2] && a.IP[3] == b.IP[3]
	}
	return a.IP == b.IP
}

// describe names a MAC with its NLB form, for messages.
func describe(m addr.MAC) string {
	f := addr.Classify(m)
	switch f.Form {
	case addr.FormUnicastCluster, addr.FormMulticastCluster:
		return fmt.Sprintf("%v (%s cluster MAC of %v)", m, f.Form.Mode(), netip.AddrFrom4(f.IP))
	case addr.FormIGMPCluster:
		return fmt.Sprintf("%v (IGMP cluster MAC of *.*.%d.%d)", m, f.IP[2], f.IP[3])
	case addr.FormMaskedSource:
		return fmt.Sprintf("%v (masked source of host %d of %v?)", m, f.Priority, netip.AddrFrom4(f.IP))
	}
	return m.String()
}

func at(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// changed raises the finding a change of MAC deserves.
func (t *Table) changed(k Key, b *Binding, old, cur MACSeen, flip bool, now int64, n uint64) {
	subject := fmt.Sprintf("%v vlan %v", k.IP, k.VLAN)
	vlan := k.VLAN.ID()
	switch Explain(old.MAC, cur.MAC) {
	case SameCluster:
		return
	case ModeChange:
		key := finding.Key{Kind: finding.NLBModeChange, VLAN: uint64(k.VLAN), IP: k.IP}
		if f, ok := t.store.Get(key); ok {
			f.Count++
			if len(f.Evidence) < finding.MaxEvidence {
				f.Evidence = append(f.Evidence, n)
			}
			if flip && f.Severity < finding.Error {
				f.Severity = finding.Error
				f.Message += fmt.Sprintf("; at %s %s was announced again (from %v) after the change: "+
					"residue of the old mode (a node still in it, or a device with a static entry)",
					at(now).Format(time.RFC3339), describe(cur.MAC), cur.EthSrc)
				t.store.Update(key)
			}
			return
		}
		t.store.Raise(key, finding.Finding{
			Severity: finding.Warning, Subject: subject, VLAN: vlan, Time: at(now),
			Message: fmt.Sprintf("%v was answered by %s until %s, then by %s (from %v): the NLB cluster changed mode",
				k.IP, describe(old.MAC), at(old.Last).Format(time.RFC3339), describe(cur.MAC), cur.EthSrc),
			Remedy:   modeChangeRemedy(k.IP, old.MAC, cur.MAC),
			Evidence: []uint64{old.LastFrame, n},
			IPs:      []netip.Addr{k.IP},
			MACs:     []addr.MAC{old.MAC, cur.MAC},
		})
		return
	}
	if !flip {
		key := finding.Key{Kind: finding.MACChange, VLAN: uint64(k.VLAN), IP: k.IP, MAC: old.MAC, MAC2: cur.MAC}
		if t.store.Touch(key, n) {
			return
		}
		t.store.Raise(key, finding.Finding{
			Severity: finding.Warning, Subject: subject, VLAN: vlan, Time: at(now),
			Message: fmt.Sprintf("%v moved from %s (last seen %s) to %s (from %v)",
				k.IP, describe(old.MAC), at(old.Last).Format(time.RFC3339), describe(cur.MAC), cur.EthSrc),
			Remedy: "expected after a live migration or NIC change: make sure routers and clients use the new MAC (Cisco " +
				remedy.Code(remedy.CiscoClearARP(k.IP)) + ", Windows " + remedy.Code(remedy.RemoveNetNeighbor(k.IP, old.MAC)) +
				"); otherwise another device took over the IP",
			Evidence: []uint64{old.LastFrame, n},
			IPs:      []netip.Addr{k.IP},
			MACs:     []addr.MAC{old.MAC, cur.MAC},
		})
		return
	}
	// One duplicate-ip finding per IP, naming every MAC that took part.
	key := finding.Key{Kind: finding.DuplicateIP, VLAN: uint64(k.VLAN), IP: k.IP}
	// A flip-flop shows the earlier "move" was two devices all along.
	t.store.Withdraw(finding.Key{Kind: finding.MACChange, VLAN: uint64(k.VLAN), IP: k.IP, MAC: old.MAC, MAC2: cur.MAC})
	t.store.Withdraw(finding.Key{Kind: finding.MACChange, VLAN: uint64(k.VLAN), IP: k.IP, MAC: cur.MAC, MAC2: old.MAC})
	if t.store.Touch(key, n) {
		f, _ := t.store.Get(key)
		if (!slices.Contains(f.MACs, old.MAC) || !slices.Contains(f.MACs, cur.MAC)) && len(f.MACs) < maxReportedMACs {
			for _, m := range []addr.MAC{old.MAC, cur.MAC} {
				if !slices.Contains(f.MACs, m) && len(f.MACs) < maxReportedMACs {
					f.MACs = append(f.MACs, m)
				}
			}
			f.Message = duplicateMessage(k.IP, f.MACs)
			f.Remedy = duplicateRemedy(vlan, f.MACs)
		}
		return
	}
	macs := []addr.MAC{old.MAC, cur.MAC}
	t.store.Raise(key, finding.Finding{
		Severity: finding.Error, Subject: subject, VLAN: vlan, Time: at(now),
		Message:  duplicateMessage(k.IP, macs),
		Remedy:   duplicateRemedy(vlan, macs),
		Evidence: []uint64{old.LastFrame, n},
		IPs:      []netip.Addr{k.IP},
		MACs:     macs,
	})
}

// modeChangeRemedy says how to move a VIP's neighbours from the cluster MAC
// old to cur after a change of mode. Routers do not learn a multicast MAC
// from an ARP reply (RFC 1812), so a multicast cluster MAC takes a static
// entry there, and a static entry for the old one is removed.
func modeChangeRemedy(ip netip.Addr, old, cur addr.MAC) string {
	var b strings.Builder
	fmt.Fprintf(&b, "clear the ARP caches of routers, firewalls and clients on the VLAN (Cisco %s, Windows %s)",
		remedy.Code(remedy.CiscoClearARP(ip)), remedy.Code(remedy.RemoveNetNeighbor(ip, old)))
	switch {
	case cur.IsMulticast() && old.IsMulticast():
		fmt.Fprintf(&b, " and replace static ARP entries with the new cluster MAC (Cisco %s, then %s)",
			remedy.Code(remedy.CiscoNoARP(ip, old)), remedy.Code(remedy.CiscoARP(ip, cur)))
	case cur.IsMulticast():
		fmt.Fprintf(&b, "; a router needs the new, multicast cluster MAC as a static entry (Cisco %s)", remedy.Code(remedy.CiscoARP(ip, cur)))
	case old.IsMulticast():
		fmt.Fprintf(&b, " and remove static ARP entries for the old cluster MAC (Cisco %s)", remedy.Code(remedy.CiscoNoARP(ip, old)))
	}
	b.WriteString("; Windows' duplicate-IP warning right after the change is transient (KB 264645)")
	return b.String()
}

// duplicateRemedy says how to find the devices behind the MACs that claim
// one IP: a switch learned the port of every MAC but the cluster MACs
// (which no host sends from).
func duplicateRemedy(vlan uint16, macs []addr.MAC) string {
	var shows []string
	cluster := false
	for _, m := range macs {
		if addr.Classify(m).Form.IsCluster() {
			cluster = true
			continue
		}
		shows = append(shows, remedy.Code(remedy.CiscoShowMAC(m, vlan)))
	}
	var b strings.Builder
	b.WriteString("find the devices and re-address all but one")
	if len(shows) > 0 {
		b.WriteString(" (the switch port of each MAC: Cisco " + strings.Join(shows, ", ") + ")")
	}
	if cluster {
		b.WriteString("; a cluster MAC is the cluster's own answer, so the other MACs are devices outside the cluster with the IP configured as their own address")
	}
	return b.String()
}

// maxReportedMACs bounds the MACs a duplicate-ip finding names.
const maxReportedMACs = 8

func duplicateMessage(ip netip.Addr, macs []addr.MAC) string {
	names := make([]string, len(macs))
	for i, m := range macs {
		names[i] = describe(m)
	}
	who := "two devices claim the IP"
	if len(macs) > 2 {
		who = fmt.Sprintf("%d devices claim the IP (or something forges ARP)", len(macs))
	}
	return fmt.Sprintf("%v flips between %s: %s", ip, strings.Join(names, ", "), who)
}

// Len returns the number of bindings held.
func (t *Table) Len() int { return t.tab.Len() }

// Evicted returns how many bindings were evicted to stay within the limit.
func (t *Table) Evicted() uint64 { return t.tab.Evicted() }

// Get returns the binding of ip on vlan, or nil.
func (t *Table) Get(vlan frame.VLAN, ip netip.Addr) *Binding { return t.tab.Get(Key{vlan, ip}) }

// All yields every binding; see table.Table.All.
func (t *Table) All() func(yield func(Key, *Binding) bool) { return t.tab.All() }
