package frame_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// The differential tests of the hand decoders (afterlink.go): every frame
// they have goes through the Decoder (hand decoders and fast paths) and
// through the oracle, the same Decoder with every frame given to gopacket's
// DecodingLayerParser from the link layer on (NewParserDecoder), and any
// difference in what the engine is told fails: the Frame's kind, status,
// reason, error text, addresses, tags, ARP and IPv4 fields, and the IGMP
// and heartbeat layers field by field (sameFrame, sameLayers).

// differ compares the Decoder with the oracle on frames, counting what
// the hand decoders took.
type differ struct {
	fast, oracle *frame.Decoder
	frames       int
	kinds        map[frame.Kind]int
	statuses     map[frame.Status]int
}

func newDiffer() *differ {
	return &differ{fast: frame.NewDecoder(), oracle: frame.NewParserDecoder(),
		kinds: map[frame.Kind]int{}, statuses: map[frame.Status]int{}}
}

// check decodes one frame of link type lt both ways.
func (c *differ) check(t testing.TB, name string, lt layers.LinkType, data []byte, wireLen int) {
	t.Helper()
	c.frames++
	f := c.fast.Decode(lt, data, wireLen)
	p := c.oracle.Decode(lt, data, wireLen)
	if d := sameFrame(f, p); d != "" {
		t.Fatalf("%s (link %v, %d of %d bytes captured, % x): %s", name, lt, len(data), wireLen, data[:min(len(data), 64)], d)
	}
	if d := sameLayers(f, p); d != "" {
		t.Fatalf("%s (link %v, %d of %d bytes captured, % x): %s", name, lt, len(data), wireLen, data[:min(len(data), 64)], d)
	}
	c.kinds[p.Kind]++
	c.statuses[p.Status]++
}

// sameLayers compares the IGMP and heartbeat layers of two frames of the
// same kind field by field, as far as they are meaningful: the group
// records decoded, the port rules and IPs captured, the host name.
func sameLayers(fast, parsed *frame.Frame) string {
	var diff []string
	if fast.IGMP != nil && parsed.IGMP != nil {
		a, b := *fast.IGMP, *parsed.IGMP
		ra, rb := a.Records[:a.RecordsDecoded], b.Records[:b.RecordsDecoded]
		if sprint(ra) != sprint(rb) {
			diff = append(diff, "igmp records: fast "+sprint(ra)+", parser "+sprint(rb))
		}
		a.BaseLayer, b.BaseLayer = layers.BaseLayer{}, layers.BaseLayer{}
		a.Records, b.Records = [frame.MaxGroupRecords]frame.GroupRecord{}, [frame.MaxGroupRecords]frame.GroupRecord{}
		if sprint(a) != sprint(b) {
			diff = append(diff, "igmp: fast "+sprint(a)+", parser "+sprint(b))
		}
	}
	if fast.Heartbeat != nil && parsed.Heartbeat != nil {
		a, b := fast.Heartbeat, parsed.Heartbeat
		if a.HostName() != b.HostName() {
			diff = append(diff, "heartbeat host name: fast "+strconv.Quote(a.HostName())+", parser "+strconv.Quote(b.HostName()))
		}
		if sprint(a.PortRules[:a.PortRulesCaptured]) != sprint(b.PortRules[:b.PortRulesCaptured]) {
			diff = append(diff, "heartbeat port rules: fast "+sprint(a.PortRules[:a.PortRulesCaptured])+
				", parser "+sprint(b.PortRules[:b.PortRulesCaptured]))
		}
		if sprint(a.IPs[:a.NumIPs]) != sprint(b.IPs[:b.NumIPs]) {
			diff = append(diff, "heartbeat IPs: fast "+sprint(a.IPs[:a.NumIPs])+", parser "+sprint(b.IPs[:b.NumIPs]))
		}
		type scalars struct {
			kind                                     frame.HeartbeatKind
			sig, version, hostID, code, handled, tea uint32
			captured, rules                          int
			truncated, header, state, allRules       bool
			cluster, dedicated                       [4]byte
			my, def, conv, numRules                  uint16
		}
		of := func(h *frame.Heartbeat) scalars {
			return scalars{h.Kind, h.Signature, h.Version, h.HostID, h.HostCode, h.PacketsHandled, h.Teaming,
				h.Captured, h.PortRulesCaptured, h.Truncated, h.HasHeader(), h.HasState(), h.HasAllPortRules(),
				h.ClusterIP, h.DedicatedIP, h.MyHostID, h.DefaultHostID, h.ConvergenceState, h.NumPortRules}
		}
		if of(a) != of(b) {
			diff = append(diff, "heartbeat: fast "+sprint(of(a))+", parser "+sprint(of(b)))
		}
	}
	return strings.Join(diff, "; ")
}

