package capture_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

var (
	vip       = netip.MustParseAddr("172.31.3.232")
	nodeIP    = netip.MustParseAddr("172.31.3.11")
	clientIP  = netip.MustParseAddr("172.31.3.50")
	nodeMAC   = addr.MAC{0x00, 0x15, 0x5d, 0x01, 0x02, 0x03}
	clientMAC = addr.MAC{0x00, 0x15, 0x5d, 0x09, 0x09, 0x09}
	plainMAC  = addr.MAC{0x00, 0x15, 0x5d, 0x0a, 0x0b, 0x0c}
)

// icmpEcho builds an ICMP echo request, which fixtures has no builder for.
func icmpEcho(t *testing.T, vlan ...uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(clientMAC[:]), DstMAC: net.HardwareAddr(plainMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	stack := []gopacket.SerializableLayer{eth}
	if len(vlan) == 1 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		stack = append(stack, &layers.Dot1Q{VLANIdentifier: vlan[0], Type: layers.EthernetTypeIPv4})
	}
	stack = append(stack,
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP(clientIP.AsSlice()), DstIP: net.IP(nodeIP.AsSlice())},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1},
		gopacket.Payload(make([]byte, 56)))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, stack...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ipv6Frame(t *testing.T) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(clientMAC[:]), DstMAC: net.HardwareAddr(plainMAC[:]), EthernetType: layers.EthernetTypeIPv6}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
	udp := &layers.UDP{SrcPort: 1000, DstPort: 2000}
	_ = udp.SetNetworkLayerForChecksum(ip6)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip6, udp, gopacket.Payload([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type filterCase struct {
	name  string
	frame []byte
	pass  bool
	// tagged frames cannot be checked against tcpdump with the plain
	// FilterExpression (see its doc).
	tagged bool
}

func filterCases(t *testing.T) []filterCase {
	igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, vip)
	mcastMAC, _ := addr.ClusterMAC(addr.ModeMulticast, vip)
	uniMAC, _ := addr.ClusterMAC(addr.ModeUnicast, vip)
	hb := fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: nodeIP, PortRules: []uint32{1}}
	udp := fixtures.Client{SrcIP: clientIP, DstIP: vip, SrcPort: 50000, DstPort: 80, Proto: fixtures.ClientUDP, Length: 200}
	tcpPlain := fixtures.Client{SrcIP: clientIP, DstIP: nodeIP, SrcPort: 50000, DstPort: 445, Proto: fixtures.ClientTCP, Length: 1500}
	group := netip.MustParseAddr("239.255.3.232")
	garp := fixtures.GratuitousARP(mcastMAC, vip)
	cases := []filterCase{
		{name: "ARP announcement", frame: garp.Frame(nodeMAC, addr.Broadcast), pass: true},
		{name: "ARP in VLAN 10", frame: garp.Frame(nodeMAC, addr.Broadcast, 10), pass: true, tagged: true},
		{name: "ARP in QinQ 200.10", frame: garp.Frame(nodeMAC, addr.Broadcast, 200, 10), pass: true, tagged: true},
		{name: "heartbeat, IGMP mode", frame: hb.Frame(nodeMAC, igmpMAC), pass: true},
		{name: "heartbeat, unicast mode, to broadcast", frame: hb.Frame(addr.MaskedSource(1, vip), addr.Broadcast), pass: true},
		{name: "heartbeat in VLAN 10", frame: hb.Frame(nodeMAC, addr.Broadcast, 10), pass: true, tagged: true},
		{name: "heartbeat in QinQ 200.10", frame: hb.Frame(nodeMAC, addr.Broadcast, 200, 10), pass: true, tagged: true},
		{name: "legacy heartbeat 0xBF01", frame: fixtures.Heartbeat{Priority: 2, Cluster: vip, Dedicated: nodeIP, EtherType: fixtures.EtherTypeNLBLegacy}.Frame(nodeMAC, addr.Broadcast), pass: true},
		{name: "unknown 0x886F (XBOX)", frame: fixtures.UnknownNLBEtherType(nodeMAC), pass: true},
		{name: "IGMPv2 report", frame: fixtures.IGMPv2Report(group).Frame(nodeMAC, nodeIP), pass: true},
		{name: "IGMPv2 report in VLAN 10", frame: fixtures.IGMPv2Report(group).Frame(nodeMAC, nodeIP, 10), pass: true, tagged: true},
		{name: "IGMPv3 general query", frame: fixtures.IGMPv3Query(netip.Addr{}, 100).Frame(plainMAC, netip.MustParseAddr("172.31.3.1")), pass: true},
		{name: "ICMP echo", frame: icmpEcho(t), pass: true},
		{name: "ICMP echo in VLAN 10", frame: icmpEcho(t, 10), pass: true, tagged: true},
		{name: "client UDP to the IGMP cluster MAC", frame: udp.Frame(clientMAC, igmpMAC), pass: true},
		{name: "client UDP to the multicast cluster MAC", frame: udp.Frame(clientMAC, mcastMAC), pass: true},
		{name: "client UDP to the unicast cluster MAC", frame: udp.Frame(clientMAC, uniMAC), pass: true},
		{name: "client UDP to the IGMP cluster MAC in VLAN 10", frame: udp.Frame(clientMAC, igmpMAC, 10), pass: true, tagged: true},
		{name: "client TCP to a plain MAC", frame: tcpPlain.Frame(clientMAC, plainMAC), pass: false},
		{name: "client TCP to a plain MAC in VLAN 10", frame: tcpPlain.Frame(clientMAC, plainMAC, 10), pass: false, tagged: true},
		{name: "UDP to an ordinary multicast MAC (mDNS)", frame: fixtures.Client{SrcIP: clientIP, DstIP: netip.MustParseAddr("224.0.0.251"), SrcPort: 5353, DstPort: 5353, Proto: fixtures.ClientUDP}.Frame(clientMAC, addr.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}), pass: false},
		{name: "masked source to a plain MAC", frame: udp.Frame(addr.MaskedSource(1, vip), plainMAC), pass: false},
		{name: "IPv6", frame: ipv6Frame(t), pass: false},
		{name: "runt: 14-byte IPv4 header only", frame: udp.Frame(clientMAC, plainMAC)[:14], pass: false},
	}
	// A remote span's frames (issue 16 item 11) pass whatever they carry;
	// other GRE and UDP do not.
	inner := udp.Frame(clientMAC, plainMAC) // an ordinary frame: only its wrapping passes it
	sw, col := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.10")
	erspan := func(typ int) []byte {
		e := &fixtures.ERSPAN{Type: typ, Session: 7, VLAN: 10, Switch: sw, Collector: col, SwitchMAC: plainMAC, CollectorMAC: nodeMAC}
		return e.Wrap(inner, false)
	}
	vxlan := fixtures.VXLAN{VNI: 5070, SourcePort: 50000, Switch: sw, Collector: col, SwitchMAC: plainMAC, CollectorMAC: nodeMAC}.Wrap(inner)
	withOptions := ipv4Options(erspan(2))
	fragment := slices.Clone(vxlan)
	fragment[14+6], fragment[14+7] = 0x00, 0xb9 // fragment offset 185: no UDP header here
	cases = append(cases,
		filterCase{name: "ERSPAN type I", frame: erspan(1), pass: true},
		filterCase{name: "ERSPAN type II", frame: erspan(2), pass: true},
		filterCase{name: "ERSPAN type III", frame: erspan(3), pass: true},
		filterCase{name: "ERSPAN type II, IPv4 options", frame: withOptions, pass: true},
		filterCase{name: "ERSPAN type II in VLAN 10", frame: tagFrame(erspan(2), 10), pass: true, tagged: true},
		filterCase{name: "VXLAN", frame: vxlan, pass: true},
		filterCase{name: "VXLAN in QinQ 200.10", frame: tagFrame(tagFrame(vxlan, 10), 200), pass: true, tagged: true},
		filterCase{name: "VXLAN over IPv6", frame: ipv6Tunnel(t, 17, vxlan[14+20:]), pass: true},
		filterCase{name: "ERSPAN type II over IPv6", frame: ipv6Tunnel(t, 47, erspan(2)[14+20:]), pass: true},
		filterCase{name: "GRE carrying IPv4", frame: greOther(erspan(1)), pass: false},
		filterCase{name: "UDP to 4790 (VXLAN-GPE)", frame: udpPort(vxlan, 4790), pass: false},
		filterCase{name: "UDP 4789 fragment after the first", frame: fragment, pass: false},
	)
	return cases
}

