package frame

import (
	"encoding/binary"
	"errors"

	"github.com/gopacket/gopacket/layers"
)

// Encap is the encapsulation a frame came in: the remote span (RSPAN's
// routed kin) that mirrored it to the capture. A mirrored frame is
// analysed as a frame of a span capture, in the VLAN context of its session
// (VLAN.Session).
type Encap uint8

// Encapsulations.
const (
	EncapNone Encap = iota
	// EncapERSPANI: GRE protocol 0x88BE without a sequence number and no
	// ERSPAN header: the mirrored frame follows the GRE header.
	EncapERSPANI
	// EncapERSPANII: GRE protocol 0x88BE with a sequence number, then the
	// 8-byte ERSPAN type II header (version 1).
	EncapERSPANII
	// EncapERSPANIII: GRE protocol 0x22EB, then the 12-byte ERSPAN type
	// III header (version 2) and an optional 8-byte platform subheader.
	EncapERSPANIII
	// EncapVXLAN: UDP to port 4789, then the 8-byte VXLAN header with the
	// I flag (RFC 7348).
	EncapVXLAN
	// NumEncaps is the number of encapsulations, for arrays indexed by
	// Encap.
	NumEncaps
)

var encapNames = [...]string{"none", "ERSPAN type I", "ERSPAN type II", "ERSPAN type III", "VXLAN"}

func (e Encap) String() string {
	if int(e) < len(encapNames) {
		return encapNames[e]
	}
	return "invalid"
}

// Session returns the kind of session the encapsulation keys state by.
func (e Encap) Session() SessionKind {
	switch e {
	case EncapERSPANI, EncapERSPANII, EncapERSPANIII:
		return SessionERSPAN
	case EncapVXLAN:
		return SessionVXLAN
	}
	return SessionNone
}

// Wire values of the encapsulations (draft-foschiano-erspan-03, RFC 2784,
// RFC 2890, RFC 7348).
const (
	ipProtoIGMP      = 2
	ipProtoGRE       = 47
	ipProtoUDP       = 17
	greProtoERSPAN   = 0x88BE // types I and II
	greProtoERSPAN3  = 0x22EB
	vxlanPort        = 4789
	greChecksum      = 0x8000 // C: checksum and reserved1, 4 bytes
	greRouting       = 0x4000 // R (RFC 1701): a routing field of its own length
	greKey           = 0x2000 // K: 4 bytes
	greSequence      = 0x1000 // S: 4 bytes
	greVersion       = 0x0007
	erspan2HeaderLen = 8
	erspan3HeaderLen = 12
	erspan3SubLen    = 8 // the platform-specific subheader, when O is set
	vxlanHeaderLen   = 8
	udpHeaderLen     = 8
	vxlanFlagI       = 0x08 // a valid VNI
)

var errTunnel = errors.New("ERSPAN header cut short or of another version in a frame captured whole")

// tunnel is what readTunnel found: where the mirrored frame is and in which
// session.
type tunnel struct {
	encap Encap
	id    uint32 // ERSPAN session ID, VXLAN VNI
	// vlan is the ERSPAN header's VLAN, the mirrored frame's VLAN when the
	// switch took the tag out of the frame; 0 when unknown.
	vlan uint16
	// The mirrored frame is data[inner:end]; wire is its length on the
	// wire.
	inner, end, wire int
	// cut is set when the mirror itself cut the frame (ERSPAN's T bit).
	cut bool
	// notEthernet is set for an ERSPAN type III frame type other than
	// Ethernet (FT != 0).
	notEthernet bool
	// broken is set when an ERSPAN header contradicts a frame captured
	// whole: the frame is malformed.
	broken bool
}

