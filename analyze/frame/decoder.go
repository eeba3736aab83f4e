package frame

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
)

// Kind is what a frame carries, as far as nlbprobe is concerned.
type Kind uint8

// Frame kinds.
const (
	KindOther      Kind = iota // anything else (IPv6, LLDP, STP...)
	KindARP                    // ARP for IPv4 over Ethernet
	KindARPOther               // ARP with other address types or sizes (AARP, InfiniBand)
	KindIPv4                   // IPv4 that is not IGMP
	KindIGMP                   // IGMP of any version
	KindHeartbeat              // NLB heartbeat (membership, extended or reliable)
	KindNLBUnknown             // ethertype 0x886F without an NLB signature
)

var kindNames = [...]string{"other", "arp", "arp-other", "ipv4", "igmp", "nlb-heartbeat", "nlb-unknown"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// Status is how decoding a frame went.
type Status uint8

// Decode outcomes.
const (
	OK Status = iota
	// Truncated: the capture's snaplen cut the frame; what was there is
	// decoded. Not a fault of the frame.
	Truncated
	// Malformed: the frame was captured whole (or at least past the fault)
	// and contradicts itself: too short for its headers, lengths or counts
	// that run past the data, too many VLAN tags.
	Malformed
	// Unsupported: a link type this decoder does not read.
	Unsupported
)

// Reason says which part of a malformed frame was at fault, for grouping
// malformed-frame findings.
type Reason uint8

// Malformation reasons.
const (
	ReasonNone Reason = iota
	ReasonLinkHeader
	ReasonVLAN
	ReasonARP
	ReasonIPv4
	ReasonIGMP
	ReasonHeartbeat
	ReasonOther
	// ReasonHeartbeatLength: an NLB heartbeat captured whole that ends
	// before the fields its signature promises: broken on the wire, not
	// cut by a snaplen, so it is no heartbeat of its host.
	ReasonHeartbeatLength
	// ReasonTunnel: an ERSPAN header (GRE protocol 0x88BE or 0x22EB) cut
	// short or of the wrong version in a frame captured whole.
	ReasonTunnel
	// NumReasons is the number of reasons, for arrays indexed by Reason.
	NumReasons
)

var reasonNames = [...]string{"", "link header", "802.1Q tag", "ARP", "IPv4 header", "IGMP", "NLB heartbeat", "other",
	"NLB heartbeat length", "ERSPAN header"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "invalid"
}

// ARP is an ARP message for IPv4 over Ethernet, copied out of the frame.
type ARP struct {
	Op        uint16 // 1 request, 2 reply
	SenderMAC addr.MAC
	SenderIP  netip.Addr
	TargetMAC addr.MAC
	TargetIP  netip.Addr
}

// IsGratuitous reports whether the sender announces its own binding: sender
// and target IP equal (RFC 5227 announcement, or a gratuitous reply).
func (a *ARP) IsGratuitous() bool { return a.SenderIP == a.TargetIP }

// IsProbe reports whether this is an RFC 5227 probe (sender IP 0.0.0.0),
// which binds nothing.
func (a *ARP) IsProbe() bool { return a.SenderIP == netip.IPv4Unspecified() }

// Frame is a decoded frame. Pointers and slices inside are valid until the
// next Decode.
type Frame struct {
	Kind   Kind
	Status Status
	Reason Reason
	// Err is the decoder's error for a malformed or truncated frame.
	Err error

	Src, Dst addr.MAC
	// DstKnown is false for Linux cooked captures, which keep only the
	// source address; PacketType then says how the frame was addressed.
	DstKnown   bool
	PacketType layers.LinuxSLLPacketType
	VLAN       VLAN
	Tags       int
	EtherType  layers.EthernetType
	// Len is the frame's length on the wire: the record's wire length,
	// or for a frame that came through a remote span (Encap), the
	// mirrored frame's.
	Len int
	// Encap is the remote span a mirrored frame came through (ERSPAN,
	// VXLAN): the Frame is then the mirrored frame, and VLAN carries the
	// session. EncapNone for a frame seen directly.
	Encap Encap
	// MirrorCut is set when the remote span's switch cut the mirrored
	// frame before it sent it (ERSPAN's T bit): Status is then Truncated
	// however whole the capture kept what came.
	MirrorCut bool

	ARP  ARP
	IPv4 struct {
		Src, Dst netip.Addr
		Protocol layers.IPProtocol
	}
	// IGMP and Heartbeat point at the decoder's layers when Kind says so.
	IGMP      *IGMP
	Heartbeat *Heartbeat
}

// Decoder decodes frames with preallocated layers. The zero value is not
// usable; call NewDecoder.
type Decoder struct {
	eth     layers.Ethernet
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	vlans   vlanStack
	arp     layers.ARP
	ip4     layers.IPv4
	igmp    IGMP
	hb      Heartbeat
	payload gopacket.Payload

	// The parsers of frames the hand decoders do not read (Linux cooked
	// captures, a third tag, an 802.3 length...), and of every frame in
	// the tests' oracle (fullParse).
	ethParser, sllParser, sll2Parser *gopacket.DecodingLayerParser
	decoded                          []gopacket.LayerType

	// ipNext says what the parser decodes after an IPv4 header of each
	// protocol, for the hand decoders (afterlink.go).
	ipNext [256]ipLayer
	// err is the error of the last frame a hand decoder found malformed.
	err layerError

	// plainIPProto[p] says that an option-less IPv4 header of protocol p
	// ends the parser's work (TCP, UDP and everything else the parser has
	// no layer for), so the fast path may classify it.
	plainIPProto [256]bool
	// fullParse turns the fast path off: the tests' oracle.
	fullParse bool
	// inTunnel is set while the frame inside a remote span's
	// encapsulation is decoded: one level, not a tunnel in a tunnel.
	inTunnel bool

	f Frame
}

// NewDecoder returns a Decoder for Ethernet, Linux SLL and Linux SLL2
// frames.
func NewDecoder() *Decoder {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	common := []gopacket.DecodingLayer{&d.vlans, &d.arp, &d.ip4, &d.igmp, &d.hb, &d.payload}
	newParser := func(first gopacket.LayerType, link gopacket.DecodingLayer) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first)
		// The sparse container indexes decoders by layer type: the fastest
		// lookup gopacket has, at the cost of a slice up to our type 1886.
		p.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
		p.AddDecodingLayer(link)
		for _, l := range common {
			p.AddDecodingLayer(l)
		}
		// TCP, UDP, IPv6 and the rest end decoding quietly: nlbprobe counts
		// them but does not look inside.
		p.IgnoreUnsupported = true
		return p
	}
	d.ethParser = newParser(layers.LayerTypeEthernet, &d.eth)
	d.sllParser = newParser(layers.LayerTypeLinuxSLL, &d.sll)
	d.sll2Parser = newParser(layers.LayerTypeLinuxSLL2, &d.sll2)
	// Read gopacket's tables here rather than in an init function, after
	// every package (this one's heartbeat registration included) has set
	// them up.
	d.ipNext = ipNextLayers()
	for p := range d.plainIPProto {
		proto := layers.IPProtocol(p)
		// GRE may carry a remote span's ERSPAN (readTunnel), and UDP to
		// port 4789 its VXLAN: plainIPv4Port checks that port.
		d.plainIPProto[p] = proto != layers.IPProtocolIGMP && proto != ipProtoGRE && !parserDecodes(proto.LayerType())
	}
	return d
}

