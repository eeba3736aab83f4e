// Package frame decodes the frames nlbprobe cares about, in place and
// without allocating: Ethernet or Linux cooked (SLL, SLL2) link headers, one
// or two 802.1Q/802.1ad tags, ARP, IPv4, IGMP v1/v2/v3 and NLB heartbeats
// (ethertype 0x886F, and 0xBF01 of very old versions). A frame mirrored by
// a remote span, inside ERSPAN type I, II or III (GRE) or VXLAN over IPv4
// or IPv6, decodes to the mirrored frame, with the session in its VLAN
// (tunnel.go reads those headers by hand, in place).
//
// The frames of a span port's hot path, Ethernet with up to two tags and
// then IPv4 (plain, or with IGMP) or ARP or an NLB heartbeat, are read by
// hand, in place, with no interface call and no allocation (decodePlain,
// afterlink.go). Everything else (Linux cooked captures, a third tag, an
// 802.3 length...) goes through gopacket's DecodingLayerParser with
// preallocated layers, plus three DecodingLayers of its own: Heartbeat
// (gopacket has none for NLB), IGMP (gopacket splits v1/v2 and v3 into two
// layers that claim the same layer type, and its v3 decoder appends to
// slices) and a VLAN tag stack that keeps both tags of a QinQ frame. That
// parser is also the reference of the hand decoders: the tests decode every
// frame they have both ways (NewParserDecoder) and fail on any difference.
//
// A Decoder is not safe for concurrent use; what Decode returns is valid
// until the next call.
package frame
