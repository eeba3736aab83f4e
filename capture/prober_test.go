package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
)

var (
	target  = netip.MustParseAddr("10.0.2.2")
	router  = netip.MustParseAddr("10.0.1.2")
	target6 = netip.MustParseAddr("fd00:2::2")
	router6 = netip.MustParseAddr("fd00:1::2")
)

// quoteIPv4 builds the IPv4 header plus first 8 bytes of an echo request
// that an ICMP error quotes.
func quoteIPv4(dst netip.Addr, icmpType byte, id, seq uint16) []byte {
	q := make([]byte, 28)
	q[0] = 0x45
	q[9] = 1
	copy(q[16:20], dst.AsSlice())
	q[20] = icmpType
	binary.BigEndian.PutUint16(q[24:], id)
	binary.BigEndian.PutUint16(q[26:], seq)
	return q
}

func quoteIPv6(dst netip.Addr, next, icmpType byte, id, seq uint16) []byte {
	q := make([]byte, 48)
	q[0] = 0x60
	q[6] = next
	copy(q[24:40], dst.AsSlice())
	q[40] = icmpType
	binary.BigEndian.PutUint16(q[44:], id)
	binary.BigEndian.PutUint16(q[46:], seq)
	return q
}

// icmpError builds an ICMP error: type, code, 4 bytes of rest-of-header
// (where the next-hop MTU goes) and the quote.
func icmpError(typ, code byte, rest uint32, quote []byte) []byte {
	b := make([]byte, 8, 8+len(quote))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], rest)
	return append(b, quote...)
}

func TestEchoRequestSize(t *testing.T) {
	for _, tt := range []struct {
		v6   bool
		size int
		want int // ICMP message length
	}{
		{false, 576, 556},
		{false, 9000, 8980},
		{true, 1280, 1240},
		{true, 1500, 1460},
	} {
		b, err := echoRequest(tt.v6, 0x1234, 7, tt.size)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != tt.want {
			t.Errorf("v6=%v size %d: ICMP message %d bytes, want %d", tt.v6, tt.size, len(b), tt.want)
		}
		if id, seq := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]); id != 0x1234 || seq != 7 {
			t.Errorf("id/seq %#x/%d, want 0x1234/7", id, seq)
		}
	}
	if _, err := echoRequest(false, 1, 1, 27); err == nil {
		t.Error("27-byte IPv4 probe: no error, want one")
	}
}

func TestParseICMP(t *testing.T) {
	reply := func(typ byte, id, seq uint16) []byte {
		b := make([]byte, 64)
		b[0] = typ
		binary.BigEndian.PutUint16(b[4:], id)
		binary.BigEndian.PutUint16(b[6:], seq)
		return b
	}
	tests := []struct {
		name string
		v6   bool
		b    []byte
		from netip.Addr
		want icmpEvent
		ok   bool
	}{
		{"echo reply", false, reply(0, 0x99, 3), target,
			icmpEvent{kind: pathmtu.Reply, id: 0x99, seq: 3, from: target, target: target}, true},
		{"echo request is not an answer", false, reply(8, 0x99, 3), target, icmpEvent{}, false},
		{"fragmentation needed with next-hop MTU", false, icmpError(3, 4, 1400, quoteIPv4(target, 8, 0x99, 4)), router,
			icmpEvent{kind: pathmtu.TooBig, id: 0x99, seq: 4, mtu: 1400, from: router, target: target}, true},
		{"fragmentation needed from an old router (MTU 0)", false, icmpError(3, 4, 0, quoteIPv4(target, 8, 0x99, 4)), router,
			icmpEvent{kind: pathmtu.TooBig, id: 0x99, seq: 4, from: router, target: target}, true},
		{"host unreachable", false, icmpError(3, 1, 0, quoteIPv4(target, 8, 0x99, 5)), router,
			icmpEvent{kind: pathmtu.Unreachable, id: 0x99, seq: 5, from: router, target: target}, true},
		{"error quoting a UDP datagram", false, icmpError(3, 4, 1400, append(quoteIPv4(target, 8, 1, 1)[:9], 17)), router, icmpEvent{}, false},
		{"error quoting an echo reply", false, icmpError(3, 4, 1400, quoteIPv4(target, 0, 1, 1)), router, icmpEvent{}, false},
		{"error with a cut quote", false, icmpError(3, 4, 1400, quoteIPv4(target, 8, 1, 1)[:24]), router, icmpEvent{}, false},
		{"time exceeded is not an answer", false, icmpError(11, 0, 0, quoteIPv4(target, 8, 1, 1)), router, icmpEvent{}, false},
		{"short message", false, []byte{0, 0, 0, 0}, target, icmpEvent{}, false},
		{"v4-mapped sender", false, reply(0, 1, 2), netip.AddrFrom16(target.As16()),
			icmpEvent{kind: pathmtu.Reply, id: 1, seq: 2, from: target, target: target}, true},
		{"ICMPv6 echo reply", true, reply(129, 0x42, 9), target6,
			icmpEvent{kind: pathmtu.Reply, id: 0x42, seq: 9, from: target6, target: target6}, true},
		{"ICMPv6 packet too big", true, icmpError(2, 0, 1400, quoteIPv6(target6, 58, 128, 0x42, 10)), router6,
			icmpEvent{kind: pathmtu.TooBig, id: 0x42, seq: 10, mtu: 1400, from: router6, target: target6}, true},
		{"ICMPv6 destination unreachable", true, icmpError(1, 3, 0, quoteIPv6(target6, 58, 128, 0x42, 11)), router6,
			icmpEvent{kind: pathmtu.Unreachable, id: 0x42, seq: 11, from: router6, target: target6}, true},
		{"ICMPv6 error quoting another protocol", true, icmpError(2, 0, 1400, quoteIPv6(target6, 17, 128, 1, 1)), router6, icmpEvent{}, false},
		{"ICMPv6 echo request is not an answer", true, reply(128, 1, 1), target6, icmpEvent{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseICMP(tt.v6, tt.b, tt.from)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseICMP = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParseICMP checks that no input makes the parser panic, and that what
// it accepts is self-consistent.
func FuzzParseICMP(f *testing.F) {
	f.Add(false, icmpError(3, 4, 1400, quoteIPv4(target, 8, 1, 2)))
	f.Add(true, icmpError(2, 0, 1280, quoteIPv6(target6, 58, 128, 1, 2)))
	f.Add(false, []byte{0, 0, 0, 0, 0, 1, 0, 2})
	f.Fuzz(func(t *testing.T, v6 bool, b []byte) {
		ev, ok := parseICMP(v6, b, router)
		if !ok {
			return
		}
		if !ev.target.IsValid() {
			t.Fatalf("accepted %x without a target", b)
		}
		if ev.kind != pathmtu.TooBig && ev.mtu != 0 {
			t.Fatalf("MTU %d on a %v", ev.mtu, ev.kind)
		}
	})
}