// parserDecodes reports whether the parsers hold a decoder for layer type
// t: a frame whose next layer is one of these needs the parser.
func parserDecodes(t gopacket.LayerType) bool {
	switch t {
	case layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeLinuxSLL2,
		layers.LayerTypeDot1Q, layers.LayerTypeARP, layers.LayerTypeIPv4, layers.LayerTypeIGMP,
		LayerTypeHeartbeat, gopacket.LayerTypePayload:
		return true
	}
	return false
}

// SupportsLinkType reports whether Decode reads frames of link type lt.
func SupportsLinkType(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2:
		return true
	}
	return false
}

var errUnsupportedLink = errors.New("link type carries no Ethernet header")

// Decode decodes one frame of link type lt. wireLen is the frame's length on
// the wire (the capture record's original length): a frame captured shorter
// than that was cut by the snaplen, and a decode error there is truncation,
// not malformation. A frame that carries a mirrored frame (ERSPAN over GRE,
// VXLAN) decodes to the mirrored frame, with Encap set and its session in
// VLAN. The Frame is valid until the next Decode.
func (d *Decoder) Decode(lt layers.LinkType, data []byte, wireLen int) *Frame {
	return d.decodeFrame(lt, data, wireLen)
}

// decodeFrame is Decode, also for the frame inside a tunnel.
func (d *Decoder) decodeFrame(lt layers.LinkType, data []byte, wireLen int) *Frame {
	f := d.reset(wireLen)
	var p *gopacket.DecodingLayerParser
	switch lt {
	case layers.LinkTypeEthernet:
		p = d.ethParser
		if d.fullParse {
			break
		}
		l, ok := readLink(data)
		if !ok {
			break
		}
		// A remote span's frame with an option-less IPv4 header: straight
		// to the mirrored frame. Any other (options, broken headers) goes
		// through the hand decoders and then tunnelAfterParse, as the
		// oracle's frames all do.
		// A few inlined compares: ARP, IGMP and NLB pay no call.
		if (l.etherType == uint16(layers.EthernetTypeIPv4) && mayTunnel4(data, l.off) ||
			l.etherType == uint16(layers.EthernetTypeIPv6) && mayBeTunnel6(data[l.off:])) && !d.inTunnel {
			var t tunnel
			if l.etherType == uint16(layers.EthernetTypeIPv4) {
				t, ok = readTunnel(data, wireLen, l.off)
			} else {
				t, ok = readTunnel6(data, wireLen, l.off)
			}
			if ok && !t.broken {
				return d.decodeTunnel(data, wireLen, &t)
			}
		}
		if d.decodePlain(f, data, wireLen, &l) {
			return f
		}
		// ARP, IPv4 that is not plain (IGMP above all) and NLB: decoded
		// by hand from after the link header read here, as the parser
		// would decode them after its Ethernet and Dot1Q layers.
		if after := afterLink(l.etherType); after != etherNone {
			l.fill(f, data)
			truncated, reason, err := d.decodeAfterLink(f, after, data[l.off:])
			return d.finish(f, lt, data, wireLen, truncated, reason, err)
		}
	case layers.LinkTypeLinuxSLL:
		p = d.sllParser
	case layers.LinkTypeLinuxSLL2:
		p = d.sll2Parser
	default:
		f.Status, f.Err = Unsupported, errUnsupportedLink
		return f
	}
	err := p.DecodeLayers(data, &d.decoded)
	for _, t := range d.decoded {
		d.take(f, t)
	}
	var reason Reason
	if err != nil {
		reason = d.failedLayer()
	}
	return d.finish(f, lt, data, wireLen, p.Truncated, reason, err)
}

