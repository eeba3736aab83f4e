package frame_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// sameFrame returns what differs between the fast path's frame and the
// parser's, "" when nothing nlbprobe reads does.
func sameFrame(fast, parsed *frame.Frame) string {
	var diff []string
	add := func(what string, a, b any) { diff = append(diff, what+": fast "+sprint(a)+", parser "+sprint(b)) }
	if fast.Kind != parsed.Kind {
		add("kind", fast.Kind, parsed.Kind)
	}
	if fast.Status != parsed.Status || fast.Reason != parsed.Reason {
		add("status", []any{fast.Status, fast.Reason}, []any{parsed.Status, parsed.Reason})
	}
	if errText(fast.Err) != errText(parsed.Err) {
		add("error", errText(fast.Err), errText(parsed.Err))
	}
	if fast.Src != parsed.Src || fast.Dst != parsed.Dst || fast.DstKnown != parsed.DstKnown || fast.PacketType != parsed.PacketType {
		add("link", []any{fast.Src, fast.Dst, fast.DstKnown}, []any{parsed.Src, parsed.Dst, parsed.DstKnown})
	}
	if fast.Encap != parsed.Encap || fast.Len != parsed.Len {
		add("encapsulation", []any{fast.Encap, fast.Len}, []any{parsed.Encap, parsed.Len})
	}
	if fast.VLAN != parsed.VLAN || fast.Tags != parsed.Tags || fast.EtherType != parsed.EtherType {
		add("tags", []any{fast.VLAN, fast.Tags, fast.EtherType}, []any{parsed.VLAN, parsed.Tags, parsed.EtherType})
	}
	if (parsed.Kind == frame.KindIPv4 || parsed.Kind == frame.KindIGMP) && fast.IPv4 != parsed.IPv4 {
		add("ipv4", fast.IPv4, parsed.IPv4)
	}
	if parsed.Kind == frame.KindARP && fast.ARP != parsed.ARP {
		add("arp", fast.ARP, parsed.ARP)
	}
	if (fast.IGMP == nil) != (parsed.IGMP == nil) || (fast.Heartbeat == nil) != (parsed.Heartbeat == nil) {
		add("layers", []any{fast.IGMP != nil, fast.Heartbeat != nil}, []any{parsed.IGMP != nil, parsed.Heartbeat != nil})
	}
	return strings.Join(diff, "; ")
}

func sprint(v any) string { return fmt.Sprintf("%+v", v) }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// comparer decodes frames with the fast paths on and off and fails on any
// difference; it counts the frames each fast path took.
type comparer struct {
	fast, parser     *frame.Decoder
	plain, afterLink int
	all              int
}

func newComparer() *comparer {
	return &comparer{fast: frame.NewDecoder(), parser: frame.NewParserDecoder()}
}

func (c *comparer) check(t testing.TB, name string, data []byte, wireLen int) {
	t.Helper()
	c.all++
	if c.fast.DecodedPlain(data, wireLen) {
		c.plain++
	}
	if c.fast.AfterLink(data) {
		c.afterLink++
	}
	f := c.fast.Decode(layers.LinkTypeEthernet, data, wireLen)
	p := c.parser.Decode(layers.LinkTypeEthernet, data, wireLen)
	if d := sameFrame(f, p); d != "" {
		t.Fatalf("%s (%d of %d bytes captured, % x): %s", name, len(data), wireLen, data[:min(len(data), 48)], d)
	}
	if d := sameLayers(f, p); d != "" {
		t.Fatalf("%s (%d of %d bytes captured, % x): %s", name, len(data), wireLen, data[:min(len(data), 48)], d)
	}
}

