package frame_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
)

// seedFrames adds the frames of the real captures that matter to nlbprobe
// (NLB, ARP, IGMP, QinQ) and a few built ones.
func seedFrames(f *testing.F) {
	dir := filepath.Join(testcapture.ModuleRoot(), "..", "shared", "pcaps", "tcpdump-tests")
	for _, name := range []string{"msnlb.pcap", "IGMP_V1.pcap", "IGMP_V2.pcap", "igmpv3-queries.pcap",
		"mtrace.pcap", "802.1ad_QinQ.pcap", "arp-too-long-tha.pcap",
		"erspan-type-i-3.pcap", "erspan-type-ii-3.pcap", "erspan-type-iii-ft-0.pcap", "vxlan.pcap"} {
		for _, r := range readCaptureLenient(filepath.Join(dir, name)) {
			if r.link == layers.LinkTypeEthernet {
				f.Add(r.data)
			}
		}
	}
	cluster := [4]byte{10, 0, 0, 50}
	f.Add(ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0x886f, membership(1, cluster, [4]byte{10, 0, 0, 1}, 1, 2)))
	f.Add(ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0x886f,
		extended(1, cluster, tlv(1, utf16z("NODE1")), tlv(2, []byte{2, 0, 10, 0, 0, 1}))))
	f.Add(igmpFrame(withChecksum([]byte{0x22, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 239, 255, 0, 50})))
	f.Add(tag(0x88a8, 1, tag(0x8100, 2, ethernet(addr.Broadcast, addr.MAC{1}, 0x0806, make([]byte, 28)))))
	for _, tc := range tunnelFrames() {
		f.Add(tc.data)
	}
}

// FuzzDecode feeds arbitrary frames to every link type the decoder reads:
// it must never panic, and must classify every frame.
func FuzzDecode(f *testing.F) {
	seedFrames(f)
	d := frame.NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2} {
			for _, wire := range []int{len(data), len(data) + 100} {
				fr := d.Decode(lt, data, wire)
				if fr.Status == frame.OK && fr.Err != nil {
					t.Fatalf("status OK with error %v", fr.Err)
				}
				if fr.Err != nil && strings.Contains(fr.Err.Error(), "panic") {
					t.Fatalf("decoder panicked: %v", fr.Err)
				}
				if fr.Kind == frame.KindHeartbeat && fr.Heartbeat.Captured > len(data) {
					t.Fatalf("heartbeat claims %d bytes of %d", fr.Heartbeat.Captured, len(data))
				}
			}
		}
	})
}

// FuzzHeartbeat fuzzes the NLB payload alone (after an Ethernet header), so
// the fuzzer spends its effort inside the heartbeat layout and TLVs.
func FuzzHeartbeat(f *testing.F) {
	cluster := [4]byte{10, 0, 0, 50}
	f.Add(membership(1, cluster, [4]byte{10, 0, 0, 1}, 1, 2))
	f.Add(extended(1, cluster, tlv(1, utf16z("NODE1")), tlv(2, []byte{2, 0, 10, 0, 0, 1})))
	f.Add(extended(1, cluster, tlv(2, append([]byte{0x17, 0}, make([]byte, 16)...))))
	f.Add([]byte("XBOX"))
	d := frame.NewDecoder()
	f.Fuzz(func(t *testing.T, payload []byte) {
		data := ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0x886f, payload)
		fr := d.Decode(layers.LinkTypeEthernet, data, len(data))
		if fr.Status == frame.Malformed {
			if fr.Reason != frame.ReasonHeartbeat {
				t.Fatalf("malformed for reason %v", fr.Reason)
			}
			return
		}
		if fr.Heartbeat == nil {
			if len(payload) != 0 || fr.Kind != frame.KindNLBUnknown {
				t.Fatalf("no heartbeat layer for a %d-byte payload, kind %v", len(payload), fr.Kind)
			}
			return
		}
		h := fr.Heartbeat
		if h.NumIPs > len(h.IPs) || h.PortRulesCaptured > frame.MaxPortRules || len(h.HostNameBytes()) > 128 {
			t.Fatalf("counts out of range: ips %d rules %d name %d", h.NumIPs, h.PortRulesCaptured, len(h.HostNameBytes()))
		}
	})
}

// FuzzIGMP fuzzes the IGMP message inside a valid IPv4 header.
func FuzzIGMP(f *testing.F) {
	f.Add([]byte{0x11, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x11, 100, 0, 0, 0, 0, 0, 0, 2, 125, 0, 1, 10, 0, 0, 1})
	f.Add([]byte{0x16, 0, 0, 0, 239, 255, 3, 232})
	f.Add([]byte{0x22, 0, 0, 0, 0, 0, 0, 2, 4, 0, 0, 0, 239, 255, 0, 50, 5, 1, 0, 1, 232, 1, 1, 1, 10, 0, 0, 9, 0, 0, 0, 0})
	d := frame.NewDecoder()
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 60000 {
			return
		}
		data := igmpFrame(msg)
		fr := d.Decode(layers.LinkTypeEthernet, data, len(data))
		if fr.Status == frame.OK && fr.Kind != frame.KindIGMP {
			t.Fatalf("IGMP in IPv4 decoded as %v", fr.Kind)
		}
		if fr.Kind == frame.KindIGMP {
			g := fr.IGMP
			if g.RecordsDecoded > frame.MaxGroupRecords || g.RecordsDecoded+g.RecordsDropped > int(g.NumRecords) {
				t.Fatalf("records %d+%d of %d", g.RecordsDecoded, g.RecordsDropped, g.NumRecords)
			}
		}
	})
}

// FuzzARP fuzzes the ARP message inside an Ethernet frame (ethertype
// 0x0806): odd hardware and protocol sizes, lengths beyond the data.
func FuzzARP(f *testing.F) {
	f.Add(arpPayload(1, addr.MAC{0, 1, 2, 3, 4, 5}, [4]byte{10, 0, 0, 1}, addr.MAC{}, [4]byte{10, 0, 0, 2}))
	f.Add(arpPayload(2, addr.MAC{3, 0xbf, 10, 0, 0, 50}, [4]byte{10, 0, 0, 50}, addr.MAC{}, [4]byte{10, 0, 0, 50}))
	f.Add([]byte{0, 1, 8, 0, 6, 4, 0, 1})
	f.Add([]byte{0, 1, 8, 0, 0xff, 0xff, 0, 1, 1, 2, 3})
	d := frame.NewDecoder()
	f.Fuzz(func(t *testing.T, payload []byte) {
		data := ethernet(addr.Broadcast, addr.MAC{0, 1, 2, 3, 4, 5}, 0x0806, payload)
		fr := d.Decode(layers.LinkTypeEthernet, data, len(data))
		switch fr.Kind {
		case frame.KindARP:
			if fr.Status == frame.Malformed || !fr.ARP.SenderIP.Is4() || !fr.ARP.TargetIP.Is4() {
				t.Fatalf("ARP with status %v sender %v", fr.Status, fr.ARP.SenderIP)
			}
		case frame.KindARPOther:
		default:
			if fr.Status != frame.Malformed || fr.Reason != frame.ReasonARP {
				t.Fatalf("ARP frame decoded as %v, status %v reason %v", fr.Kind, fr.Status, fr.Reason)
			}
		}
	})
}