// records returns the frames of a capture file (pcap or pcapng) up to its
// first error.
func records(path string) []record { return readCaptureLenient(path) }

// fixtureCaptures returns the paths of the checked-in fixture captures
// (pcap and pcapng; the .gz copies hold the same frames).
func fixtureCaptures(t testing.TB) []string {
	t.Helper()
	var paths []string
	for _, pattern := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures", pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Fatal("no fixture captures in fixtures/captures")
	}
	return paths
}

// corpusCaptures returns the paths of every capture of the shared corpus
// (pcap and pcapng), or none when it is absent.
func corpusCaptures() []string {
	dir := filepath.Join(testcapture.ModuleRoot(), "..", "shared", "pcaps", "tcpdump-tests")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var paths []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pcap") || strings.HasSuffix(e.Name(), ".pcapng") {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	return paths
}

// mixFrames is the number of frames of the benchmark mix the differential
// tests take: the first of `gen -mixed` with seed 1, the 5M-frame bench
// file's generator.
const mixFrames = 100_000

// mixRecords returns the first n frames of the benchmark mix.
func mixRecords(t testing.TB, n int) []record {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	if err := fixtures.WriteMixedFile(path, n, 1); err != nil {
		t.Fatal(err)
	}
	return toRecords(testcapture.MustRead(t, path))
}

// TestHandDecodersMatchParser runs the differential test over every frame
// of the fixture captures, the first 100,000 frames of the benchmark mix,
// the whole shared corpus (every link type), and built frames of each kind
// the hand decoders read, each also cut short and with its header fields
// mutated (comparer.variants).
func TestHandDecodersMatchParser(t *testing.T) {
	t.Run("fixture captures", func(t *testing.T) {
		c := newDiffer()
		for _, path := range fixtureCaptures(t) {
			for i, r := range records(path) {
				c.check(t, filepath.Base(path)+" frame "+strconv.Itoa(i+1), r.link, r.data, r.wireLen)
			}
		}
		for _, k := range []frame.Kind{frame.KindARP, frame.KindIGMP, frame.KindHeartbeat} {
			if c.kinds[k] == 0 {
				t.Errorf("no %v frame in the fixtures", k)
			}
		}
	})
	t.Run("benchmark mix", func(t *testing.T) {
		c := newDiffer()
		for i, r := range mixRecords(t, mixFrames) {
			c.check(t, "frame "+strconv.Itoa(i+1), r.link, r.data, r.wireLen)
		}
		// A fifth of the mix is ARP, IGMP and heartbeats (cut by the
		// snaplen: Truncated).
		if deep := c.kinds[frame.KindARP] + c.kinds[frame.KindIGMP] + c.kinds[frame.KindHeartbeat]; deep < mixFrames/6 {
			t.Errorf("%d ARP, IGMP and heartbeat frames of %d: %v", deep, c.frames, c.kinds)
		}
	})
	t.Run("shared corpus", func(t *testing.T) {
		paths := corpusCaptures()
		if len(paths) == 0 {
			testcapture.SharedPcaps(t) // skips
		}
		c := newDiffer()
		for _, path := range paths {
			for i, r := range records(path) {
				name := filepath.Base(path) + " frame " + strconv.Itoa(i+1)
				c.check(t, name, r.link, r.data, r.wireLen)
				if r.link == layers.LinkTypeEthernet {
					c.check(t, name+" on a longer wire", r.link, r.data, r.wireLen+100)
				}
			}
		}
		t.Logf("%d corpus frames: %v %v", c.frames, c.kinds, c.statuses)
		if c.kinds[frame.KindARP] < 100 || c.kinds[frame.KindIGMP] < 100 || c.kinds[frame.KindHeartbeat] == 0 ||
			c.statuses[frame.Malformed] == 0 || c.statuses[frame.Truncated] == 0 {
			t.Errorf("corpus frames by kind %v, by status %v", c.kinds, c.statuses)
		}
	})
	t.Run("built frames", func(t *testing.T) {
		c := newComparer()
		for name, data := range handFrames() {
			c.variants(t, name, data, len(data))
			c.variants(t, name+" on a longer wire", data, len(data)+100)
		}
	})
}