// variants checks a frame, every prefix of it (cut by a snaplen, and
// captured whole but short), and copies with the header fields the fast
// path reads changed, so that each of its bail-outs meets the parser.
func (c *comparer) variants(t testing.TB, name string, data []byte, wireLen int) {
	t.Helper()
	c.check(t, name, data, wireLen)
	for n := range len(data) {
		c.check(t, name+" cut", data[:n], wireLen)
		c.check(t, name+" short", data[:n], n)
	}
	// Offsets of the ethertype, the tags and the IPv4 header for 0, 1 and
	// 2 tags; values that matter at each.
	mutate := func(off int, vals ...byte) {
		for _, v := range vals {
			if off < len(data) {
				m := bytes.Clone(data)
				m[off] = v
				c.check(t, name+" mutated", m, wireLen)
				c.check(t, name+" mutated whole", m, len(m))
			}
		}
	}
	for _, base := range []int{12, 16, 20} {
		mutate(base, 0x00, 0x05, 0x08, 0x81, 0x88, 0x86, 0xbf)
		mutate(base+1, 0x00, 0x06, 0x00, 0xa8, 0x6f, 0xdd, 0x01)
		ip := base + 2
		mutate(ip, 0x45, 0x46, 0x44, 0x4f, 0x55, 0x05, 0x65)
		mutate(ip+2, 0x00, 0x01, 0xff)
		mutate(ip+3, 0x00, 0x13, 0x14, 0x28, 0xff)
		mutate(ip+6, 0x20, 0x40, 0x00, 0x3f)
		mutate(ip+9, 1, 2, 4, 6, 17, 41, 43, 44, 47, 50, 58, 97, 103, 255)
	}
}

// TestPlainTagTypes pins what decodePlain assumes of gopacket's tables:
// exactly 0x8100 and 0x88a8 are 802.1Q tags, and 0x0800 is IPv4.
func TestPlainTagTypes(t *testing.T) {
	for et := range 1 << 16 {
		isTag := layers.EthernetType(et).LayerType() == layers.LayerTypeDot1Q
		if isTag != (et == 0x8100 || et == 0x88a8) {
			t.Errorf("gopacket decodes ethertype %#04x as a tag: %v", et, isTag)
		}
	}
	if layers.EthernetTypeIPv4.LayerType() != layers.LayerTypeIPv4 {
		t.Errorf("0x0800 is %v", layers.EthernetTypeIPv4.LayerType())
	}
}