// tagFrame inserts an 802.1Q tag (TPID 0x8100, or 0x88a8 outside one)
// after the MACs.
func tagFrame(f []byte, id uint16) []byte {
	tpid := []byte{0x81, 0x00}
	if f[12] == 0x81 {
		tpid = []byte{0x88, 0xa8}
	}
	out := append(slices.Clone(f[:12]), tpid...)
	out = append(out, byte(id>>8), byte(id))
	return append(out, f[12:]...)
}

// ipv4Options gives an untagged IPv4 frame 8 bytes of options (two NOPs
// and a 6-byte option of type 0x94, router alert style), IHL 7.
func ipv4Options(f []byte) []byte {
	out := append(slices.Clone(f[:34]), 1, 1, 0x94, 6, 0, 0, 0, 0)
	out = append(out, f[34:]...)
	out[14] = 0x47
	binary.BigEndian.PutUint16(out[16:], binary.BigEndian.Uint16(out[16:])+8)
	return out
}

// ipv6Tunnel builds an IPv6 frame of next header next carrying payload.
func ipv6Tunnel(t *testing.T, next byte, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(plainMAC[:]), DstMAC: net.HardwareAddr(nodeMAC[:]), EthernetType: layers.EthernetTypeIPv6}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(next),
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::10")}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, ip6, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// greOther changes an option-less ERSPAN frame's GRE protocol to IPv4.
func greOther(f []byte) []byte {
	out := slices.Clone(f)
	out[34+2], out[34+3] = 0x08, 0x00
	return out
}