// handFrames are frames of each kind and shape the hand decoders read,
// for the variants of the differential test and the fuzzer's seeds.
func handFrames() map[string][]byte {
	nic := addr.MAC{0, 1, 2, 3, 4, 5}
	cluster := [4]byte{10, 0, 0, 50}
	ipHeader := func(ihl int, proto byte, payload []byte, opts ...byte) []byte {
		b := make([]byte, 4*ihl)
		b[0] = 0x40 | byte(ihl)
		total := len(b) + len(payload)
		b[2], b[3] = byte(total>>8), byte(total)
		b[8], b[9] = 1, proto
		copy(b[12:], []byte{10, 0, 0, 1})
		copy(b[16:], []byte{239, 255, 0, 50})
		copy(b[20:], opts)
		return append(b, payload...)
	}
	report2 := withChecksum([]byte{0x16, 0, 0, 0, 239, 255, 0, 50})
	report3 := withChecksum([]byte{0x22, 0, 0, 0, 0, 0, 0, 2, 4, 0, 0, 0, 239, 255, 0, 50, 1, 0, 0, 1, 239, 255, 0, 51, 10, 0, 0, 9})
	query3 := withChecksum([]byte{0x11, 100, 0, 0, 0, 0, 0, 0, 2, 125, 0, 1, 10, 0, 0, 1})
	return map[string][]byte{
		"arp request": ethernet(addr.Broadcast, nic, 0x0806,
			arpPayload(1, nic, [4]byte{10, 0, 0, 1}, addr.MAC{}, [4]byte{10, 0, 0, 2})),
		"arp reply in QinQ": tag(0x88a8, 300, tag(0x8100, 7, ethernet(addr.Broadcast, nic, 0x0806,
			arpPayload(2, addr.MAC{2, 1, 10, 0, 0, 50}, cluster, nic, [4]byte{10, 0, 0, 2})))),
		"arp padded":            ethernet(addr.Broadcast, nic, 0x0806, append(arpPayload(1, nic, cluster, addr.MAC{}, cluster), make([]byte, 18)...)),
		"arp of another kind":   ethernet(addr.Broadcast, nic, 0x0806, []byte{0, 6, 8, 0, 6, 4, 0, 1, 1, 2, 3, 4, 5, 6, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}),
		"igmp v2 report":        igmpFrame(report2),
		"igmp v3 report in tag": tag(0x8100, 100, igmpFrame(report3)),
		"igmp v3 query":         igmpFrame(query3),
		"igmp v1 query":         igmpFrame(withChecksum([]byte{0x11, 0, 0, 0, 0, 0, 0, 0})),
		"igmp router alert":     ethernet(addr.MAC{1, 0, 0x5e, 0x7f, 0, 50}, nic, 0x0800, ipHeader(6, 2, report2, 0x94, 4, 0, 0)),
		"igmp options nop end":  ethernet(addr.MAC{1, 0, 0x5e, 0x7f, 0, 50}, nic, 0x0800, ipHeader(7, 2, report2, 1, 1, 0x94, 4, 0, 0, 0, 0)),
		"igmp fragment":         ethernet(addr.MAC{1, 0, 0x5e, 0x7f, 0, 50}, nic, 0x0800, func() []byte { b := ipHeader(5, 2, report2); b[6] = 0x20; return b }()),
		"ip in ip igmp":         ethernet(addr.MAC{1, 0, 0x5e, 0x7f, 0, 50}, nic, 0x0800, ipHeader(5, 4, ipHeader(5, 2, report3))),
		"ip no next header":     ethernet(addr.MAC{1, 0, 0x5e, 0x7f, 0, 50}, nic, 0x0800, ipHeader(5, 59, make([]byte, 8))),
		"igmp and a trailer":    ethernet(addr.MAC{1, 0, 0x5e, 0x7f, 0, 50}, nic, 0x0800, append(ipHeader(5, 2, report2), 0xff)),
		"igmp in raw ip":        ethernet(addr.MAC{1, 0, 0x5e, 0x7f, 0, 50}, nic, 0xffff, ipHeader(5, 2, report2)),
		"membership heartbeat":  ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0x886f, membership(1, cluster, [4]byte{10, 0, 0, 1}, 1, 2)),
		"extended heartbeat": ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0x886f,
			extended(1, cluster, tlv(1, utf16z("NODE1")), tlv(2, []byte{2, 0, 10, 0, 0, 1}))),
		"old heartbeat":      ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0xbf01, membership(2, cluster, [4]byte{10, 0, 0, 2}, 1)),
		"not a heartbeat":    ethernet(addr.Broadcast, nic, 0x886f, []byte("XBOX and more")),
		"heartbeat in a tag": tag(0x8100, 5, ethernet(addr.Broadcast, addr.MAC{2, 1, 10, 0, 0, 50}, 0x886f, membership(3, cluster, [4]byte{10, 0, 0, 3}))),
	}
}

