package frame_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

// Remote-span encapsulations built from their wire formats
// (draft-foschiano-erspan-03, RFC 2784/2890, RFC 7348), independently of
// the decoder.

var (
	switchMAC = addr.MAC{0x00, 0x1b, 0x54, 0xaa, 0, 1}
	probeMAC  = addr.MAC{0x00, 0x15, 0x5d, 0xaa, 0, 2}
)

// outerIPv4 wraps payload in an Ethernet frame and an option-less IPv4
// header of protocol proto from 192.0.2.1 to 192.0.2.10.
func outerIPv4(proto byte, payload []byte) []byte {
	ip := make([]byte, 20, 20+len(payload))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	ip[8], ip[9] = 64, proto
	copy(ip[12:], []byte{192, 0, 2, 1})
	copy(ip[16:], []byte{192, 0, 2, 10})
	return ethernet(probeMAC, switchMAC, 0x0800, append(ip, payload...))
}

// outerIPv6 wraps payload in an Ethernet frame and an IPv6 header of next
// header next from 2001:db8::1 to 2001:db8::10.
func outerIPv6(next byte, payload []byte) []byte {
	ip := make([]byte, 40, 40+len(payload))
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(payload)))
	ip[6], ip[7] = next, 64
	ip[8], ip[9], ip[23] = 0x20, 0x01, 1
	ip[24], ip[25], ip[39] = 0x20, 0x01, 0x10
	ip[10], ip[11], ip[26], ip[27] = 0x0d, 0xb8, 0x0d, 0xb8
	return ethernet(probeMAC, switchMAC, 0x86dd, append(ip, payload...))
}

// gre returns a GRE header: flags (C 0x8000, K 0x2000, S 0x1000) and
// protocol, with zeroed checksum, key and sequence number as flags say.
func gre(flags, proto uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, flags)
	b = binary.BigEndian.AppendUint16(b, proto)
	for _, f := range []uint16{0x8000, 0x2000, 0x1000} {
		if flags&f != 0 {
			b = append(b, 0, 0, 0, 7)
		}
	}
	return b
}

// erspan2 returns an ERSPAN type II header: version 1, VLAN, COS 0,
// encapsulation en, T, session ID.
func erspan2(vlan uint16, en uint32, truncated bool, session uint32) []byte {
	w := 1<<28 | uint32(vlan)<<16 | en<<11 | session
	if truncated {
		w |= 1 << 10
	}
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), 42)
}

// erspan3 returns an ERSPAN type III header: version 2, VLAN, session,
// frame type ft, and with sub the optional 8-byte platform subheader.
func erspan3(vlan uint16, session uint32, ft byte, sub bool) []byte {
	b := binary.BigEndian.AppendUint32(nil, 2<<28|uint32(vlan)<<16|session)
	b = binary.BigEndian.AppendUint32(b, 123456) // timestamp
	b = append(b, 0, 0, ft<<2, 0)
	if sub {
		b[11] |= 1
		b = append(b, 1, 2, 3, 4, 5, 6, 7, 8)
	}
	return b
}