// finish sets the status of f, a frame of wireLen bytes on the wire
// decoded from data by the parser or the hand decoders, from what they
// said: err and the layer at fault (reason), or truncated, that a layer
// ran out of bytes. It then decodes a remote span's mirrored frame.
func (d *Decoder) finish(f *Frame, lt layers.LinkType, data []byte, wireLen int, truncated bool, reason Reason, err error) *Frame {
	if err != nil {
		f.Err = err
		f.Reason = reason
		if len(data) < wireLen {
			f.Status = Truncated
		} else {
			f.Status = Malformed
		}
		return f
	}
	// The parser stops at an empty payload without calling the next layer:
	// an IGMP or NLB frame with nothing after its header still is one.
	empty := func(r Reason) *Frame {
		f.Reason, f.Err, f.Status = r, errEmpty, Malformed
		if len(data) < wireLen {
			f.Status = Truncated
		}
		return f
	}
	switch {
	case f.Kind == KindOther && (f.EtherType == EtherTypeNLB || f.EtherType == EtherTypeNLBOld):
		f.Kind = KindNLBUnknown
	case f.Kind == KindOther && f.EtherType == layers.EthernetTypeARP:
		return empty(ReasonARP)
	case f.Kind == KindOther && f.EtherType == layers.EthernetTypeIPv4:
		return empty(ReasonIPv4)
	case f.Kind == KindIPv4 && f.IPv4.Protocol == layers.IPProtocolIGMP:
		return empty(ReasonIGMP)
	}
	switch {
	case len(data) < wireLen:
		f.Status = Truncated
		if f.Kind == KindIPv4 || f.EtherType == layers.EthernetTypeIPv6 {
			return d.tunnelAfterParse(f, lt, data, wireLen)
		}
	case truncated && f.Kind == KindHeartbeat:
		// A heartbeat captured whole that ends before its fields do (a
		// membership heartbeat shorter than its 1496 bytes, an extended
		// one whose last TLV runs past the frame) was sent broken or
		// damaged on the way: counting it as a heartbeat of its host would
		// vouch for a host on the strength of a fragment.
		f.Status, f.Reason, f.Err = Malformed, ReasonHeartbeatLength, errShortHeartbeat
	case truncated:
		// The whole frame was captured, yet a layer ran out of bytes: the
		// frame's own lengths lie.
		f.Status, f.Reason, f.Err = Malformed, reasonOf(f.Kind), errShort
		return f
	}
	// Only IPv4 and IPv6 may carry a remote span's frame: ARP, IGMP's
	// Kind and NLB pay a compare, not a call.
	if f.Kind == KindIPv4 || f.EtherType == layers.EthernetTypeIPv6 {
		return d.tunnelAfterParse(f, lt, data, wireLen)
	}
	return f
}