// fuzzCorpus returns the []byte arguments of the checked-in corpus of the
// fuzz target name (testdata/fuzz/NAME, "go test fuzz v1" files).
func fuzzCorpus(t testing.TB, name string) [][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if quoted, ok := strings.CutPrefix(line, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				out = append(out, []byte(s))
			}
		}
	}
	return out
}

// TestAfterLinkTypes pins what the hand decoders assume of gopacket's
// tables: the ethertypes it hands to its ARP, IPv4 and heartbeat layers
// are exactly 0x0806, 0x0800 (and 0xFFFF, raw IP) and 0x886F/0xBF01, and after IPv4 it decodes
// IGMP for protocol 2, IPv4 again for 4 and 94, a payload for 59, and
// stops at the IPv6 extension headers (0, 43, 44, 60).
func TestAfterLinkTypes(t *testing.T) {
	for et := range 1 << 16 {
		var want gopacket.LayerType
		switch et {
		case 0x0806:
			want = layers.LayerTypeARP
		case 0x0800, 0xffff:
			want = layers.LayerTypeIPv4
		case 0x886f, 0xbf01:
			want = frame.LayerTypeHeartbeat
		}
		got := layers.EthernetType(et).LayerType()
		if (got == layers.LayerTypeARP || got == layers.LayerTypeIPv4 || got == frame.LayerTypeHeartbeat || want != 0) && got != want {
			t.Errorf("gopacket decodes ethertype %#04x as %v, the hand decoders as %v", et, got, want)
		}
	}
	for p := range 256 {
		got := layers.IPProtocol(p).LayerType()
		var want gopacket.LayerType
		switch p {
		case 2:
			want = layers.LayerTypeIGMP
		case 4, 94:
			want = layers.LayerTypeIPv4
		case 59:
			want = gopacket.LayerTypePayload
		}
		decoded := got == layers.LayerTypeIGMP || got == layers.LayerTypeIPv4 || got == gopacket.LayerTypePayload
		if (decoded || want != 0) && got != want {
			t.Errorf("gopacket decodes IP protocol %d as %v, want %v", p, got, want)
		}
	}
}

// FuzzHandDecoders is the differential test on arbitrary frames, captured
// whole and cut by a snaplen, of every link type. Its seeds are the
// frames of the fixture captures, the first frames of the benchmark mix,
// the corpus files with ARP, IGMP, NLB, QinQ and remote spans, and the
// built frames, so that `go test` runs the comparison over all of them.
func FuzzHandDecoders(f *testing.F) {
	seedFrames(f)
	for _, data := range handFrames() {
		f.Add(data)
	}
	for _, path := range fixtureCaptures(f) {
		for _, r := range records(path) {
			f.Add(r.data)
		}
	}
	for i, r := range mixRecords(f, 2000) {
		// The ARP, IGMP and heartbeats, and every tenth of the rest.
		if kind := frame.NewParserDecoder().Decode(r.link, r.data, r.wireLen).Kind; kind != frame.KindIPv4 || i%10 == 0 {
			f.Add(r.data)
		}
	}
	// The other fuzzers' corpora, in the frames they fuzz the payload of.
	nic := addr.MAC{0, 1, 2, 3, 4, 5}
	for _, payload := range fuzzCorpus(f, "FuzzARP") {
		f.Add(ethernet(addr.Broadcast, nic, 0x0806, payload))
	}
	for _, payload := range fuzzCorpus(f, "FuzzHeartbeat") {
		f.Add(ethernet(addr.Broadcast, nic, 0x886f, payload))
	}
	for _, msg := range fuzzCorpus(f, "FuzzIGMP") {
		f.Add(igmpFrame(msg))
	}
	for _, name := range []string{"arp-too-long-tha.pcap", "igmpv3-queries.pcap", "IGMP_V1.pcap", "IGMP_V2.pcap",
		"igmpv2-report.pcap", "mtrace.pcap", "msnlb.pcap", "msnlb2.pcap", "802.1ad_QinQ.pcap", "QinQpacket.pcap"} {
		for _, r := range records(corpusPath(name)) {
			if r.link == layers.LinkTypeEthernet {
				f.Add(r.data)
			}
		}
	}
	c := newDiffer()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2} {
			c.check(t, "fuzzed", lt, data, len(data))
			c.check(t, "fuzzed cut", lt, data, len(data)+100)
		}
	})
}
