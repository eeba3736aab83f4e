package frame_test

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// plainChecker compares DecodePlain with Decode: DecodePlain must take
// exactly the frames Decode's plain fast path decodes, and give the same
// Frame.
type plainChecker struct {
	dec, ref  *frame.Decoder
	plain     int
	plainIPv4 int // frames PlainIPv4 took
	deep      int // frames Deep took
}

func newPlainChecker() *plainChecker {
	return &plainChecker{dec: frame.NewDecoder(), ref: frame.NewDecoder()}
}

func (c *plainChecker) check(t testing.TB, name string, lt layers.LinkType, data []byte, wireLen int) {
	t.Helper()
	if lt == layers.LinkTypeEthernet {
		c.checkPlainIPv4(t, name, data, wireLen)
	}
	got, ok := c.dec.DecodePlain(lt, data, wireLen)
	want := lt == layers.LinkTypeEthernet && c.ref.DecodedPlain(data, wireLen)
	if ok != want {
		t.Fatalf("%s (% x): DecodePlain %v, plain fast path %v", name, data[:min(len(data), 48)], ok, want)
	}
	if lt == layers.LinkTypeEthernet && frame.Deep(data) {
		c.deep++
		if ok || frame.MayCarryFrame(data) {
			t.Fatalf("%s (% x): Deep, yet DecodePlain %v, MayCarryFrame %v", name, data[:min(len(data), 48)], ok, frame.MayCarryFrame(data))
		}
	}
	if !ok {
		return
	}
	c.plain++
	if d := sameFrame(got, c.ref.Decode(lt, data, wireLen)); d != "" {
		t.Fatalf("%s (% x): DecodePlain and Decode differ: %s", name, data[:min(len(data), 48)], d)
	}
}

// checkPlainIPv4 checks what PlainIPv4 promises of a frame it takes
// against Decode, and that DecodePlain takes it too.
func (c *plainChecker) checkPlainIPv4(t testing.TB, name string, data []byte, wireLen int) {
	t.Helper()
	ipOff, vlan, ok := c.dec.PlainIPv4(data, wireLen)
	if !ok {
		return
	}
	c.plainIPv4++
	if _, plain := c.ref.DecodePlain(layers.LinkTypeEthernet, data, wireLen); !plain {
		t.Fatalf("%s (% x): PlainIPv4 takes it, DecodePlain does not", name, data[:min(len(data), 48)])
	}
	f := c.ref.Decode(layers.LinkTypeEthernet, data, wireLen)
	want := frame.Frame{Kind: frame.KindIPv4, Status: frame.OK, DstKnown: true,
		Dst: addr.MAC(data[0:6]), Src: addr.MAC(data[6:12]), EtherType: layers.EthernetTypeIPv4}
	if len(data) < wireLen {
		want.Status = frame.Truncated
	}
	if ipOff == 18 {
		want.Tags, want.VLAN = 1, frame.MakeVLAN(binary.BigEndian.Uint16(data[14:])&0x0fff, 0)
	}
	want.IPv4.Src = netip.AddrFrom4([4]byte(data[ipOff+12:]))
	want.IPv4.Dst = netip.AddrFrom4([4]byte(data[ipOff+16:]))
	want.IPv4.Protocol = layers.IPProtocol(data[ipOff+9])
	if f.Kind != want.Kind || f.Status != want.Status || f.Reason != frame.ReasonNone || f.Err != nil ||
		f.DstKnown != want.DstKnown || f.Dst != want.Dst || f.Src != want.Src || f.EtherType != want.EtherType ||
		f.Tags != want.Tags || f.VLAN != want.VLAN || vlan != f.VLAN || f.IPv4 != want.IPv4 {
		t.Fatalf("%s (% x): PlainIPv4 at %d promises %+v, Decode gives %+v", name, data[:min(len(data), 48)], ipOff, want, *f)
	}
}

// TestDecodePlainIsDecode checks DecodePlain against Decode on the mixed
// capture and each of its frames cut short, and on the shared corpus.
func TestDecodePlainIsDecode(t *testing.T) {
	t.Run("mixed capture", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mixed.pcap")
		if err := fixtures.WriteMixedFile(path, 5000, 11); err != nil {
			t.Fatal(err)
		}
		c := newPlainChecker()
		for i, r := range testcapture.MustRead(t, path) {
			name := "frame " + strconv.Itoa(i+1)
			c.check(t, name, r.LinkType, r.Data, r.WireLen)
			c.check(t, name+" as SLL", layers.LinkTypeLinuxSLL, r.Data, r.WireLen)
			for n := range len(r.Data) {
				c.check(t, name+" cut", r.LinkType, r.Data[:n], r.WireLen)
				c.check(t, name+" short", r.LinkType, r.Data[:n], n)
			}
		}
		if c.plain == 0 || c.plainIPv4 == 0 || c.deep == 0 {
			t.Fatalf("frames that took the plain path: %d, PlainIPv4: %d, Deep: %d", c.plain, c.plainIPv4, c.deep)
		}
	})
	t.Run("shared corpus", func(t *testing.T) {
		c := newPlainChecker()
		forEachCorpusFrame(t, func(name string, r record) { c.check(t, name, r.link, r.data, r.wireLen) })
		if c.plain < 1000 || c.plainIPv4 < 1000 {
			t.Errorf("DecodePlain took only %d corpus frames, PlainIPv4 %d", c.plain, c.plainIPv4)
		}
	})
}

// FuzzDecodePlainIsDecode compares DecodePlain with Decode on arbitrary
// Ethernet frames, captured whole and cut by a snaplen.
func FuzzDecodePlainIsDecode(f *testing.F) {
	seedFrames(f)
	c := newPlainChecker()
	f.Fuzz(func(t *testing.T, data []byte) {
		c.check(t, "fuzzed", layers.LinkTypeEthernet, data, len(data))
		c.check(t, "fuzzed cut", layers.LinkTypeEthernet, data, len(data)+100)
	})
}

// TestDeep checks that Deep takes the frames it is for: the ARP, IGMP and
// heartbeats of the benchmark mix, all but none, and nothing else.
func TestDeep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	if err := fixtures.WriteMixedFile(path, 20000, 5); err != nil {
		t.Fatal(err)
	}
	d := frame.NewParserDecoder()
	kinds := map[frame.Kind][2]int{} // frames of each kind: all, taken by Deep
	for _, r := range testcapture.MustRead(t, path) {
		k := d.Decode(r.LinkType, r.Data, r.WireLen).Kind
		n := kinds[k]
		n[0]++
		if frame.Deep(r.Data) {
			n[1]++
		}
		kinds[k] = n
	}
	for k, n := range kinds {
		switch k {
		case frame.KindARP, frame.KindIGMP, frame.KindHeartbeat:
			if n[0] == 0 || n[1] != n[0] {
				t.Errorf("%v: Deep took %d of %d", k, n[1], n[0])
			}
		default:
			if n[1] != 0 {
				t.Errorf("%v: Deep took %d of %d", k, n[1], n[0])
			}
		}
	}
}
