package frame

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Ethertypes NLB heartbeats travel in.
const (
	EtherTypeNLB    layers.EthernetType = 0x886F
	EtherTypeNLBOld layers.EthernetType = 0xBF01 // NLB before Windows 2000 (WLBS)
)

// Heartbeat signatures: the first four bytes of the payload, little-endian.
const (
	SignatureMembership uint32 = 0xC0DE01BF
	SignatureExtended   uint32 = 0xC0DE01C0
	SignatureReliable   uint32 = 0xC0DE01DE
)

// Heartbeat sizes and offsets, from the layout in analyze/design.md,
// "Heartbeats" (Wireshark's packet-msnlb.c agrees).
const (
	hbHeaderLen     = 20   // signature, version, host ID, cluster IP, dedicated IP
	hbRulesOffset   = 44   // 33 port-rule configuration codes of 4 bytes
	MaxPortRules    = 33   // slots in a membership heartbeat (32 rules + the default)
	MembershipLen   = 1496 // payload of a membership heartbeat: 1510 on the wire
	maxHostNameUTF8 = 128  // host names are at most 63 characters (NetBIOS/DNS label)
	maxExtendedIPs  = 8
)

// LayerTypeHeartbeat is the gopacket layer type of an NLB heartbeat. Numbers
// 1000-1999 are gopacket's range for application layers.
var LayerTypeHeartbeat = gopacket.RegisterLayerType(1886, gopacket.LayerTypeMetadata{
	Name:    "NLBHeartbeat",
	Decoder: gopacket.DecodeFunc(decodeHeartbeat),
})

func init() {
	// Dispatch 0x886F and 0xBF01 from Ethernet, 802.1Q and SLL to the
	// heartbeat layer. EthernetTypeMetadata is gopacket's global table.
	for _, t := range []layers.EthernetType{EtherTypeNLB, EtherTypeNLBOld} {
		layers.EthernetTypeMetadata[t] = layers.EnumMetadata{
			DecodeWith: gopacket.DecodeFunc(decodeHeartbeat),
			Name:       "NLBHeartbeat",
			LayerType:  LayerTypeHeartbeat,
		}
	}
}

// HeartbeatKind says what a 0x886F payload is.
type HeartbeatKind uint8

// The kinds of 0x886F payloads.
const (
	// HeartbeatUnknown carries none of the NLB signatures: another protocol
	// on the same ethertype (an "XBOX" signature exists), or a payload cut
	// before its signature (see Heartbeat.Truncated).
	HeartbeatUnknown HeartbeatKind = iota
	HeartbeatMembership
	HeartbeatExtended
	HeartbeatReliable
)

var heartbeatKindNames = [...]string{"unknown", "membership", "extended", "reliable"}

func (k HeartbeatKind) String() string {
	if int(k) < len(heartbeatKindNames) {
		return heartbeatKindNames[k]
	}
	return "invalid"
}

// Heartbeat is an NLB heartbeat decoded in place. A payload cut short (by a
// capture's snaplen) is decoded as far as it goes: Captured says how many
// bytes there were and the Has methods say which fields they covered.
type Heartbeat struct {
	layers.BaseLayer
	Kind      HeartbeatKind
	Signature uint32
	// Captured is the number of payload bytes present; Truncated is set when
	// the payload ends before the fields its signature promises.
	Captured  int
	Truncated bool

	Version     uint32 // 0x0206 is 2.6
	HostID      uint32 // the unique host ID: the host priority, 1..32
	ClusterIP   [4]byte
	DedicatedIP [4]byte

	// Membership heartbeats only.
	MyHostID         uint16
	DefaultHostID    uint16
	ConvergenceState uint16
	NumPortRules     uint16
	HostCode         uint32
	PacketsHandled   uint32
	Teaming          uint32
	// PortRules holds the port-rule configuration codes that were captured,
	// PortRulesCaptured of them.
	PortRules         [MaxPortRules]uint32
	PortRulesCaptured int

	// Extended heartbeats only: the host name (converted to UTF-8) and IP
	// addresses from the TLVs.
	hostName [maxHostNameUTF8]byte
	nameLen  int
	IPs      [maxExtendedIPs]netip.Addr
	NumIPs   int
}

