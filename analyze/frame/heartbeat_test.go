package frame_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

// TestHeartbeatRealCaptures decodes the two real heartbeats in tcpdump's
// corpus. msnlb.pcap was cut at 96 bytes (82 of the 1496-byte payload),
// msnlb2.pcapng at 20 (6 bytes: the signature and half the version).
// tcpdump's own expected output (msnlb.out) gives the values.
func TestHeartbeatRealCaptures(t *testing.T) {
	d := frame.NewDecoder()
	t.Run("msnlb.pcap", func(t *testing.T) {
		recs := readCapture(t, "msnlb.pcap")
		if len(recs) != 2 {
			t.Fatalf("got %d frames, want 2", len(recs))
		}
		want := []struct {
			prio      uint32
			dedicated string
			src       string
		}{
			{2, "192.168.100.82", "02:02:c0:a8:64:50"},
			{1, "192.168.100.81", "02:01:c0:a8:64:50"},
		}
		for i, r := range recs {
			f := d.Decode(r.link, r.data, r.wireLen)
			if f.Kind != frame.KindHeartbeat || f.Status != frame.Truncated {
				t.Fatalf("frame %d: kind %v status %v (err %v), want heartbeat, truncated", i+1, f.Kind, f.Status, f.Err)
			}
			h := f.Heartbeat
			if h.Kind != frame.HeartbeatMembership || !h.Truncated || h.Captured != 82 {
				t.Errorf("frame %d: kind %v truncated %v captured %d", i+1, h.Kind, h.Truncated, h.Captured)
			}
			if h.HostID != want[i].prio || netip.AddrFrom4(h.ClusterIP).String() != "192.168.100.80" ||
				netip.AddrFrom4(h.DedicatedIP).String() != want[i].dedicated {
				t.Errorf("frame %d: host %d cluster %v dedicated %v", i+1, h.HostID,
					netip.AddrFrom4(h.ClusterIP), netip.AddrFrom4(h.DedicatedIP))
			}
			if h.Version != 0x0206 || h.NumPortRules != 9 || !h.HasState() {
				t.Errorf("frame %d: version %#x rules %d", i+1, h.Version, h.NumPortRules)
			}
			// 82-44 = 38 bytes of rule codes: 9 whole codes, exactly the 9 rules.
			if h.PortRulesCaptured != 9 || !h.HasAllPortRules() {
				t.Errorf("frame %d: %d rule codes captured", i+1, h.PortRulesCaptured)
			}
			if f.Src.String() != want[i].src || f.Dst != addr.Broadcast {
				t.Errorf("frame %d: %v > %v", i+1, f.Src, f.Dst)
			}
		}
	})
	t.Run("msnlb2.pcapng", func(t *testing.T) {
		recs := readCapture(t, "msnlb2.pcapng")
		if len(recs) != 2 {
			t.Fatalf("got %d frames, want 2", len(recs))
		}
		for i, r := range recs {
			f := d.Decode(r.link, r.data, r.wireLen)
			h := f.Heartbeat
			if f.Kind != frame.KindHeartbeat || h.Kind != frame.HeartbeatMembership || h.Captured != 6 {
				t.Fatalf("frame %d: kind %v captured %d", i+1, f.Kind, h.Captured)
			}
			if h.HasVersion() || h.HasHostID() || h.HasClusterIP() || !h.Truncated {
				t.Errorf("frame %d: claims fields that were not captured", i+1)
			}
		}
	})
}

// membership builds a whole membership heartbeat payload.
func membership(prio uint32, cluster, dedicated [4]byte, rules ...uint32) []byte {
	b := make([]byte, frame.MembershipLen)
	binary.LittleEndian.PutUint32(b[0:], frame.SignatureMembership)
	binary.LittleEndian.PutUint32(b[4:], 0x0206)
	binary.LittleEndian.PutUint32(b[8:], prio)
	copy(b[12:], cluster[:])
	copy(b[16:], dedicated[:])
	binary.LittleEndian.PutUint16(b[20:], uint16(prio))
	binary.LittleEndian.PutUint16(b[26:], uint16(len(rules)))
	for i, r := range rules {
		binary.LittleEndian.PutUint32(b[44+4*i:], r)
	}
	return b
}

// utf16z encodes s as NUL-terminated UTF-16LE.
func utf16z(s string) []byte {
	var b []byte
	for _, r := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return append(b, 0, 0)
}