// vxlan returns a UDP header to port 4789 and a VXLAN header with flags and
// vni.
func vxlan(flags byte, vni uint32, inner []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 49152)
	b = binary.BigEndian.AppendUint16(b, 4789)
	b = binary.BigEndian.AppendUint16(b, uint16(8+8+len(inner)))
	b = append(b, 0, 0, flags, 0, 0, 0, byte(vni>>16), byte(vni>>8), byte(vni), 0)
	return append(b, inner...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// tunnelFrames are built remote-span frames and what the decoder must make
// of them.
func tunnelFrames() []tunnelCase {
	vip := [4]byte{10, 70, 0, 100}
	cluster := addr.MAC{3, 0xbf, 10, 70, 0, 100}
	nic := addr.MAC{0x00, 0x15, 0x5d, 0x46, 0, 1}
	hb := ethernet(cluster, nic, 0x886f, membership(1, vip, [4]byte{10, 70, 0, 1}, 1))
	hbTagged := tag(0x8100, 70, hb)
	arp := ethernet(addr.Broadcast, nic, 0x0806, arpPayload(1, nic, [4]byte{10, 70, 0, 1}, addr.MAC{}, vip))
	arpOf := func(f *frame.Frame) string { return fmt.Sprint(f.ARP.Op, f.ARP.SenderIP) }
	return []tunnelCase{
		{name: "ERSPAN II, tag in the frame", data: outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, false, 7), hbTagged)),
			encap: frame.EncapERSPANII, kind: frame.KindHeartbeat, vlan: frame.MakeVLAN(70, 0).InSession(frame.SessionERSPAN, 7), innerLen: len(hbTagged)},
		{name: "ERSPAN II, tag taken out into the header", data: outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 0, false, 7), hb)),
			encap: frame.EncapERSPANII, kind: frame.KindHeartbeat, vlan: frame.MakeVLAN(70, 0).InSession(frame.SessionERSPAN, 7), innerLen: len(hb)},
		{name: "ERSPAN II, En 3: the header's VLAN is undefined", data: outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 3, false, 7), hb)),
			encap: frame.EncapERSPANII, kind: frame.KindHeartbeat, vlan: frame.VLAN(0).InSession(frame.SessionERSPAN, 7), innerLen: len(hb)},
		{name: "ERSPAN II with GRE checksum and key", data: outerIPv4(47, cat(gre(0xb000, 0x88be), erspan2(0, 0, false, 1023), arp)),
			encap: frame.EncapERSPANII, kind: frame.KindARP, vlan: frame.VLAN(0).InSession(frame.SessionERSPAN, 1023), innerLen: len(arp),
			check: func(f *frame.Frame) string { return arpOf(f) }, want: "1 10.70.0.1"},
		{name: "ERSPAN II, T: the mirror cut the frame", data: outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, true, 7), hbTagged[:200])),
			encap: frame.EncapERSPANII, kind: frame.KindHeartbeat, status: frame.Truncated, vlan: frame.MakeVLAN(70, 0).InSession(frame.SessionERSPAN, 7), innerLen: 200},
		{name: "ERSPAN I", data: outerIPv4(47, cat(gre(0, 0x88be), arp)),
			encap: frame.EncapERSPANI, kind: frame.KindARP, vlan: frame.VLAN(0).InSession(frame.SessionERSPAN, 0), innerLen: len(arp)},
		{name: "ERSPAN III without sequence numbers", data: outerIPv4(47, cat(gre(0, 0x22eb), erspan3(70, 9, 0, false), hbTagged)),
			encap: frame.EncapERSPANIII, kind: frame.KindHeartbeat, vlan: frame.MakeVLAN(70, 0).InSession(frame.SessionERSPAN, 9), innerLen: len(hbTagged)},
		{name: "ERSPAN III with the platform subheader", data: outerIPv4(47, cat(gre(0x1000, 0x22eb), erspan3(70, 9, 0, true), hb)),
			encap: frame.EncapERSPANIII, kind: frame.KindHeartbeat, vlan: frame.MakeVLAN(70, 0).InSession(frame.SessionERSPAN, 9), innerLen: len(hb)},
		{name: "ERSPAN III carrying an IP packet (frame type 2)", data: outerIPv4(47, cat(gre(0x1000, 0x22eb), erspan3(70, 9, 2, false), make([]byte, 40))),
			encap: frame.EncapERSPANIII, kind: frame.KindOther, vlan: frame.MakeVLAN(70, 0).InSession(frame.SessionERSPAN, 9), innerLen: 40},
		{name: "VXLAN", data: outerIPv4(17, vxlan(0x08, 5070, arp)),
			encap: frame.EncapVXLAN, kind: frame.KindARP, vlan: frame.VLAN(0).InSession(frame.SessionVXLAN, 5070), innerLen: len(arp),
			check: func(f *frame.Frame) string { return arpOf(f) }, want: "1 10.70.0.1"},
		{name: "VXLAN carrying QinQ", data: outerIPv4(17, vxlan(0x08, 0xffffff, tag(0x88a8, 300, hbTagged))),
			encap: frame.EncapVXLAN, kind: frame.KindHeartbeat, vlan: frame.MakeVLAN(70, 300).InSession(frame.SessionVXLAN, 0xffffff), innerLen: len(hbTagged) + 4},
		{name: "VXLAN in a tunnel in VXLAN: one level only", data: outerIPv4(17, vxlan(0x08, 1, outerIPv4(17, vxlan(0x08, 2, arp)))),
			encap: frame.EncapVXLAN, kind: frame.KindIPv4, vlan: frame.VLAN(0).InSession(frame.SessionVXLAN, 1), innerLen: len(outerIPv4(17, vxlan(0x08, 2, arp)))},

		{name: "VXLAN over IPv6", data: outerIPv6(17, vxlan(0x08, 5070, arp)),
			encap: frame.EncapVXLAN, kind: frame.KindARP, vlan: frame.VLAN(0).InSession(frame.SessionVXLAN, 5070), innerLen: len(arp)},
		{name: "ERSPAN II over IPv6", data: outerIPv6(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, false, 7), hbTagged)),
			encap: frame.EncapERSPANII, kind: frame.KindHeartbeat, vlan: frame.MakeVLAN(70, 0).InSession(frame.SessionERSPAN, 7), innerLen: len(hbTagged)},
		{name: "ERSPAN II over IPv6, header cut short", data: outerIPv6(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, false, 7)[:3])),
			kind: frame.KindOther, encap: frame.EncapERSPANII, status: frame.Malformed, reason: frame.ReasonTunnel},
		{name: "IPv6 with a hop-by-hop header before UDP: not read", data: outerIPv6(0, cat([]byte{17, 0, 0, 0, 0, 0, 0, 0}, vxlan(0x08, 5070, arp))),
			kind: frame.KindOther},

		// Not a remote span: ordinary IPv4.
		{name: "UDP 4789 without the VXLAN I flag", data: outerIPv4(17, vxlan(0, 5070, arp)), kind: frame.KindIPv4},
		{name: "UDP 4789 too short for VXLAN", data: outerIPv4(17, vxlan(0x08, 5070, nil)[:12]), kind: frame.KindIPv4},
		{name: "GRE of another protocol (IPv4)", data: outerIPv4(47, cat(gre(0, 0x0800), make([]byte, 20))), kind: frame.KindIPv4},
		{name: "GRE version 1 (PPTP)", data: outerIPv4(47, cat(gre(0x1001, 0x88be), erspan2(0, 0, false, 1), arp)), kind: frame.KindIPv4},
		{name: "GRE with the RFC 1701 routing bit", data: outerIPv4(47, cat(gre(0x4000, 0x88be), arp)), kind: frame.KindIPv4},
		{name: "a fragment", data: func() []byte {
			b := outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, false, 7), hbTagged))
			b[14+6] = 0x20 // more fragments
			return b
		}(), kind: frame.KindIPv4},

		// Broken on the wire: malformed.
		{name: "ERSPAN II of version 2", data: outerIPv4(47, cat(gre(0x1000, 0x88be), erspan3(70, 7, 0, false)[:8], hb)),
			kind: frame.KindIPv4, encap: frame.EncapERSPANII, status: frame.Malformed, reason: frame.ReasonTunnel},
		{name: "ERSPAN II header cut short in a frame captured whole", data: outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, false, 7)[:5])),
			kind: frame.KindIPv4, encap: frame.EncapERSPANII, status: frame.Malformed, reason: frame.ReasonTunnel},
		{name: "ERSPAN III subheader cut short", data: outerIPv4(47, cat(gre(0x1000, 0x22eb), erspan3(70, 9, 0, true)[:15])),
			kind: frame.KindIPv4, encap: frame.EncapERSPANIII, status: frame.Malformed, reason: frame.ReasonTunnel},
		{name: "mirrored frame broken", data: outerIPv4(47, cat(gre(0x1000, 0x88be), erspan2(70, 2, false, 7), arp[:30])),
			kind: frame.KindOther, encap: frame.EncapERSPANII, status: frame.Malformed, reason: frame.ReasonARP,
			vlan: frame.VLAN(70).InSession(frame.SessionERSPAN, 7), innerLen: 30},
	}
}