// readTunnel reads the remote-span headers of the IPv4 packet at
// data[ipOff:] of a frame of wireLen bytes on the wire: GRE with ERSPAN
// type I, II or III, or UDP to port 4789 with VXLAN. ok is false for
// anything else, which is then an ordinary IPv4 frame, and for an IPv4
// header that the parser calls malformed (so that the decoder's paths
// agree). Fragments are not reassembled: only an unfragmented packet holds
// a whole mirrored frame.
//
// It reads the bytes in place: no copies, no calls through interfaces.
//
// IPv4 (RFC 791): version and IHL 0, total length 2-3, flags and fragment
// offset 6-7, protocol 9.
func readTunnel(data []byte, wireLen, ipOff int) (t tunnel, ok bool) {
	if ipOff < 0 || len(data) < ipOff+20 {
		return t, false
	}
	ip := data[ipOff:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl || ip[6]&0x3f != 0 || ip[7] != 0 {
		return t, false
	}
	// gopacket's IPv4 rules (decodePlain has them too): a total length of
	// 0 is the data's length (TSO), and one past the data of a frame
	// captured whole makes the frame malformed.
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total == 0 {
		total = len(ip)
	}
	if total < ihl || total > len(ip) && len(data) >= wireLen {
		return t, false
	}
	return readEncap(data, ip[9], ipOff+ihl, ipOff+min(total, len(ip)), total-ihl)
}

// readTunnel6 is readTunnel for an IPv6 underlay: the IPv6 header at
// data[ipOff:], without extension headers (RFC 8200: payload length 4-5,
// next header 6; a payload length of 0, a jumbogram's or a GSO packet's,
// is the data's).
func readTunnel6(data []byte, wireLen, ipOff int) (t tunnel, ok bool) {
	if ipOff < 0 || len(data) < ipOff+40 || data[ipOff]>>4 != 6 {
		return t, false
	}
	ip := data[ipOff:]
	payload := int(binary.BigEndian.Uint16(ip[4:]))
	if payload == 0 {
		payload = len(ip) - 40
	}
	if 40+payload > len(ip) && len(data) >= wireLen {
		return t, false
	}
	return readEncap(data, ip[6], ipOff+40, ipOff+min(40+payload, len(ip)), payload)
}

// readEncap reads GRE with ERSPAN, or UDP with VXLAN, at data[off:end], an
// IP payload of protocol proto and of payloadWire bytes on the wire.
//
// GRE (RFC 2784, 2890): flags and version 0-1, protocol type 2-3, then
// checksum, key and sequence number as the flags say. UDP: destination
// port 2-3. VXLAN (RFC 7348): flags 0 (I 0x08), VNI 4-6.
func readEncap(data []byte, proto byte, off, end, payloadWire int) (t tunnel, ok bool) {
	t.end = end
	p := data[off:end]
	var hdr int
	switch proto {
	case ipProtoGRE:
		if len(p) < 4 {
			return t, false
		}
		flags, proto := binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
		if proto != greProtoERSPAN && proto != greProtoERSPAN3 || flags&(greRouting|greVersion) != 0 {
			return t, false
		}
		hdr = 4
		if flags&greChecksum != 0 {
			hdr += 4
		}
		if flags&greKey != 0 {
			hdr += 4
		}
		if flags&greSequence != 0 {
			hdr += 4
		}
		switch {
		case proto == greProtoERSPAN3:
			t.encap = EncapERSPANIII
		case flags&greSequence != 0:
			t.encap = EncapERSPANII
		default:
			t.encap = EncapERSPANI
		}
		var ok bool
		if hdr, ok = t.readERSPAN(p, hdr, payloadWire); !ok {
			return t, false
		}
	case ipProtoUDP:
		hdr = udpHeaderLen + vxlanHeaderLen
		if len(p) < hdr || binary.BigEndian.Uint16(p[2:]) != vxlanPort || p[udpHeaderLen]&vxlanFlagI == 0 {
			return t, false
		}
		t.encap = EncapVXLAN
		v := p[udpHeaderLen:]
		t.id = uint32(v[4])<<16 | uint32(v[5])<<8 | uint32(v[6])
	default:
		return t, false
	}
	if t.broken {
		return t, true
	}
	t.inner = off + hdr
	t.wire = payloadWire - hdr
	if t.cut {
		// The mirror sent less than the frame: its length is unknown but
		// more than what came.
		t.wire = max(t.wire, t.end-t.inner+1)
	}
	return t, true
}

// readERSPAN reads the ERSPAN header after a GRE header of hdr bytes in p,
// an IP payload of payloadWire bytes on the wire, and returns where the
// mirrored frame starts. ok is false when the header was cut by a snaplen
// before it ends: the frame is then an IP frame cut short.
//
// ERSPAN type II: version (4 bits, 1) and VLAN (12) 0-1, COS (3),
// encapsulation (2), T (1) and session ID (10) 2-3, reserved and index
// 4-7. Type III: version 2, the same first word, timestamp 4-7, SGT 8-9,
// P (1), frame type (5), hardware ID (6), D (1), granularity (2) and O (1)
// 10-11.
func (t *tunnel) readERSPAN(p []byte, hdr, payloadWire int) (int, bool) {
	need := hdr
	switch t.encap {
	case EncapERSPANII:
		need += erspan2HeaderLen
	case EncapERSPANIII:
		need += erspan3HeaderLen
	}
	if payloadWire < need {
		// The packet as sent ends inside its headers.
		t.broken = true
		return 0, true
	}
	if len(p) < need {
		return 0, false
	}
	if t.encap == EncapERSPANI {
		return hdr, true
	}
	e := p[hdr:]
	version := e[0] >> 4
	if t.encap == EncapERSPANII && version != 1 || t.encap == EncapERSPANIII && version != 2 {
		t.broken = true
		return 0, true
	}
	first := binary.BigEndian.Uint32(e)
	t.vlan = uint16(first>>16) & 0x0fff
	t.cut = first&0x400 != 0
	t.id = first & 0x3ff
	if t.encap == EncapERSPANII {
		// En 3: the tag was kept in the frame and VLAN is undefined.
		if (first>>11)&3 == 3 {
			t.vlan = 0
		}
		return need, true
	}
	t.notEthernet = (e[10]>>2)&0x1f != 0
	if e[11]&1 != 0 {
		need += erspan3SubLen
		if payloadWire < need {
			t.broken = true
			return 0, true
		}
		if len(p) < need {
			return 0, false
		}
	}
	return need, true
}

// MayCarryFrame reports whether an Ethernet frame may carry another frame
// inside (a remote span's ERSPAN or VXLAN), whose destination only
// decoding it tells: IPv4, untagged or under one or two tags, of protocol
// GRE or UDP. The Ethernet destination of such a frame says nothing of
// where the mirrored frame went.
func MayCarryFrame(data []byte) bool {
	l, ok := readLink(data)
	if !ok {
		return false
	}
	var proto byte
	switch {
	case l.etherType == uint16(layers.EthernetTypeIPv4) && len(data) >= l.off+20:
		proto = data[l.off+9]
	case l.etherType == uint16(layers.EthernetTypeIPv6) && len(data) >= l.off+40:
		proto = data[l.off+6]
	}
	return proto == ipProtoGRE || proto == ipProtoUDP
}

// Deep reports whether data, an Ethernet frame, is in a few compares one
// that the analyzers read, in its usual form: ARP or an NLB heartbeat
// (ethertypes 0x0806, 0x886F, 0xBF01), or IPv4 of protocol IGMP, untagged
// or under one or two tags, with something after its link header. For
// such a frame DecodePlain reports false (it is no plain frame) and
// MayCarryFrame false (it carries no remote span's frame), so a caller
// that sorts frames (analyze.Batch) may skip both. False says nothing:
// the frame may be either. TestDeep and FuzzDecodePlainIsDecode check
// those claims on every frame they have.
//
// Layout: ethertype at 12-13, or after each 4-byte tag; IPv4 protocol 9
// bytes into its header.
func Deep(data []byte) bool {
	if len(data) < 14 {
		return false
	}
	off := 12 // of the ethertype
	et := uint16(data[12])<<8 | uint16(data[13])
	for tags := 0; tags < maxTags && (et == etherTypeDot1Q || et == etherTypeQinQ); tags++ {
		off += 4
		if len(data) < off+2 {
			return false
		}
		et = uint16(data[off])<<8 | uint16(data[off+1])
	}
	switch et {
	case uint16(layers.EthernetTypeARP), uint16(EtherTypeNLB), uint16(EtherTypeNLBOld):
		return len(data) > off+2
	case uint16(layers.EthernetTypeIPv4):
		return len(data) >= off+2+20 && data[off+2+9] == ipProtoIGMP
	}
	return false
}

// mayBeTunnel6 reports whether ip, an IPv6 header and what follows, may
// carry a remote span's frame (readTunnel6 decides): GRE, or UDP to the
// VXLAN port.
func mayBeTunnel6(ip []byte) bool {
	if len(ip) < 40 {
		return false
	}
	switch ip[6] {
	case ipProtoGRE:
		return true
	case ipProtoUDP:
		return len(ip) >= 44 && ip[42] == vxlanPort>>8 && ip[43] == vxlanPort&0xff
	}
	return false
}

// decodeTunnel decodes the frame t found in data: the mirrored frame, as a
// frame of its session (a Frame of the mirrored frame's own, its VLAN in
// the session's context, Encap set), or an ERSPAN frame whose headers are
// broken (Malformed) or that carries no Ethernet frame (KindOther). It
// must be called before anything else writes d.f for this frame: the
// outer frame is then gone.
func (d *Decoder) decodeTunnel(data []byte, wireLen int, t *tunnel) *Frame {
	session := t.encap.Session()
	if t.notEthernet {
		f := d.reset(t.wire)
		f.DstKnown, f.Encap = false, t.encap
		f.VLAN = MakeVLAN(t.vlan, 0).InSession(session, t.id)
		if len(data) < wireLen {
			f.Status = Truncated
		}
		return f
	}
	d.inTunnel = true
	f := d.decodeFrame(layers.LinkTypeEthernet, data[t.inner:t.end], t.wire)
	d.inTunnel = false
	f.Encap, f.MirrorCut = t.encap, t.cut
	if f.Tags == 0 && t.vlan != 0 {
		f.VLAN = MakeVLAN(t.vlan, 0)
	}
	f.VLAN = f.VLAN.InSession(session, t.id)
	if t.cut {
		f.Len = t.end - t.inner
	}
	return f
}
