package frame_test

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

func TestQinQRealCapture(t *testing.T) {
	recs := readCapture(t, "802.1ad_QinQ.pcap")
	d := frame.NewDecoder()
	f := d.Decode(recs[1].link, recs[1].data, recs[1].wireLen)
	// tcpdump: vlan 200 ... vlan 2001 ... Reply 172.21.79.100 is-at 00:80:ea:81:88:63
	if f.Kind != frame.KindARP || f.Tags != 2 || f.VLAN.Outer() != 200 || f.VLAN.ID() != 2001 {
		t.Fatalf("kind %v tags %d vlan %v", f.Kind, f.Tags, f.VLAN)
	}
	if f.VLAN.String() != "200.2001" || f.ARP.Op != 2 || f.ARP.SenderIP.String() != "172.21.79.100" ||
		f.ARP.SenderMAC.String() != "00:80:ea:81:88:63" {
		t.Errorf("vlan %v arp %+v", f.VLAN, f.ARP)
	}
}

func arpPayload(op uint16, sha addr.MAC, spa [4]byte, tha addr.MAC, tpa [4]byte) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, 0, byte(op)}
	b = append(b, sha[:]...)
	b = append(b, spa[:]...)
	b = append(b, tha[:]...)
	return append(b, tpa[:]...)
}

func tag(tpid uint16, id uint16, inner []byte) []byte {
	// inner is an Ethernet frame: insert the tag after the MACs.
	out := append([]byte{}, inner[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, id)
	return append(out, inner[12:]...)
}

func TestDecodeFrames(t *testing.T) {
	nic := addr.MAC{0x00, 0x15, 0x5d, 0x0a, 0x0b, 0x0c}
	vipMAC := addr.MAC{0x03, 0xbf, 10, 0, 0, 50}
	arp := ethernet(addr.Broadcast, nic, 0x0806,
		arpPayload(2, vipMAC, [4]byte{10, 0, 0, 50}, addr.MAC{}, [4]byte{10, 0, 0, 50}))
	sll := func(pktType uint16, payloadType uint16, payload []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, pktType)
		b = binary.BigEndian.AppendUint16(b, 1) // ARPHRD_ETHER
		b = binary.BigEndian.AppendUint16(b, 6)
		b = append(b, nic[:]...)
		b = append(b, 0, 0)
		b = binary.BigEndian.AppendUint16(b, payloadType)
		return append(b, payload...)
	}
	cases := []struct {
		name   string
		link   layers.LinkType
		data   []byte
		wire   int
		kind   frame.Kind
		status frame.Status
		reason frame.Reason
		vlan   string
	}{
		{name: "ARP reply with NLB sender MAC", link: layers.LinkTypeEthernet, data: arp, kind: frame.KindARP, vlan: "untagged"},
		{name: "ARP in one tag", link: layers.LinkTypeEthernet, data: tag(0x8100, 10, arp), kind: frame.KindARP, vlan: "10"},
		{name: "ARP in QinQ", link: layers.LinkTypeEthernet, data: tag(0x88a8, 300, tag(0x8100, 10, arp)), kind: frame.KindARP, vlan: "300.10"},
		{name: "three tags", link: layers.LinkTypeEthernet, data: tag(0x88a8, 1, tag(0x8100, 2, tag(0x8100, 3, arp))),
			status: frame.Malformed, reason: frame.ReasonVLAN},
		{name: "short Ethernet", link: layers.LinkTypeEthernet, data: arp[:10], status: frame.Malformed, reason: frame.ReasonLinkHeader},
		{name: "ARP cut by snaplen", link: layers.LinkTypeEthernet, data: arp[:20], wire: len(arp), status: frame.Truncated, reason: frame.ReasonARP},
		{name: "ARP too short for its sizes", link: layers.LinkTypeEthernet, data: arp[:30], status: frame.Malformed, reason: frame.ReasonARP},
		{name: "IPv4 with IHL 3", link: layers.LinkTypeEthernet,
			data:   ethernet(addr.Broadcast, nic, 0x0800, append([]byte{0x43, 0, 0, 40}, make([]byte, 36)...)),
			status: frame.Malformed, reason: frame.ReasonIPv4},
		{name: "IPv6 is other", link: layers.LinkTypeEthernet, data: ethernet(addr.Broadcast, nic, 0x86dd, make([]byte, 40)), kind: frame.KindOther, vlan: "untagged"},
		{name: "SLL ARP", link: layers.LinkTypeLinuxSLL, data: sll(1, 0x0806, arp[14:]), kind: frame.KindARP, vlan: "untagged"},
		{name: "link type RAW unsupported", link: layers.LinkTypeRaw, data: arp[14:], status: frame.Unsupported},
	}
	d := frame.NewDecoder()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wire := c.wire
			if wire == 0 {
				wire = len(c.data)
			}
			f := d.Decode(c.link, c.data, wire)
			if f.Status != c.status || f.Reason != c.reason {
				t.Fatalf("status %v reason %v (err %v), want %v %v", f.Status, f.Reason, f.Err, c.status, c.reason)
			}
			if c.status != frame.OK {
				return
			}
			if f.Kind != c.kind || f.VLAN.String() != c.vlan {
				t.Fatalf("kind %v vlan %v, want %v %v", f.Kind, f.VLAN, c.kind, c.vlan)
			}
			if f.Kind == frame.KindARP {
				if f.ARP.SenderMAC != vipMAC || f.ARP.SenderIP.String() != "10.0.0.50" || !f.ARP.IsGratuitous() || f.Src != nic {
					t.Errorf("arp %+v src %v", f.ARP, f.Src)
				}
				if (c.link == layers.LinkTypeLinuxSLL) == f.DstKnown {
					t.Errorf("DstKnown %v for link %v", f.DstKnown, c.link)
				}
			}
		})
	}
}