// tunnelAfterParse decodes the mirrored frame inside f, an IPv4 frame the
// parser decoded or an IPv6 frame it skipped (either maybe cut by the
// snaplen), if it is a remote span's; it returns f itself otherwise.
func (d *Decoder) tunnelAfterParse(f *Frame, lt layers.LinkType, data []byte, wireLen int) *Frame {
	ipv6 := f.Kind == KindOther && f.EtherType == layers.EthernetTypeIPv6
	if d.inTunnel || !ipv6 && (f.Kind != KindIPv4 || f.IPv4.Protocol != ipProtoGRE && f.IPv4.Protocol != ipProtoUDP) {
		return f
	}
	// Where the parser found the IPv4 header: after the link header and
	// the tags.
	ipOff := 4 * f.Tags
	switch lt {
	case layers.LinkTypeEthernet:
		ipOff += 14
	case layers.LinkTypeLinuxSLL:
		ipOff += 16
	case layers.LinkTypeLinuxSLL2:
		ipOff += 20
	}
	var t tunnel
	var ok bool
	if ipv6 {
		t, ok = readTunnel6(data, wireLen, ipOff)
	} else {
		t, ok = readTunnel(data, wireLen, ipOff)
	}
	switch {
	case !ok:
		return f
	case t.broken:
		f.Status, f.Reason, f.Err, f.Encap = Malformed, ReasonTunnel, errTunnel, t.encap
		return f
	}
	return d.decodeTunnel(data, wireLen, &t)
}

// reset clears the decoder's Frame for the next frame, of wireLen bytes on
// the wire, and returns it.
func (d *Decoder) reset(wireLen int) *Frame {
	f := &d.f
	f.Kind, f.Status, f.Reason, f.Err = KindOther, OK, ReasonNone, nil
	f.Src, f.Dst, f.DstKnown, f.PacketType = addr.MAC{}, addr.MAC{}, true, 0
	f.VLAN, f.Tags, f.EtherType = 0, 0, 0
	f.Len, f.Encap, f.MirrorCut = wireLen, EncapNone, false
	f.IGMP, f.Heartbeat = nil, nil
	d.vlans.reset()
	return f
}

// DecodePlain decodes a frame that Decode decodes by its fast path for
// plain frames alone (decodePlain: IPv4 that nlbprobe only counts,
// ethertypes it has no layer for), exactly as Decode would, and reports
// false for every other frame, which then needs Decode. It is Decode's own
// fast path, so the two cannot disagree on which frames are plain or what
// they hold: the read pipeline sorts frames with it before they reach the
// engine (analyze.Batch). The Frame is valid until the next Decode or
// DecodePlain.
func (d *Decoder) DecodePlain(lt layers.LinkType, data []byte, wireLen int) (*Frame, bool) {
	if lt != layers.LinkTypeEthernet {
		return nil, false
	}
	l, ok := readLink(data)
	if !ok {
		return nil, false
	}
	f := d.reset(wireLen)
	return f, d.decodePlain(f, data, wireLen, &l)
}