// udpPort changes an option-less VXLAN frame's UDP destination port.
func udpPort(f []byte, port uint16) []byte {
	out := slices.Clone(f)
	binary.BigEndian.PutUint16(out[34+2:], port)
	return out
}

// TestPreFilter runs the program in x/net/bpf's interpreter over frames of
// every kind, untagged and tagged, and checks what passes and how much of
// it is kept.
func TestPreFilter(t *testing.T) {
	for _, snaplen := range []int{0, 96} {
		raw, err := capture.PreFilter(snaplen)
		if err != nil {
			t.Fatal(err)
		}
		ins, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("program does not disassemble: %v", raw)
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatalf("the interpreter refuses the program: %v", err)
		}
		for _, tc := range filterCases(t) {
			t.Run(tc.name, func(t *testing.T) {
				ret, err := vm.Run(tc.frame)
				if err != nil {
					t.Fatal(err)
				}
				// The kernel keeps min(return value, frame length) bytes.
				kept := min(ret, len(tc.frame))
				want := 0
				if tc.pass {
					want = len(tc.frame)
					if snaplen > 0 {
						want = min(want, snaplen)
					}
				}
				if kept != want {
					t.Errorf("snaplen %d: kept %d bytes of %d, want %d", snaplen, kept, len(tc.frame), want)
				}
			})
		}
	}
}

func TestFilterSnaplenBounds(t *testing.T) {
	for _, n := range []int{-1, 59, capture.DefaultSnaplen + 1} {
		if _, err := capture.PreFilter(n); err == nil {
			t.Errorf("PreFilter(%d) accepted", n)
		}
		if _, err := capture.SnapFilter(n); err == nil {
			t.Errorf("SnapFilter(%d) accepted", n)
		}
	}
	raw, err := capture.SnapFilter(128)
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := bpf.Disassemble(raw)
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	if ret, _ := vm.Run(ipv6Frame(t)); ret != 128 {
		t.Errorf("SnapFilter(128) returned %d for an IPv6 frame, want 128", ret)
	}
}

// TestFilterExpressionAgreesWithTcpdump checks FilterExpression, which the
// lab tests hand tcpdump, against the program on the untagged frames:
// libpcap compiles the expression, so it is an independent oracle.
func TestFilterExpressionAgreesWithTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("needs tcpdump")
	}
	c := fixtures.NewCapture()
	want := 0
	var names []string
	for i, tc := range filterCases(t) {
		if tc.tagged {
			continue
		}
		c.Add(time.Duration(i)*time.Millisecond, tc.frame)
		names = append(names, tc.name)
		if tc.pass {
			want++
		}
	}
	path := filepath.Join(t.TempDir(), "frames.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tcpdump, "-nn", "--count", "-r", path, capture.FilterExpression).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump: %v\n%s", err, out)
	}
	var got int
	if _, err := fmt.Sscanf(lastLine(string(out)), "%d packets", &got); err != nil {
		t.Fatalf("tcpdump --count printed %q", out)
	}
	if got != want {
		t.Errorf("tcpdump passed %d of %d untagged frames, the program %d:\n%s\nframes: %s", got, len(names), want, out, strings.Join(names, ", "))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
