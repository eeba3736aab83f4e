package capture

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
)

// ErrUnsupported is returned by the prober and the route lookup on
// platforms other than Linux.
var ErrUnsupported = errors.New("capture: not supported on this platform")

// PrivilegeHint is what to do when opening the raw ICMP socket is refused.
const PrivilegeHint = "run as root or `setcap cap_net_raw+ep ./nlbprobe`"

// Header sizes that an echo request's IP packet size includes.
const (
	ipv4Header = 20 // no options: the kernel adds none to our probes
	ipv6Header = 40 // no extension headers
	echoHeader = 8  // type, code, checksum, identifier, sequence
)

// DefaultRate is the default bound on probes per second over a whole
// Prober, whatever the number of targets.
const DefaultRate = 200

// ProberConfig sets up a Prober.
type ProberConfig struct {
	// Rate bounds probes per second over all sessions (a token bucket with
	// a burst of Rate/10, at least 1). Zero means DefaultRate.
	Rate float64
}

// MinProbeSize returns the smallest IP packet an echo request can be for
// the family of target: the IP and ICMP headers.
func MinProbeSize(target netip.Addr) int {
	if target.Is4() {
		return ipv4Header + echoHeader
	}
	return ipv6Header + echoHeader
}

// echoRequest builds an ICMP or ICMPv6 echo request whose IP packet is size
// bytes long. The ICMPv6 checksum is left to the kernel, which fills it in
// on raw ICMPv6 sockets (RFC 3542 section 3.1).
func echoRequest(v6 bool, id, seq uint16, size int) ([]byte, error) {
	var typ icmp.Type = ipv4.ICMPTypeEcho
	payload := size - ipv4Header - echoHeader
	if v6 {
		typ = ipv6.ICMPTypeEchoRequest
		payload = size - ipv6Header - echoHeader
	}
	if payload < 0 {
		return nil, errors.New("capture: probe size below the IP and ICMP headers")
	}
	data := make([]byte, payload)
	for i := range data {
		// A varying pattern, so that no link compresses the probe smaller
		// than it is.
		data[i] = byte(i*7 + 0x41)
	}
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(id), Seq: int(seq), Data: data}}
	return m.Marshal(nil)
}

// icmpEvent is one ICMP message that may answer a probe: an echo reply, or
// an error that quotes one of our echo requests.
type icmpEvent struct {
	kind    pathmtu.OutcomeKind // Reply, TooBig or Unreachable
	id, seq uint16
	mtu     int        // next-hop MTU of a TooBig, 0 if not given
	from    netip.Addr // the sender of the message
	target  netip.Addr // whom the probe was for: the replier, or the quoted destination
	at      time.Time  // when it was read
}

// parseICMP reads an ICMP (v6 false) or ICMPv6 message b, without its IP
// header, received from from. It reports false for anything that cannot
// answer an echo request: other types, and errors that do not quote an echo
// request. It never panics on short or malformed input.
func parseICMP(v6 bool, b []byte, from netip.Addr) (icmpEvent, bool) {
	if len(b) < echoHeader {
		return icmpEvent{}, false
	}
	ev := icmpEvent{from: from.Unmap()}
	typ, code := b[0], b[1]
	if !v6 {
		switch typ {
		case 0: // echo reply
			if code != 0 {
				return icmpEvent{}, false
			}
			ev.kind, ev.target = pathmtu.Reply, ev.from
			ev.id, ev.seq = binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])
			return ev, true
		case 3: // destination unreachable; code 4 is fragmentation needed (RFC 1191)
			ev.kind = pathmtu.Unreachable
			if code == 4 {
				ev.kind, ev.mtu = pathmtu.TooBig, int(binary.BigEndian.Uint16(b[6:]))
			}
			return quotedIPv4Echo(ev, b[8:])
		}
		return icmpEvent{}, false
	}
	switch typ {
	case 129: // echo reply
		if code != 0 {
			return icmpEvent{}, false
		}
		ev.kind, ev.target = pathmtu.Reply, ev.from
		ev.id, ev.seq = binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])
		return ev, true
	case 1: // destination unreachable
		ev.kind = pathmtu.Unreachable
		return quotedIPv6Echo(ev, b[8:])
	case 2: // packet too big (RFC 8201), the MTU is 32 bits
		ev.kind, ev.mtu = pathmtu.TooBig, int(min(binary.BigEndian.Uint32(b[4:]), 1<<20))
		return quotedIPv6Echo(ev, b[8:])
	}
	return icmpEvent{}, false
}

// quotedIPv4Echo fills ev from the datagram an ICMP error quotes: an IPv4
// header and at least the first 8 bytes of our echo request.
func quotedIPv4Echo(ev icmpEvent, q []byte) (icmpEvent, bool) {
	if len(q) < ipv4Header || q[0]>>4 != 4 {
		return icmpEvent{}, false
	}
	ihl := int(q[0]&0x0f) * 4
	if ihl < ipv4Header || len(q) < ihl+echoHeader || q[9] != 1 {
		return icmpEvent{}, false
	}
	e := q[ihl:]
	if e[0] != 8 { // echo request
		return icmpEvent{}, false
	}
	ev.target = netip.AddrFrom4([4]byte(q[16:20]))
	ev.id, ev.seq = binary.BigEndian.Uint16(e[4:]), binary.BigEndian.Uint16(e[6:])
	return ev, true
}

// quotedIPv6Echo is quotedIPv4Echo for ICMPv6: an IPv6 header with no
// extension headers (we send none) and our echo request.
func quotedIPv6Echo(ev icmpEvent, q []byte) (icmpEvent, bool) {
	if len(q) < ipv6Header+echoHeader || q[0]>>4 != 6 || q[6] != 58 {
		return icmpEvent{}, false
	}
	e := q[ipv6Header:]
	if e[0] != 128 { // echo request
		return icmpEvent{}, false
	}
	ev.target = netip.AddrFrom16([16]byte(q[24:40]))
	ev.id, ev.seq = binary.BigEndian.Uint16(e[4:]), binary.BigEndian.Uint16(e[6:])
	return ev, true
}