// PlainIPv4 reports whether data, an Ethernet frame of wireLen bytes on the
// wire, is the commonest frame of a busy link in its simplest form: IPv4
// without options, untagged or under one 802.1Q/802.1ad tag, of a protocol
// nlbprobe only counts (TCP, UDP...; not GRE, nor UDP to the VXLAN port,
// which may carry a remote span's frame), its total length plausible. ipOff is
// where the IPv4 header starts: 14, or 18 after a tag; vlan is the frame's
// VLAN.
//
// Decode decodes such a frame by its plain fast path, to Kind KindIPv4, no
// error Reason, Dst data[0:6], Src data[6:12], Tags 0 and VLAN 0 untagged
// or Tags 1 and VLAN MakeVLAN(the tag's low 12 bits, 0), IPv4.Src
// data[ipOff+12:], IPv4.Dst data[ipOff+16:], IPv4.Protocol data[ipOff+9],
// and Status Truncated when len(data) < wireLen, OK otherwise. A caller
// that needs only those (the read pipeline's sums, analyze.Batch) can then
// skip even the fast path's filling of a Frame: a handful of byte compares
// a frame. TestDecodePlainIsDecode and FuzzDecodePlainIsDecode check that
// claim against Decode on every frame they have.
func (d *Decoder) PlainIPv4(data []byte, wireLen int) (ipOff int, vlan VLAN, ok bool) {
	ipOff = 14
	if len(data) < 34 {
		return 0, 0, false
	}
	if et := uint16(data[12])<<8 | uint16(data[13]); et == etherTypeDot1Q || et == etherTypeQinQ {
		ipOff = 18
		if len(data) < 38 {
			return 0, 0, false
		}
		vlan = MakeVLAN(uint16(data[14]&0x0f)<<8|uint16(data[15]), 0)
	}
	ip := data[ipOff:]
	if data[ipOff-2] != 0x08 || data[ipOff-1] != 0x00 || ip[0] != 0x45 || !d.plainIPProto[ip[9]] || mayBeVXLAN(ip) {
		return 0, 0, false
	}
	// decodePlain's total-length rules: 0 is the data's length (TSO);
	// below 20 the parser decides; past the captured bytes of a frame
	// captured whole, the frame is malformed.
	length := int(ip[2])<<8 | int(ip[3])
	if length == 0 || length >= 20 && (len(data) < wireLen || length <= len(ip)) {
		return ipOff, vlan, true
	}
	return 0, 0, false
}

var (
	errShort = errors.New("a length in the frame runs past its end")
	// errShortHeartbeat: Heartbeat.Captured and the signature tell how
	// far it went.
	errShortHeartbeat = errors.New("the frame, captured whole, ends before its NLB heartbeat does")
	errEmpty          = errors.New("the frame ends where its payload should start")
)

// Ethertypes of the 802.1Q and 802.1ad tags, which gopacket (v1.7.7) both
// decodes as Dot1Q; TestPlainTagTypes checks that it still does.
const (
	etherTypeDot1Q = 0x8100
	etherTypeQinQ  = 0x88a8
)

// link is an Ethernet header and its VLAN tags, read by readLink.
//
// Its fields are all scalars, so that it travels in registers: an array
// among them is written and read back through memory.
type link struct {
	off       int    // where the payload starts
	etherType uint16 // the innermost ethertype
	tags      int
	vlan      VLAN // as vlanStack.vlan gives it
}

// readLink reads an Ethernet header and at most two VLAN tags as gopacket's
// Ethernet and Dot1Q layers read them, for the frames where they read them
// without a doubt: ok is false for a header cut short, an 802.3 length, a
// third tag or nothing after the header, which the parser then decodes
// from the start.
//
// Layout: destination MAC 0-5, source MAC 6-11, ethertype 12-13; a tag is
// 2 bytes of priority and VLAN ID (low 12 bits) then the next ethertype.
func readLink(data []byte) (l link, ok bool) {
	if len(data) < 14 {
		return l, false
	}
	l.off = 14
	l.etherType = binary.BigEndian.Uint16(data[12:])
	for l.etherType == etherTypeDot1Q || l.etherType == etherTypeQinQ {
		if l.tags == maxTags || len(data) < l.off+4 {
			return l, false
		}
		id := binary.BigEndian.Uint16(data[l.off:]) & 0x0fff
		if l.tags == 0 {
			l.vlan = MakeVLAN(id, 0)
		} else {
			l.vlan = MakeVLAN(id, l.vlan.ID()) // the first tag is the outer one
		}
		l.etherType = binary.BigEndian.Uint16(data[l.off+2:])
		l.off += 4
		l.tags++
	}
	// The parser's own empty-payload rule: a layer with nothing after it
	// ends decoding. Frames that short are rare; leave them to the parser.
	return l, len(data) > l.off && l.etherType >= 0x0600
}