// TestDecodePlainMatchesParser compares the fast path with the parser on
// the benchmark mix, the shared corpus and built frames with their cut and
// mutated variants, and checks that the fast path takes the frames it is
// for.
func TestDecodePlainMatchesParser(t *testing.T) {
	t.Run("mixed capture", func(t *testing.T) {
		var buf bytes.Buffer
		if err := fixtures.WriteMixed(&buf, 20000, 7); err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		var recs []record
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, record{data, ci.Length, r.LinkType()})
		}
		c := newComparer()
		for i, r := range recs {
			c.check(t, "frame "+strconv.Itoa(i+1), r.data, r.wireLen)
		}
		// TCP and UDP are 80% of the mix (fixtures.MixedClientPct +
		// MixedOtherPct); all of them must take the fast path.
		if share := float64(c.plain) / float64(c.all); share < 0.78 {
			t.Errorf("fast path took %d of %d frames (%.0f%%), want about 80%%", c.plain, c.all, 100*share)
		}
		// ARP, IGMP and heartbeats: the parser starts after the link.
		if share := float64(c.afterLink) / float64(c.all); share < 0.18 {
			t.Errorf("parser after the link header for %d of %d frames (%.0f%%), want about 20%%", c.afterLink, c.all, 100*share)
		}
		// A few of each kind, with every variant.
		seen := map[frame.Kind]int{}
		d := frame.NewParserDecoder()
		for i, r := range recs {
			k := d.Decode(r.link, r.data, r.wireLen).Kind
			if seen[k] < 3 {
				seen[k]++
				c.variants(t, "frame "+strconv.Itoa(i+1), r.data, r.wireLen)
			}
		}
	})
	t.Run("built frames", func(t *testing.T) {
		ip := func(proto byte, total int, extra int) []byte {
			b := make([]byte, 20+extra)
			b[0] = 0x45
			binary.BigEndian.PutUint16(b[2:], uint16(total))
			b[8], b[9] = 64, proto
			copy(b[12:], []byte{10, 0, 0, 1})
			copy(b[16:], []byte{10, 0, 0, 2})
			return b
		}
		nic := addr.MAC{0, 1, 2, 3, 4, 5}
		cluster := addr.MAC{0x01, 0x00, 0x5e, 0x7f, 3, 232}
		c := newComparer()
		frames := map[string][]byte{
			"tcp":                ethernet(cluster, nic, 0x0800, ip(6, 40, 20)),
			"udp in a tag":       tag(0x8100, 7, ethernet(cluster, nic, 0x0800, ip(17, 28, 8))),
			"udp in QinQ":        tag(0x88a8, 300, tag(0x8100, 7, ethernet(cluster, nic, 0x0800, ip(17, 28, 8)))),
			"tso length 0":       ethernet(cluster, nic, 0x0800, ip(6, 0, 20)),
			"padded":             ethernet(cluster, nic, 0x0800, ip(6, 40, 40)),
			"length past data":   ethernet(cluster, nic, 0x0800, ip(6, 1500, 20)),
			"header only":        ethernet(cluster, nic, 0x0800, ip(6, 20, 0)),
			"ipv6":               ethernet(addr.Broadcast, nic, 0x86dd, make([]byte, 40)),
			"lldp":               ethernet(addr.MAC{1, 0x80, 0xc2, 0, 0, 0xe}, nic, 0x88cc, make([]byte, 30)),
			"igmp":               igmpFrame(withChecksum([]byte{0x16, 0, 0, 0, 239, 255, 0, 50})),
			"ipip":               ethernet(cluster, nic, 0x0800, append(ip(4, 40, 0), ip(6, 20, 0)...)),
			"arp":                ethernet(addr.Broadcast, nic, 0x0806, make([]byte, 28)),
			"heartbeat":          ethernet(addr.Broadcast, nic, 0x886f, membership(1, [4]byte{10, 0, 0, 50}, [4]byte{10, 0, 0, 1})),
			"802.3 length":       ethernet(addr.Broadcast, nic, 0x0026, make([]byte, 38)),
			"three tags":         tag(0x8100, 1, tag(0x8100, 2, tag(0x8100, 3, ethernet(cluster, nic, 0x0800, ip(6, 40, 20))))),
			"fragment":           ethernet(cluster, nic, 0x0800, func() []byte { b := ip(17, 40, 20); b[6] = 0x20; return b }()),
			"ip options":         ethernet(cluster, nic, 0x0800, func() []byte { b := ip(6, 44, 24); b[0] = 0x46; return b }()),
			"version 6 in 0x800": ethernet(cluster, nic, 0x0800, func() []byte { b := ip(6, 40, 20); b[0] = 0x65; return b }()),
		}
		for name, data := range frames {
			c.variants(t, name, data, len(data))
			c.variants(t, name+" on a longer wire", data, len(data)+100)
		}
	})
	t.Run("shared corpus", func(t *testing.T) {
		c := newComparer()
		forEachCorpusFrame(t, func(name string, r record) {
			if r.link == layers.LinkTypeEthernet {
				c.check(t, name, r.data, r.wireLen)
			}
		})
		if c.plain < 1000 {
			t.Errorf("fast path took only %d of %d corpus frames", c.plain, c.all)
		}
	})
}

// FuzzDecodePlain compares the fast path with the parser on arbitrary
// Ethernet frames, captured whole and cut by a snaplen.
func FuzzDecodePlain(f *testing.F) {
	seedFrames(f)
	f.Add(ethernet(addr.MAC{3, 0xbf, 10, 0, 0, 50}, addr.MAC{0, 1, 2, 3, 4, 5}, 0x0800,
		append([]byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 1, 1, 1, 10, 0, 0, 50}, make([]byte, 20)...)))
	f.Add(tag(0x8100, 9, ethernet(addr.MAC{3, 0xbf, 10, 0, 0, 50}, addr.MAC{0, 1, 2, 3, 4, 5}, 0x0800,
		[]byte{0x45, 0, 0, 0, 0, 0, 0x20, 0, 64, 17, 0, 0, 10, 1, 1, 1, 10, 0, 0, 50})))
	c := newComparer()
	f.Fuzz(func(t *testing.T, data []byte) {
		c.check(t, "fuzzed", data, len(data))
		c.check(t, "fuzzed cut", data, len(data)+100)
	})
}