// LayerType returns LayerTypeHeartbeat.
func (h *Heartbeat) LayerType() gopacket.LayerType { return LayerTypeHeartbeat }

// CanDecode returns LayerTypeHeartbeat.
func (h *Heartbeat) CanDecode() gopacket.LayerClass { return LayerTypeHeartbeat }

// NextLayerType returns LayerTypeZero: nothing follows a heartbeat.
func (h *Heartbeat) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// HasHeader reports whether the common header (host ID, cluster IP and
// dedicated IP) was captured.
func (h *Heartbeat) HasHeader() bool { return h.Captured >= hbHeaderLen }

// HasHostID reports whether the unique host ID (the priority) was captured.
func (h *Heartbeat) HasHostID() bool { return h.Captured >= 12 }

// HasClusterIP reports whether the cluster IP was captured.
func (h *Heartbeat) HasClusterIP() bool { return h.Captured >= 16 }

// HasVersion reports whether the version was captured.
func (h *Heartbeat) HasVersion() bool { return h.Captured >= 8 }

// HasState reports whether the convergence state and port-rule count of a
// membership heartbeat were captured.
func (h *Heartbeat) HasState() bool {
	return h.Kind == HeartbeatMembership && h.Captured >= 28
}

// HasAllPortRules reports whether every port-rule code the heartbeat
// announces (NumPortRules of them) was captured, so that rules can be
// compared between hosts.
func (h *Heartbeat) HasAllPortRules() bool {
	return h.HasState() && h.PortRulesCaptured >= min(int(h.NumPortRules), MaxPortRules)
}

// HostName returns the host name of an extended heartbeat, or "".
func (h *Heartbeat) HostName() string { return string(h.hostName[:h.nameLen]) }

// HostNameBytes returns the host name without allocating; valid until the
// next decode.
func (h *Heartbeat) HostNameBytes() []byte { return h.hostName[:h.nameLen] }

// DecodeFromBytes decodes an NLB heartbeat payload. It returns an error only
// for a payload that contradicts itself (an extended TLV running past the
// end of an uncut frame); a short payload is marked Truncated and decoded as
// far as it goes.
func (h *Heartbeat) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	err := h.decode(data)
	if h.Truncated {
		df.SetTruncated()
	}
	return err
}

// decode is DecodeFromBytes without gopacket's feedback: Truncated says
// what SetTruncated would. The decoder's own heartbeat path calls it
// directly.
func (h *Heartbeat) decode(data []byte) error {
	*h = Heartbeat{BaseLayer: layers.BaseLayer{Contents: data}}
	h.Captured = len(data)
	if len(data) < 4 {
		h.Truncated = true
		return nil
	}
	h.Signature = binary.LittleEndian.Uint32(data[0:4])
	switch h.Signature {
	case SignatureMembership:
		h.Kind = HeartbeatMembership
	case SignatureExtended:
		h.Kind = HeartbeatExtended
	case SignatureReliable:
		h.Kind = HeartbeatReliable
	default:
		return nil // not NLB: leave Kind unknown
	}
	if len(data) >= 8 {
		h.Version = binary.LittleEndian.Uint32(data[4:8])
	}
	if len(data) >= 12 {
		h.HostID = binary.LittleEndian.Uint32(data[8:12])
	}
	if len(data) >= 16 {
		copy(h.ClusterIP[:], data[12:16])
	}
	if len(data) >= 20 {
		copy(h.DedicatedIP[:], data[16:20])
	}
	if len(data) < hbHeaderLen {
		h.Truncated = true
		return nil
	}
	switch h.Kind {
	case HeartbeatMembership:
		h.decodeMembership(data)
	case HeartbeatExtended:
		return h.decodeExtended(data[hbHeaderLen:])
	}
	return nil
}

