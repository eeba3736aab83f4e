package frame

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
)

// The layers after an Ethernet header and its tags that nlbprobe analyzes
// (ARP, IPv4 with IGMP, NLB heartbeats) are decoded here by hand: the
// fields are read in place from the frame's bytes, with no interface call,
// copy or allocation. This is the path of every ARP, IGMP and heartbeat
// frame, a fifth of a span port's frames, where gopacket's
// DecodingLayerParser (an interface call per layer, a layer struct filled
// with slices, errors built with fmt) took about half of the frame's
// analysis.
//
// gopacket stays the reference: each function below does what its layer's
// DecodeFromBytes does and what the parser does between layers (stop at an
// empty payload, at a layer it has no decoder for), including the text of
// every error, which reaches the malformed-frame findings. The decoder
// without fast paths (fullParse) still runs the parser, and the
// differential tests (TestHandDecodersMatchParser, FuzzHandDecoders)
// compare the two on every frame they have.

// etherLayer says which hand decoder reads what follows an ethertype.
type etherLayer uint8

const (
	etherNone etherLayer = iota
	etherARP
	etherIPv4
	etherHeartbeat
)

// afterLink returns the hand decoder of ethertype et: ARP, IPv4 (and
// 0xFFFF, which gopacket's table also hands to IPv4, for raw IP) and the
// two NLB ethertypes, the ones gopacket's table hands to the ARP, IPv4 and
// heartbeat layers (TestAfterLinkTypes pins that).
func afterLink(et uint16) etherLayer {
	switch et {
	case uint16(layers.EthernetTypeARP):
		return etherARP
	case uint16(layers.EthernetTypeIPv4), uint16(layers.EthernetTypeRaw):
		return etherIPv4
	case uint16(EtherTypeNLB), uint16(EtherTypeNLBOld):
		return etherHeartbeat
	}
	return etherNone
}

// ipLayer says what the parser decodes after an IPv4 header of a given
// protocol.
type ipLayer uint8

const (
	ipNone    ipLayer = iota // no decoder: the parser stops quietly
	ipIGMP                   // IGMP (2)
	ipIPv4                   // IPv4 in IPv4 (4, and 94 in gopacket's table)
	ipPayload                // gopacket.Payload (59, no next header): nothing to read
)

// ipNextLayers maps each IPv4 protocol to what the parser decodes after
// it, read from gopacket's table (IPProtocol.LayerType) by NewDecoder.
func ipNextLayers() (next [256]ipLayer) {
	for p := range next {
		switch t := layers.IPProtocol(p).LayerType(); {
		case layers.LayerClassIPv6Extension.Contains(t):
			// layers.IPv4.NextLayerType ends decoding at these.
		case t == layers.LayerTypeIGMP:
			next[p] = ipIGMP
		case t == layers.LayerTypeIPv4:
			next[p] = ipIPv4
		case t == gopacket.LayerTypePayload:
			next[p] = ipPayload
		}
	}
	return next
}

// layerError is a decode error with gopacket's text, built only when it
// is printed: the Decoder keeps one and a Frame points at it, so a
// malformed frame costs no allocation (Frame.Err is valid until the next
// Decode, as everything in a Frame).
type layerError struct {
	format string
	args   [2]int
	n      int
}

func (e *layerError) Error() string {
	switch e.n {
	case 0:
		return e.format
	case 1:
		return fmt.Sprintf(e.format, e.args[0])
	}
	return fmt.Sprintf(e.format, e.args[0], e.args[1])
}

// fail sets the decoder's error to format with args (at most two) and
// returns it.
func (d *Decoder) fail(format string, args ...int) error {
	e := &d.err
	e.format, e.n = format, copy(e.args[:], args)
	return e
}

// decodeAfterLink decodes data, what follows the link header (whose
// ethertype has a hand decoder, l), into f: what the parser started at
// the ARP, IPv4 or heartbeat layer would give. truncated is the parser's
// Truncated (a layer ran out of bytes), which only matters without an
// error; on an error, reason is the layer at fault.
func (d *Decoder) decodeAfterLink(f *Frame, l etherLayer, data []byte) (truncated bool, reason Reason, err error) {
	switch l {
	case etherARP:
		return false, ReasonARP, d.decodeARP(f, data)
	case etherIPv4:
		return d.decodeIPv4(f, data)
	}
	return d.decodeHeartbeat(f, data)
}