// tlv builds an extended-heartbeat TLV padded to 8-byte units.
func tlv(typ byte, value []byte) []byte {
	size := (8 + len(value) + 7) / 8 * 8
	b := make([]byte, size)
	b[0], b[1] = typ, byte(size/8)
	copy(b[8:], value)
	return b
}

func extended(prio uint32, cluster [4]byte, tlvs ...[]byte) []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], frame.SignatureExtended)
	binary.LittleEndian.PutUint32(b[8:], prio)
	copy(b[12:], cluster[:])
	for _, t := range tlvs {
		b = append(b, t...)
	}
	return b
}

func ethernet(dst, src addr.MAC, etherType uint16, payload []byte) []byte {
	b := append(append(dst[:0:0], dst[:]...), src[:]...)
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

func TestHeartbeatDecode(t *testing.T) {
	cluster := [4]byte{172, 31, 3, 232}
	ipv4 := append([]byte{2, 0}, 10, 0, 0, 7)
	ipv6 := append([]byte{0x17, 0}, netip.MustParseAddr("2001:db8::7").AsSlice()...)
	full := membership(3, cluster, [4]byte{172, 31, 3, 3}, 0x61019019, 0x61050050)
	cases := []struct {
		name     string
		payload  []byte
		wire     int // 0: the payload was captured whole
		kind     frame.HeartbeatKind
		trunc    bool
		wantErr  bool
		reason   frame.Reason // with wantErr
		check    func(t *testing.T, h *frame.Heartbeat)
		frameKnd frame.Kind
	}{
		{name: "membership whole", payload: full, kind: frame.HeartbeatMembership, frameKnd: frame.KindHeartbeat,
			check: func(t *testing.T, h *frame.Heartbeat) {
				if h.HostID != 3 || h.NumPortRules != 2 || h.PortRulesCaptured != frame.MaxPortRules ||
					h.PortRules[1] != 0x61050050 || !h.HasAllPortRules() {
					t.Errorf("got host %d rules %d captured %d", h.HostID, h.NumPortRules, h.PortRulesCaptured)
				}
			}},
		{name: "membership cut in the rules", payload: full[:50], wire: len(full), kind: frame.HeartbeatMembership,
			trunc: true, frameKnd: frame.KindHeartbeat,
			check: func(t *testing.T, h *frame.Heartbeat) {
				if h.PortRulesCaptured != 1 || h.HasAllPortRules() || !h.HasState() {
					t.Errorf("captured %d rules", h.PortRulesCaptured)
				}
			}},
		{name: "membership cut before the cluster IP", payload: full[:13], wire: len(full),
			kind: frame.HeartbeatMembership, trunc: true, frameKnd: frame.KindHeartbeat,
			check: func(t *testing.T, h *frame.Heartbeat) {
				if !h.HasHostID() || h.HasClusterIP() || h.HostID != 3 {
					t.Errorf("host id %d, has cluster %v", h.HostID, h.HasClusterIP())
				}
			}},
		{name: "cut before the signature", payload: full[:3], wire: len(full), kind: frame.HeartbeatUnknown,
			trunc: true, frameKnd: frame.KindNLBUnknown},
		{name: "XBOX is not NLB", payload: append([]byte("XBOX"), make([]byte, 40)...),
			kind: frame.HeartbeatUnknown, frameKnd: frame.KindNLBUnknown},
		{name: "extended with name and addresses",
			payload: extended(3, cluster, tlv(1, utf16z("WEB-NODE-3")), tlv(2, ipv4), tlv(2, ipv6)),
			kind:    frame.HeartbeatExtended, frameKnd: frame.KindHeartbeat,
			check: func(t *testing.T, h *frame.Heartbeat) {
				if h.HostName() != "WEB-NODE-3" || h.NumIPs != 2 ||
					h.IPs[0].String() != "10.0.0.7" || h.IPs[1].String() != "2001:db8::7" {
					t.Errorf("name %q ips %v", h.HostName(), h.IPs[:h.NumIPs])
				}
			}},
		{name: "extended non-ASCII name", payload: extended(1, cluster, tlv(1, utf16z("nœud-ü"))),
			kind: frame.HeartbeatExtended, frameKnd: frame.KindHeartbeat,
			check: func(t *testing.T, h *frame.Heartbeat) {
				if h.HostName() != "nœud-ü" {
					t.Errorf("name %q", h.HostName())
				}
			}},
		{name: "extended TLV of length zero", payload: extended(1, cluster, []byte{1, 0, 0, 0, 0, 0, 0, 0}),
			kind: frame.HeartbeatExtended, wantErr: true, reason: frame.ReasonHeartbeat},
		// Issue 16 item 6: captured whole (wire length = captured length)
		// and shorter than the heartbeat: broken on the wire, not a
		// heartbeat of its host.
		{name: "membership of 800 bytes captured whole", payload: full[:800],
			kind: frame.HeartbeatMembership, wantErr: true, reason: frame.ReasonHeartbeatLength},
		{name: "membership in a 60-byte frame captured whole", payload: full[:46],
			kind: frame.HeartbeatMembership, wantErr: true, reason: frame.ReasonHeartbeatLength},
		{name: "membership ending in the header, captured whole", payload: full[:10],
			kind: frame.HeartbeatMembership, wantErr: true, reason: frame.ReasonHeartbeatLength},
		{name: "extended TLV past the end of a frame captured whole",
			payload: extended(3, cluster, tlv(1, utf16z("WEB-NODE-3")))[:30],
			kind:    frame.HeartbeatExtended, wantErr: true, reason: frame.ReasonHeartbeatLength},
		// The same cut by a snaplen: decoded as far as it goes.
		{name: "membership of 800 bytes cut by the snaplen", payload: full[:800], wire: len(full),
			kind: frame.HeartbeatMembership, trunc: true, frameKnd: frame.KindHeartbeat},
		// A short extended heartbeat padded to Ethernet's 60 bytes: the
		// zeros after its last TLV are padding, and it is whole.
		{name: "extended padded to 60 bytes", payload: append(extended(2, cluster), make([]byte, 26)...),
			kind: frame.HeartbeatExtended, frameKnd: frame.KindHeartbeat,
			check: func(t *testing.T, h *frame.Heartbeat) {
				if h.HostID != 2 || h.HostName() != "" || h.NumIPs != 0 {
					t.Errorf("host %d name %q ips %d", h.HostID, h.HostName(), h.NumIPs)
				}
			}},
	}
	d := frame.NewDecoder()
	src := addr.MAC{0x00, 0x15, 0x5d, 1, 2, 3}
	dst, _ := addr.ClusterMAC(addr.ModeMulticast, netip.AddrFrom4(cluster))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := ethernet(dst, src, 0x886f, c.payload)
			wire := len(data)
			if c.wire != 0 {
				wire = 14 + c.wire
			}
			f := d.Decode(layers.LinkTypeEthernet, data, wire)
			if c.wantErr {
				if f.Status != frame.Malformed || f.Reason != c.reason ||
					c.reason == frame.ReasonHeartbeatLength && f.Kind != frame.KindHeartbeat {
					t.Fatalf("kind %v status %v reason %v, want malformed %v", f.Kind, f.Status, f.Reason, c.reason)
				}
				return
			}
			if f.Err != nil || f.Kind != c.frameKnd {
				t.Fatalf("kind %v err %v, want %v", f.Kind, f.Err, c.frameKnd)
			}
			h := f.Heartbeat
			if h.Kind != c.kind || h.Truncated != c.trunc {
				t.Fatalf("heartbeat kind %v truncated %v, want %v %v", h.Kind, h.Truncated, c.kind, c.trunc)
			}
			if c.trunc != (f.Status == frame.Truncated) {
				t.Errorf("frame status %v", f.Status)
			}
			if c.check != nil {
				c.check(t, h)
			}
		})
	}
}

// TestHeartbeatNewPacket checks the layer also works through gopacket's
// ordinary packet path (registration of 0x886F and 0xBF01).
func TestHeartbeatNewPacket(t *testing.T) {
	payload := membership(7, [4]byte{10, 0, 0, 50}, [4]byte{10, 0, 0, 7})
	for _, et := range []uint16{0x886f, 0xbf01} {
		data := ethernet(addr.Broadcast, addr.MAC{2, 7, 10, 0, 0, 50}, et, payload)
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		l, ok := p.Layer(frame.LayerTypeHeartbeat).(*frame.Heartbeat)
		if !ok || l.HostID != 7 {
			t.Fatalf("ethertype %#x: layers %v", et, p.Layers())
		}
	}
}