func (h *Heartbeat) decodeMembership(data []byte) {
	u16 := func(off int) uint16 { return binary.LittleEndian.Uint16(data[off:]) }
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(data[off:]) }
	if len(data) >= 28 {
		h.MyHostID, h.DefaultHostID = u16(20), u16(22)
		h.ConvergenceState, h.NumPortRules = u16(24), u16(26)
	}
	if len(data) >= 40 {
		h.HostCode, h.PacketsHandled, h.Teaming = u32(28), u32(32), u32(36)
	}
	for i := 0; i < MaxPortRules; i++ {
		off := hbRulesOffset + 4*i
		if off+4 > len(data) {
			break
		}
		h.PortRules[i] = u32(off)
		h.PortRulesCaptured++
	}
	if len(data) < MembershipLen {
		h.Truncated = true
	}
}

// errTLV reports an extended-heartbeat TLV of length zero, which would
// never end. A sentinel, so that returning it allocates nothing.
var errTLV = errors.New("NLB extended heartbeat: TLV of length zero")

// decodeExtended walks the TLVs of an extended heartbeat: type, length in
// 8-byte units (the whole TLV), 6 reserved bytes, then the value.
//
// An extended heartbeat short enough to be padded to Ethernet's 60 bytes
// ends in zeros: a TLV of type 0 and length 0 is no TLV, so a tail of zeros
// is that padding, not a TLV cut short or of length zero.
func (h *Heartbeat) decodeExtended(tlvs []byte) error {
	for len(tlvs) > 0 {
		if isZero(tlvs) {
			return nil
		}
		if len(tlvs) < 8 {
			h.Truncated = true
			return nil
		}
		typ, size := tlvs[0], int(tlvs[1])*8
		if size == 0 {
			return errTLV
		}
		value := tlvs[8:min(size, len(tlvs))]
		cut := size > len(tlvs)
		switch typ {
		case 1:
			h.setHostName(value)
		case 2:
			h.addIP(value)
		}
		if cut {
			// Either the snaplen cut it (the caller sees the capture was
			// short) or the TLV lies about its length.
			h.Truncated = true
			return nil
		}
		tlvs = tlvs[size:]
	}
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// setHostName converts a NUL-terminated UTF-16LE name into h.hostName,
// dropping what does not fit.
func (h *Heartbeat) setHostName(v []byte) {
	out := h.hostName[:0]
	for i := 0; i+1 < len(v); i += 2 {
		r := rune(binary.LittleEndian.Uint16(v[i:]))
		if r == 0 {
			break
		}
		if utf16.IsSurrogate(r) && i+3 < len(v) {
			r = utf16.DecodeRune(r, rune(binary.LittleEndian.Uint16(v[i+2:])))
			i += 2
		}
		if len(out)+utf8.RuneLen(r) > cap(out) || utf8.RuneLen(r) < 0 {
			break
		}
		out = utf8.AppendRune(out, r)
	}
	h.nameLen = len(out)
}

func (h *Heartbeat) addIP(v []byte) {
	if len(v) < 2 || h.NumIPs == len(h.IPs) {
		return
	}
	switch binary.LittleEndian.Uint16(v) {
	case 2:
		if len(v) >= 6 {
			h.IPs[h.NumIPs] = netip.AddrFrom4([4]byte(v[2:6]))
			h.NumIPs++
		}
	case 0x17:
		if len(v) >= 18 {
			h.IPs[h.NumIPs] = netip.AddrFrom16([16]byte(v[2:18]))
			h.NumIPs++
		}
	}
}

// decodeHeartbeat is the gopacket.Decoder for the packet (non-parser) path,
// so gopacket.NewPacket and tools built on it show heartbeats too.
func decodeHeartbeat(data []byte, p gopacket.PacketBuilder) error {
	h := &Heartbeat{}
	if err := h.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(h)
	return nil
}
