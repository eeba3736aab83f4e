package arp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/arp"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

var (
	hostA   = addr.MAC{0x00, 0x15, 0x5d, 0, 0, 0xa}
	hostB   = addr.MAC{0x00, 0x15, 0x5d, 0, 0, 0xb}
	vip     = netip.MustParseAddr("172.31.3.232")
	uniMAC  = addr.MAC{0x02, 0xbf, 172, 31, 3, 232}
	multMAC = addr.MAC{0x03, 0xbf, 172, 31, 3, 232}
	igmpMAC = addr.MAC{0x01, 0x00, 0x5e, 0x7f, 3, 232}
)

// announce is one ARP message: ip claimed by sender from Ethernet source
// src at second sec.
type announce struct {
	sec    int
	vlan   frame.VLAN
	ip     netip.Addr
	sender addr.MAC
	src    addr.MAC
}

func run(t *testing.T, msgs []announce) (*arp.Table, *finding.Store) {
	t.Helper()
	store := finding.NewStore(100)
	tab := arp.New(arp.Config{FlipWindow: time.Minute}, store)
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC).UnixNano()
	for i, m := range msgs {
		src := m.src
		if src.IsZero() {
			src = m.sender
		}
		f := &frame.Frame{Kind: frame.KindARP, Src: src, Dst: addr.Broadcast, DstKnown: true, VLAN: m.vlan,
			ARP: frame.ARP{Op: 2, SenderMAC: m.sender, SenderIP: m.ip, TargetIP: m.ip}}
		tab.Observe(f, base+int64(m.sec)*int64(time.Second), uint64(i+1))
	}
	return tab, store
}

func kinds(store *finding.Store) map[finding.Kind]finding.Finding {
	out := map[finding.Kind]finding.Finding{}
	for _, f := range store.Findings() {
		out[f.Kind] = f
	}
	return out
}

func TestBindings(t *testing.T) {
	ip := netip.MustParseAddr("10.1.1.20")
	cases := []struct {
		name   string
		msgs   []announce
		want   []finding.Kind
		sev    finding.Severity
		absent []finding.Kind
	}{
		{name: "stable binding", msgs: []announce{{0, 0, ip, hostA, hostA}, {5, 0, ip, hostA, hostA}, {9, 0, ip, hostA, hostA}},
			absent: []finding.Kind{finding.MACChange, finding.DuplicateIP}},
		{name: "two hosts alternating is a duplicate, not a move",
			msgs: []announce{{0, 0, ip, hostA, hostA}, {1, 0, ip, hostB, hostB}, {2, 0, ip, hostA, hostA}, {3, 0, ip, hostB, hostB}},
			want: []finding.Kind{finding.DuplicateIP}, sev: finding.Error, absent: []finding.Kind{finding.MACChange}},
		{name: "a move that stays is a mac-change",
			msgs: []announce{{0, 0, ip, hostA, hostA}, {30, 0, ip, hostB, hostB}, {31, 0, ip, hostB, hostB}, {90, 0, ip, hostB, hostB}},
			want: []finding.Kind{finding.MACChange}, sev: finding.Warning, absent: []finding.Kind{finding.DuplicateIP}},
		{name: "moving back after the flip window is another move",
			msgs: []announce{{0, 0, ip, hostA, hostA}, {10, 0, ip, hostB, hostB}, {200, 0, ip, hostA, hostA}},
			want: []finding.Kind{finding.MACChange}, sev: finding.Warning, absent: []finding.Kind{finding.DuplicateIP}},
		{name: "same IP on two VLANs is two stations",
			msgs:   []announce{{0, 10, ip, hostA, hostA}, {1, 20, ip, hostB, hostB}, {2, 10, ip, hostA, hostA}, {3, 20, ip, hostB, hostB}},
			absent: []finding.Kind{finding.DuplicateIP, finding.MACChange}},
		{name: "unicast to multicast mode change",
			msgs: []announce{{0, 0, vip, uniMAC, addr.MAC{2, 1, 172, 31, 3, 232}}, {20, 0, vip, multMAC, hostA}, {21, 0, vip, multMAC, hostB}},
			want: []finding.Kind{finding.NLBModeChange}, sev: finding.Warning, absent: []finding.Kind{finding.DuplicateIP, finding.MACChange}},
		{name: "residue of the old mode after a change is an error",
			msgs: []announce{{0, 0, vip, uniMAC, uniMAC}, {20, 0, vip, multMAC, hostA}, {22, 0, vip, uniMAC, uniMAC}, {23, 0, vip, multMAC, hostA}},
			want: []finding.Kind{finding.NLBModeChange}, sev: finding.Error, absent: []finding.Kind{finding.DuplicateIP}},
		{name: "multicast to IGMP mode change",
			msgs: []announce{{0, 0, vip, multMAC, hostA}, {20, 0, vip, igmpMAC, hostA}},
			want: []finding.Kind{finding.NLBModeChange}, sev: finding.Warning, absent: []finding.Kind{finding.MACChange}},
		{name: "masked sources of one unicast cluster are its nodes",
			msgs: []announce{{0, 0, vip, addr.MAC{2, 1, 172, 31, 3, 232}, addr.MAC{}}, {1, 0, vip, addr.MAC{2, 2, 172, 31, 3, 232}, addr.MAC{}},
				{2, 0, vip, addr.MAC{2, 1, 172, 31, 3, 232}, addr.MAC{}}, {3, 0, vip, uniMAC, addr.MAC{}}},
			absent: []finding.Kind{finding.DuplicateIP, finding.MACChange, finding.NLBModeChange}},
		{name: "masked source of another cluster is a duplicate",
			msgs: []announce{{0, 0, vip, addr.MAC{2, 1, 172, 31, 3, 232}, addr.MAC{}}, {1, 0, vip, addr.MAC{2, 2, 10, 0, 0, 1}, addr.MAC{}},
				{2, 0, vip, addr.MAC{2, 1, 172, 31, 3, 232}, addr.MAC{}}},
			want: []finding.Kind{finding.DuplicateIP}, sev: finding.Error},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, store := run(t, c.msgs)
			got := kinds(store)
			for _, k := range c.want {
				f, ok := got[k]
				if !ok {
					t.Fatalf("no %s finding; got %v", k, got)
				}
				if f.Severity != c.sev {
					t.Errorf("%s severity %v, want %v (%s)", k, f.Severity, c.sev, f.Message)
				}
				if len(f.Evidence) == 0 {
					t.Errorf("%s has no evidence frames", k)
				}
			}
			for _, k := range c.absent {
				if f, ok := got[k]; ok {
					t.Errorf("unexpected %s: %s", k, f.Message)
				}
			}
		})
	}
}