// TestDecodeAllocs proves the per-frame decode allocates nothing for every
// kind of frame nlbprobe analyzes.
func TestDecodeAllocs(t *testing.T) {
	cluster := [4]byte{10, 0, 0, 50}
	frames := [][]byte{
		ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0x886f, membership(1, cluster, [4]byte{10, 0, 0, 1}, 1, 2)),
		ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0x886f, extended(1, cluster, tlv(1, utf16z("NODE1")))),
		tag(0x8100, 5, ethernet(addr.Broadcast, addr.MAC{0, 1, 2, 3, 4, 5}, 0x0806,
			arpPayload(1, addr.MAC{0, 1, 2, 3, 4, 5}, [4]byte{10, 0, 0, 1}, addr.MAC{}, [4]byte{10, 0, 0, 2}))),
		igmpFrame(withChecksum([]byte{0x22, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 239, 255, 0, 50})),
		igmpFrame(withChecksum([]byte{0x16, 0, 0, 0, 239, 255, 0, 50})),
		ethernet(addr.MAC{3, 0xbf, 10, 0, 0, 50}, addr.MAC{0, 1, 2, 3, 4, 5}, 0x0800,
			append([]byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 1, 1, 1, 10, 0, 0, 50}, make([]byte, 20)...)),
		ethernet(addr.Broadcast, addr.MAC{0, 1, 2, 3, 4, 5}, 0x86dd, make([]byte, 40)),
		// Malformed ARP, IPv4 and IGMP: the hand decoders' errors are
		// built only when printed.
		ethernet(addr.Broadcast, addr.MAC{0, 1, 2, 3, 4, 5}, 0x0806, []byte{0, 1, 8, 0, 6, 4, 0, 1, 1, 2}),
		ethernet(addr.Broadcast, addr.MAC{0, 1, 2, 3, 4, 5}, 0x0800, append([]byte{0x43, 0, 0, 40}, make([]byte, 36)...)),
		ethernet(addr.Broadcast, addr.MAC{0, 1, 2, 3, 4, 5}, 0x0800,
			append([]byte{0x46, 0, 0, 40, 0, 0, 0, 0, 1, 2, 0, 0, 10, 1, 1, 1, 239, 0, 0, 1, 7, 1, 0, 0}, make([]byte, 16)...)),
		igmpFrame([]byte{0x22, 0, 0, 0, 0, 0, 0, 9, 4, 0}),
	}
	d := frame.NewDecoder()
	for i, data := range frames {
		allocs := testing.AllocsPerRun(100, func() { d.Decode(layers.LinkTypeEthernet, data, len(data)) })
		if allocs != 0 {
			t.Errorf("frame %d (%v): %.1f allocs per decode", i, d.Decode(layers.LinkTypeEthernet, data, len(data)).Kind, allocs)
		}
	}
}

// TestDecodeCorpus decodes every frame of every real capture: no panic, and
// every frame gets a status. The corpus is full of deliberately malformed
// frames of other protocols.
func TestDecodeCorpus(t *testing.T) {
	d := frame.NewDecoder()
	frames := 0
	forEachCorpusFrame(t, func(name string, r record) {
		f := d.Decode(r.link, r.data, r.wireLen)
		frames++
		if f.Status > frame.Unsupported {
			t.Fatalf("%s: status %v", name, f.Status)
		}
	})
	if frames < 1000 {
		t.Fatalf("decoded only %d frames of the corpus", frames)
	}
}