// fill sets what the Ethernet and Dot1Q layers give a Frame.
func (l *link) fill(f *Frame, data []byte) {
	f.Dst = addr.MAC(data[0:6])
	f.Src = addr.MAC(data[6:12])
	f.EtherType = layers.EthernetType(l.etherType)
	f.VLAN = l.vlan
	f.Tags = l.tags
}

// decodePlain decodes, without gopacket, the frames that make up most of a
// busy link and that nlbprobe only counts: after the link header l, either
// an IPv4 header without options whose protocol the parser has no layer
// for (TCP, UDP...), or an ethertype the parser has no layer for (IPv6,
// LLDP...). It costs a few byte compares instead of the parser's
// layer-by-layer interface calls: measured, about 10 ns a frame against
// 150.
//
// It fills f exactly as the parser's path would (FuzzDecodePlain and
// TestDecodePlainMatchesParser compare the two on every frame they have)
// and returns true; for anything else (ARP, IGMP, NLB, IPv4 options, any
// header cut short or contradicting itself) it returns false having set
// nothing, and the parser decodes the frame: it stays the one decoder of
// every layer nlbprobe analyzes.
//
// IPv4 (RFC 791): version and IHL 0, total length 2-3, flags and fragment
// offset 6-7, protocol 9, source 12-15, destination 16-19.
func (d *Decoder) decodePlain(f *Frame, data []byte, wireLen int, l *link) bool {
	var ip []byte
	if l.etherType == uint16(layers.EthernetTypeIPv4) {
		ip = data[l.off:]
		// Version 4, IHL 5. gopacket does not check the version, but what
		// it does with another one is the parser's business.
		if len(ip) < 20 || ip[0] != 0x45 || !d.plainIPProto[ip[9]] || mayBeVXLAN(ip) {
			return false
		}
	} else if parserDecodes(layers.EthernetType(l.etherType).LayerType()) {
		// ARP, NLB and the like.
		return false
	} else if l.etherType == uint16(layers.EthernetTypeIPv6) && mayBeTunnel6(data[l.off:]) {
		// A remote span over IPv6, maybe: the parser's path decides.
		return false
	}

	// gopacket's IPv4: a total length of 0 (TSO) means the data's length;
	// below the header's 20 bytes it is an error, above the data's length
	// the layer is cut short (DecodeFeedback.SetTruncated).
	ipCut := false
	if ip != nil {
		length := int(binary.BigEndian.Uint16(ip[2:]))
		if length == 0 {
			length = len(ip)
		}
		if length < 20 {
			return false
		}
		ipCut = len(ip) < length
	}

	l.fill(f, data)
	if ip != nil {
		f.Kind = KindIPv4
		f.IPv4.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		f.IPv4.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
		f.IPv4.Protocol = layers.IPProtocol(ip[9])
	}
	switch {
	case len(data) < wireLen:
		f.Status = Truncated
	case ipCut:
		f.Status, f.Reason, f.Err = Malformed, ReasonIPv4, errShort
	}
	return true
}

// mayTunnel4 reports whether data[off:] is an option-less IPv4 header of
// protocol GRE or UDP, which readTunnel may take: a few compares, so that
// the frames that are not (ARP, IGMP, NLB) pay nothing more.
func mayTunnel4(data []byte, off int) bool {
	return len(data) >= off+20 && data[off] == 0x45 && (data[off+9] == ipProtoGRE || data[off+9] == ipProtoUDP)
}

// mayBeVXLAN reports whether ip, an IPv4 header without options and what
// follows, is UDP to the VXLAN port: a remote span's frame, maybe, which
// readTunnel decides. A UDP header cut before its ports is not one.
func mayBeVXLAN(ip []byte) bool {
	return ip[9] == ipProtoUDP && len(ip) >= 24 && binary.BigEndian.Uint16(ip[22:]) == vxlanPort
}