type tunnelCase struct {
	name     string
	data     []byte
	encap    frame.Encap
	kind     frame.Kind
	status   frame.Status
	reason   frame.Reason
	vlan     frame.VLAN
	innerLen int // Frame.Len; 0: the frame's own
	check    func(f *frame.Frame) string
	want     string
}

// TestTunnelDecode decodes the built remote-span frames, whole, cut by a
// snaplen inside and after their headers, and with the fast paths on and
// off (the parser is the oracle of the fast paths, tunnels included).
func TestTunnelDecode(t *testing.T) {
	d := frame.NewDecoder()
	c := newComparer()
	for _, tc := range tunnelFrames() {
		t.Run(tc.name, func(t *testing.T) {
			f := d.Decode(layers.LinkTypeEthernet, tc.data, len(tc.data))
			wantLen := tc.innerLen
			if wantLen == 0 {
				wantLen = len(tc.data)
			}
			if f.Encap != tc.encap || f.Kind != tc.kind || f.Status != tc.status || f.Reason != tc.reason || f.Len != wantLen {
				t.Fatalf("got %v %v %v %v len %d (%v), want %v %v %v %v len %d", f.Encap, f.Kind, f.Status, f.Reason, f.Len, f.Err,
					tc.encap, tc.kind, tc.status, tc.reason, wantLen)
			}
			if tc.status != frame.Malformed || tc.reason != frame.ReasonTunnel {
				if f.VLAN != tc.vlan {
					t.Errorf("vlan %v, want %v", f.VLAN, tc.vlan)
				}
			}
			if tc.check != nil {
				if got := tc.check(f); got != tc.want {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			}
			c.variants(t, tc.name, tc.data, len(tc.data))
			// Cut by a snaplen anywhere: never malformed, and a mirrored
			// frame cut is truncated.
			for n := 14; n < len(tc.data); n++ {
				g := d.Decode(layers.LinkTypeEthernet, tc.data[:n], len(tc.data))
				if tc.status != frame.Malformed && g.Status != frame.Truncated {
					t.Fatalf("cut to %d bytes: %v %v %v (%v)", n, g.Encap, g.Kind, g.Status, g.Err)
				}
			}
		})
	}
}

// TestTunnelSLL: a remote span captured with `tcpdump -i any` (Linux
// cooked headers) decodes the same.
func TestTunnelSLL(t *testing.T) {
	d := frame.NewDecoder()
	for _, tc := range tunnelFrames() {
		sll := binary.BigEndian.AppendUint16(nil, 0) // to us
		sll = binary.BigEndian.AppendUint16(sll, 1)
		sll = binary.BigEndian.AppendUint16(sll, 6)
		sll = append(sll, switchMAC[:]...)
		sll = append(sll, 0, 0)
		sll = append(sll, tc.data[12:]...) // the ethertype and what follows
		eth := *d.Decode(layers.LinkTypeEthernet, tc.data, len(tc.data))
		f := d.Decode(layers.LinkTypeLinuxSLL, sll, len(sll))
		if f.Encap != eth.Encap || f.Kind != eth.Kind || f.Status != eth.Status || f.VLAN != eth.VLAN ||
			f.Len != eth.Len && eth.Encap != 0 && eth.Reason != frame.ReasonTunnel {
			t.Errorf("%s: SLL %v %v %v %v len %d, Ethernet %v %v %v %v len %d", tc.name, f.Encap, f.Kind, f.Status, f.VLAN, f.Len,
				eth.Encap, eth.Kind, eth.Status, eth.VLAN, eth.Len)
		}
	}
}

// TestTunnelNotPlain: PlainIPv4 and DecodePlain, which let the read
// pipeline skip a frame as plain IPv4, never take a remote span's frame.
func TestTunnelNotPlain(t *testing.T) {
	d := frame.NewDecoder()
	for _, tc := range tunnelFrames() {
		if tc.encap == frame.EncapNone {
			continue
		}
		if _, _, ok := d.PlainIPv4(tc.data, len(tc.data)); ok {
			t.Errorf("%s: PlainIPv4 takes it", tc.name)
		}
		if _, ok := d.DecodePlain(layers.LinkTypeEthernet, tc.data, len(tc.data)); ok {
			t.Errorf("%s: DecodePlain takes it", tc.name)
		}
		if !frame.MayCarryFrame(tc.data) {
			t.Errorf("%s: MayCarryFrame says no", tc.name)
		}
	}
}

// TestTunnelRealCaptures decodes the remote-span captures of tcpdump's
// corpus. The values are tshark's (erspan.spanid, erspan.vlan, vlan.id,
// vxlan.vni, arp.*): ERSPAN II session 101 with ARP in VLAN 865
// (erspan-type-ii-3, frames 70-87), ERSPAN I with ARP in VLAN 1
// (erspan-type-i-3), ERSPAN II with untagged frames whose VLAN (100, 101)
// is in the header (erspan-type-ii-2), ERSPAN III of frame type 7, which is
// no Ethernet frame (erspan-type-iii-ft-7), VXLAN VNI 100 with ARP
// (vxlan.pcap frames 2-3).
func TestTunnelRealCaptures(t *testing.T) {
	d := frame.NewDecoder()
	type want struct {
		frame int
		encap frame.Encap
		kind  frame.Kind
		vlan  string
		arp   string // op sender-MAC sender-IP target-IP
	}
	cases := map[string][]want{
		"erspan-type-ii-3.pcap": {
			{70, frame.EncapERSPANII, frame.KindARP, "865 (erspan session 101)", "1 14:18:77:60:aa:75 10.240.19.139 10.240.19.129"},
			{87, frame.EncapERSPANII, frame.KindARP, "865 (erspan session 101)", "1 14:18:77:60:aa:75 10.240.19.139 10.240.19.133"},
			{1, frame.EncapERSPANII, frame.KindOther, "1 (erspan session 101)", ""},
		},
		"erspan-type-i-3.pcap": {
			{1, frame.EncapERSPANI, frame.KindARP, "1 (erspan session 0)", "1 00:15:fa:dc:a1:f7 192.168.90.100 192.168.90.253"},
		},
		"erspan-type-ii-2.pcap": {
			{1, frame.EncapERSPANII, frame.KindIPv4, "101 (erspan session 1)", ""},
			{3, frame.EncapERSPANII, frame.KindIPv4, "100 (erspan session 1)", ""},
		},
		"erspan-type-iii-ft-7.pcap": {
			{1, frame.EncapERSPANIII, frame.KindOther, "1 (erspan session 101)", ""},
		},
		"erspan-type-iii-ft-0.pcap": {
			{1, frame.EncapERSPANIII, frame.KindIPv4, "20 (erspan session 0)", ""},
		},
		"vxlan.pcap": {
			{2, frame.EncapVXLAN, frame.KindARP, "untagged (vxlan vni 100)", "1 00:30:88:01:00:02 192.168.203.5 192.168.203.3"},
			{3, frame.EncapVXLAN, frame.KindARP, "untagged (vxlan vni 100)", "2 00:16:3e:37:f6:04 192.168.203.3 192.168.203.5"},
		},
		// Linux's old VXLAN port is not VXLAN's: ordinary UDP.
		"vxlan_port_8472.pcap": {{1, frame.EncapNone, frame.KindIPv4, "untagged", ""}},
	}
	for name, wants := range cases {
		t.Run(name, func(t *testing.T) {
			recs := readCapture(t, name)
			for _, w := range wants {
				r := recs[w.frame-1]
				f := d.Decode(r.link, r.data, r.wireLen)
				arp := ""
				if f.Kind == frame.KindARP {
					arp = fmt.Sprint(f.ARP.Op, " ", f.ARP.SenderMAC, " ", f.ARP.SenderIP, " ", f.ARP.TargetIP)
				}
				if f.Encap != w.encap || f.Kind != w.kind || f.VLAN.String() != w.vlan || arp != w.arp || f.Status != frame.OK {
					t.Errorf("frame %d: %v %v %q %q %v, want %v %v %q %q", w.frame, f.Encap, f.Kind, f.VLAN, arp, f.Status,
						w.encap, w.kind, w.vlan, w.arp)
				}
			}
		})
	}
}

// FuzzTunnel fuzzes what follows an option-less IPv4 header or an IPv6
// header of protocol GRE or UDP, so the fuzzer works inside the
// encapsulations: never a
// panic, the fast paths agree with the parser, and what a mirrored frame
// claims fits in the frame.
func FuzzTunnel(f *testing.F) {
	for _, tc := range tunnelFrames() {
		if tc.data[12] == 0x86 {
			f.Add(tc.data[14+6]|0x80, tc.data[14+40:])
		} else {
			f.Add(tc.data[14+9], tc.data[14+20:])
		}
	}
	for _, name := range []string{"erspan-type-ii-3.pcap", "erspan-type-i-3.pcap", "erspan-type-iii-ft-0.pcap", "vxlan.pcap"} {
		for _, r := range readCaptureLenient(corpusPath(name)) {
			if r.link == layers.LinkTypeEthernet && len(r.data) > 34 && r.data[12] == 0x08 && r.data[14] == 0x45 {
				f.Add(r.data[14+9], r.data[34:])
			}
		}
	}
	c := newComparer()
	d := frame.NewDecoder()
	f.Fuzz(func(t *testing.T, proto byte, payload []byte) {
		// Protocol 47 or 17, over IPv6 with the high bit set.
		outer := outerIPv4
		if proto&0x80 != 0 {
			outer = outerIPv6
		}
		if proto&0x7f != 47 {
			proto = 17
		}
		data := outer(proto&0x7f, payload)
		c.check(t, "fuzzed", data, len(data))
		c.check(t, "fuzzed cut", data, len(data)+100)
		for _, wire := range []int{len(data), len(data) + 100} {
			fr := d.Decode(layers.LinkTypeEthernet, data, wire)
			if fr.Encap == frame.EncapNone || fr.Reason == frame.ReasonTunnel {
				continue
			}
			if kind, _ := fr.VLAN.Session(); kind != fr.Encap.Session() {
				t.Fatalf("%v frame in a %v session", fr.Encap, kind)
			}
			if fr.Len < 0 || fr.Len > wire {
				t.Fatalf("mirrored frame of %d bytes in a frame of %d", fr.Len, wire)
			}
			if fr.Kind == frame.KindHeartbeat && fr.Heartbeat.Captured > len(data) {
				t.Fatalf("heartbeat claims %d bytes of %d", fr.Heartbeat.Captured, len(data))
			}
		}
	})
}