// decodeARP is layers.ARP.DecodeFromBytes and what take makes of it.
//
// ARP (RFC 826): hardware type 0-1, protocol type 2-3, hardware and
// protocol address sizes 4 and 5, opcode 6-7, then sender hardware and
// protocol address, target hardware and protocol address.
func (d *Decoder) decodeARP(f *Frame, data []byte) error {
	if len(data) < 8 {
		return d.fail("ARP length %d too short", len(data))
	}
	hw, proto := int(data[4]), int(data[5])
	if n := 8 + 2*hw + 2*proto; len(data) < n {
		return d.fail("ARP length %d too short, %d expected", len(data), n)
	}
	if binary.BigEndian.Uint16(data[0:]) != uint16(layers.LinkTypeEthernet) ||
		binary.BigEndian.Uint16(data[2:]) != uint16(layers.EthernetTypeIPv4) || hw != 6 || proto != 4 {
		f.Kind = KindARPOther
		return nil
	}
	// 28 bytes: the sizes say so.
	f.Kind = KindARP
	a := &f.ARP
	a.Op = binary.BigEndian.Uint16(data[6:])
	a.SenderMAC = addr.MAC(data[8:14])
	a.SenderIP = netip.AddrFrom4([4]byte(data[14:18]))
	a.TargetMAC = addr.MAC(data[18:24])
	a.TargetIP = netip.AddrFrom4([4]byte(data[24:28]))
	// The parser would decode what follows as a Payload layer, which
	// tells nothing.
	return nil
}

// decodeIPv4 is layers.IPv4.DecodeFromBytes and the layers the parser
// decodes after it: IGMP, or IPv4 again (IP in IP), each taken into f as
// take does.
//
// IPv4 (RFC 791): version and IHL 0, total length 2-3, flags (3 bits) and
// fragment offset (13) 6-7, protocol 9, source 12-15, destination 16-19,
// options up to IHL*4.
func (d *Decoder) decodeIPv4(f *Frame, data []byte) (truncated bool, reason Reason, err error) {
	for {
		if len(data) < 20 {
			return false, ReasonIPv4, d.fail("Invalid ip4 header. Length %d less than 20", len(data))
		}
		length := int(binary.BigEndian.Uint16(data[2:]))
		ihl := int(data[0] & 0x0f)
		if length == 0 {
			// TSO: the length is the data's.
			length = len(data)
		}
		switch {
		case length < 20:
			return truncated, ReasonIPv4, d.fail("Invalid (too small) IP length (%d < 20)", length)
		case ihl < 5:
			return truncated, ReasonIPv4, d.fail("Invalid (too small) IP header length (%d < 5)", ihl)
		case ihl*4 > length:
			return truncated, ReasonIPv4, d.fail("Invalid IP header length > IP length (%d > %d)", ihl, length)
		}
		if len(data) > length {
			data = data[:length]
		} else if len(data) < length {
			truncated = true
			if ihl*4 > len(data) {
				return truncated, ReasonIPv4, d.fail("Not all IP header bytes available")
			}
		}
		if ihl > 5 {
			if err := d.checkIPv4Options(data[20 : ihl*4]); err != nil {
				return truncated, ReasonIPv4, err
			}
		}
		f.Kind = KindIPv4
		f.IPv4.Src = netip.AddrFrom4([4]byte(data[12:16]))
		f.IPv4.Dst = netip.AddrFrom4([4]byte(data[16:20]))
		f.IPv4.Protocol = layers.IPProtocol(data[9])
		payload := data[ihl*4:]
		// A fragment's payload is gopacket's Fragment layer, for which
		// the parser has no decoder; an empty payload ends decoding.
		moreFragments, offset := data[6]&0x20 != 0, binary.BigEndian.Uint16(data[6:])&0x1fff
		if len(payload) == 0 || moreFragments || offset != 0 {
			return truncated, ReasonNone, nil
		}
		switch d.ipNext[data[9]] {
		case ipIGMP:
			if err := d.igmp.decode(payload); err != nil {
				return truncated, ReasonIGMP, err
			}
			f.Kind = KindIGMP
			f.IGMP = &d.igmp
			return truncated, ReasonNone, nil
		case ipIPv4:
			data = payload
			continue
		}
		return truncated, ReasonNone, nil
	}
}

// checkIPv4Options walks IPv4 options as layers.IPv4.DecodeFromBytes does,
// for its errors only: nlbprobe reads no option.
//
// Options (RFC 791 3.1): type 0 ends the list, type 1 is one byte of
// padding, any other is type, length (of the whole option, at least 2) and
// data.
func (d *Decoder) checkIPv4Options(opts []byte) error {
	for len(opts) > 0 {
		switch typ := int(opts[0]); typ {
		case 0:
			return nil
		case 1:
			opts = opts[1:]
		default:
			if len(opts) < 2 {
				return d.fail("Invalid ip4 option length. Length %d less than 2", len(opts))
			}
			n := int(opts[1])
			if len(opts) < n {
				return d.fail("IP option length exceeds remaining IP header size, option type %v length %v", typ, n)
			}
			if n < 2 {
				return d.fail("Invalid IP option type %v length %d. Must be at least 2", typ, n)
			}
			opts = opts[n:]
		}
	}
	return nil
}

// decodeHeartbeat is Heartbeat.DecodeFromBytes and what take makes of it.
func (d *Decoder) decodeHeartbeat(f *Frame, data []byte) (truncated bool, reason Reason, err error) {
	h := &d.hb
	if err := h.decode(data); err != nil {
		return h.Truncated, ReasonHeartbeat, err
	}
	f.Heartbeat = h
	f.Kind = KindHeartbeat
	if h.Kind == HeartbeatUnknown {
		f.Kind = KindNLBUnknown
	}
	return h.Truncated, ReasonNone, nil
}