func reasonOf(k Kind) Reason {
	switch k {
	case KindHeartbeat, KindNLBUnknown:
		return ReasonHeartbeat
	case KindIPv4:
		return ReasonIPv4
	case KindIGMP:
		return ReasonIGMP
	case KindARP, KindARPOther:
		return ReasonARP
	}
	return ReasonOther
}

// take copies what layer t decoded into f.
func (d *Decoder) take(f *Frame, t gopacket.LayerType) {
	switch t {
	case layers.LayerTypeEthernet:
		f.Dst = addr.MACFrom(d.eth.DstMAC)
		f.Src = addr.MACFrom(d.eth.SrcMAC)
		f.EtherType = d.eth.EthernetType
	case layers.LayerTypeLinuxSLL:
		f.DstKnown = false
		f.PacketType = d.sll.PacketType
		if d.sll.AddrLen == 6 {
			f.Src = addr.MACFrom(d.sll.Addr)
		}
		f.EtherType = d.sll.EthernetType
	case layers.LayerTypeLinuxSLL2:
		f.DstKnown = false
		f.PacketType = layers.LinuxSLLPacketType(d.sll2.PacketType)
		if d.sll2.AddrLength == 6 {
			f.Src = addr.MACFrom(d.sll2.Addr)
		}
		f.EtherType = d.sll2.ProtocolType
	case layers.LayerTypeDot1Q:
		f.VLAN = d.vlans.vlan()
		f.Tags = d.vlans.n
		f.EtherType = d.vlans.Type
	case layers.LayerTypeARP:
		a := &d.arp
		if a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 ||
			a.HwAddressSize != 6 || a.ProtAddressSize != 4 {
			f.Kind = KindARPOther
			return
		}
		f.Kind = KindARP
		f.ARP = ARP{
			Op:        a.Operation,
			SenderMAC: addr.MACFrom(a.SourceHwAddress),
			SenderIP:  netip.AddrFrom4([4]byte(a.SourceProtAddress)),
			TargetMAC: addr.MACFrom(a.DstHwAddress),
			TargetIP:  netip.AddrFrom4([4]byte(a.DstProtAddress)),
		}
	case layers.LayerTypeIPv4:
		f.Kind = KindIPv4
		f.IPv4.Src = netip.AddrFrom4([4]byte(d.ip4.SrcIP.To4()))
		f.IPv4.Dst = netip.AddrFrom4([4]byte(d.ip4.DstIP.To4()))
		f.IPv4.Protocol = d.ip4.Protocol
	case layers.LayerTypeIGMP:
		f.Kind = KindIGMP
		f.IGMP = &d.igmp
	case LayerTypeHeartbeat:
		f.Heartbeat = &d.hb
		if d.hb.Kind == HeartbeatUnknown {
			f.Kind = KindNLBUnknown
		} else {
			f.Kind = KindHeartbeat
		}
	}
}

// failedLayer names the layer that returned the parser's error: the one
// after the last layer decoded, or the link layer, the first of every
// parser.
func (d *Decoder) failedLayer() Reason {
	var next gopacket.LayerType
	switch last := lastOf(d.decoded); last {
	case gopacket.LayerTypeZero:
		return ReasonLinkHeader
	case layers.LayerTypeEthernet:
		next = d.eth.NextLayerType()
	case layers.LayerTypeLinuxSLL:
		next = d.sll.NextLayerType()
	case layers.LayerTypeLinuxSLL2:
		next = d.sll2.NextLayerType()
	case layers.LayerTypeDot1Q:
		next = d.vlans.NextLayerType()
	case layers.LayerTypeIPv4:
		next = d.ip4.NextLayerType()
	default:
		return ReasonOther
	}
	switch next {
	case layers.LayerTypeDot1Q:
		return ReasonVLAN
	case layers.LayerTypeARP:
		return ReasonARP
	case layers.LayerTypeIPv4:
		return ReasonIPv4
	case layers.LayerTypeIGMP:
		return ReasonIGMP
	case LayerTypeHeartbeat:
		return ReasonHeartbeat
	}
	return ReasonOther
}

func lastOf(decoded []gopacket.LayerType) gopacket.LayerType {
	if len(decoded) == 0 {
		return gopacket.LayerTypeZero
	}
	return decoded[len(decoded)-1]
}

var errTooManyTags = errors.New("more than two VLAN tags")