func TestProbesAndZeroBindNothing(t *testing.T) {
	tab, _ := run(t, []announce{{0, 0, netip.IPv4Unspecified(), hostA, hostA}, {1, 0, netip.MustParseAddr("10.0.0.1"), addr.MAC{}, hostA}})
	if tab.Len() != 0 {
		t.Fatalf("%d bindings from a probe and a zero sender MAC", tab.Len())
	}
}

func TestFlipCountAndHistory(t *testing.T) {
	ip := netip.MustParseAddr("10.1.1.20")
	var msgs []announce
	for i := 0; i < 10; i++ {
		mac := hostA
		if i%2 == 1 {
			mac = hostB
		}
		msgs = append(msgs, announce{i, 0, ip, mac, mac})
	}
	tab, store := run(t, msgs)
	b := tab.Get(0, ip)
	if b == nil || b.Changes != 9 || b.Flips != 8 || b.NumMACs != 2 || b.CurrentMAC() != hostB {
		t.Fatalf("binding %+v", b)
	}
	f := kinds(store)[finding.DuplicateIP]
	if f.Count != 8 {
		t.Errorf("duplicate-ip counted %d flips, want 8", f.Count)
	}
}

// TestBoundedUnderARPFlood feeds 200,000 random IPs: the table stays at its
// limit and counts evictions; a known binding costs no allocation.
func TestBoundedUnderARPFlood(t *testing.T) {
	store := finding.NewStore(100)
	tab := arp.New(arp.Config{Limit: 10000}, store)
	f := &frame.Frame{Kind: frame.KindARP, DstKnown: true}
	for i := 0; i < 200000; i++ {
		mac := addr.MAC{0x02, 0xee, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		f.Src = mac
		f.ARP = frame.ARP{Op: 1, SenderMAC: mac, SenderIP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
		tab.Observe(f, int64(i), uint64(i))
	}
	if tab.Len() > 10000 || tab.Evicted() < 190000 {
		t.Fatalf("len %d evicted %d", tab.Len(), tab.Evicted())
	}
	n := int64(1 << 40)
	allocs := testing.AllocsPerRun(1000, func() { n++; tab.Observe(f, n, 1) })
	if allocs != 0 {
		t.Fatalf("%.1f allocs per known binding", allocs)
	}
}

// TestOnlyRequestsAndRepliesBind (issue 16 item 10): RARP, InARP and the
// other operations say nothing of who has an IP on the link. They are
// counted and bind nothing, so a RARP request after a host's ARP (the sender
// fields of arp-oobr.pcap frame 720) cannot flip its binding.
func TestOnlyRequestsAndRepliesBind(t *testing.T) {
	store := finding.NewStore(100)
	tab := arp.New(arp.Config{FlipWindow: time.Minute}, store)
	ip := netip.MustParseAddr("192.168.129.104")
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC).UnixNano()
	other := addr.MAC{0x00, 0x65, 0x29, 0xda, 0x2d, 0x79}
	msgs := []struct {
		op     uint16
		sender addr.MAC
	}{{1, hostA}, {3, other}, {1, hostA}, {4, other}, {8, other}, {9, other}, {3, other}, {2, hostA}}
	for i, m := range msgs {
		f := &frame.Frame{Kind: frame.KindARP, Src: m.sender, Dst: addr.Broadcast, DstKnown: true,
			ARP: frame.ARP{Op: m.op, SenderMAC: m.sender, SenderIP: ip, TargetIP: netip.MustParseAddr("192.168.1.1")}}
		tab.Observe(f, base+int64(i)*int64(time.Second), uint64(i+1))
	}
	b := tab.Get(0, ip)
	if b == nil || len(b.Seen()) != 1 || b.CurrentMAC() != hostA || b.Count != 3 || b.Changes != 0 {
		t.Fatalf("binding %+v: want only %v, from the 3 requests and replies", b, hostA)
	}
	if tab.OtherOpcodes != 5 {
		t.Errorf("other opcodes %d, want 5", tab.OtherOpcodes)
	}
	if fs := store.Findings(); len(fs) != 0 {
		t.Errorf("findings %+v", fs)
	}
}
