package frame_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
)

// TestIGMPRealCaptures checks version, type and group of every IGMP frame
// in the real captures against tshark, an independent decoder, when tshark
// is installed (CI installs it).
func TestIGMPRealCaptures(t *testing.T) {
	dir := testcapture.SharedPcaps(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed: differential IGMP test skipped")
	}
	d := frame.NewDecoder()
	for _, name := range []string{"IGMP_V1.pcap", "IGMP_V2.pcap", "igmpv3-queries.pcap", "mtrace.pcap"} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("tshark", "-r", filepath.Join(dir, name), "-T", "fields",
				"-e", "frame.number", "-e", "igmp.version", "-e", "igmp.type", "-e", "igmp.maddr",
				"-e", "igmp.num_grp_recs").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			recs := readCapture(t, name)
			sc := bufio.NewScanner(bytes.NewReader(out))
			n := 0
			for sc.Scan() {
				fields := strings.Split(sc.Text(), "\t")
				num, _ := strconv.Atoi(fields[0])
				if fields[2] == "" {
					continue // not IGMP
				}
				n++
				r := recs[num-1]
				f := d.Decode(r.link, r.data, r.wireLen)
				if f.Kind != frame.KindIGMP {
					t.Errorf("frame %d: kind %v (err %v), tshark says IGMP", num, f.Kind, f.Err)
					continue
				}
				g := f.IGMP
				typ, _ := strconv.ParseUint(strings.TrimPrefix(fields[2], "0x"), 16, 8)
				if uint64(g.Type) != typ {
					t.Errorf("frame %d: type %#x, tshark %s", num, g.Type, fields[2])
				}
				if fields[1] != "" && g.Version != 0 && strconv.Itoa(int(g.Version)) != fields[1] {
					t.Errorf("frame %d: version %d, tshark %s", num, g.Version, fields[1])
				}
				if fields[3] != "" && g.Type != frame.IGMPv3Report {
					if got := ip4(g.Group); got != fields[3] {
						t.Errorf("frame %d: group %s, tshark %s", num, got, fields[3])
					}
				}
				if !g.ChecksumOK {
					t.Errorf("frame %d: checksum does not verify", num)
				}
			}
			if n == 0 {
				t.Fatal("tshark found no IGMP: wrong file?")
			}
		})
	}
}

func ip4(b [4]byte) string {
	return strconv.Itoa(int(b[0])) + "." + strconv.Itoa(int(b[1])) + "." + strconv.Itoa(int(b[2])) + "." + strconv.Itoa(int(b[3]))
}

// igmpFrame wraps an IGMP message in IPv4 (protocol 2) and Ethernet.
func igmpFrame(msg []byte) []byte {
	ip := make([]byte, 20)
	ip[0] = 0x45
	total := 20 + len(msg)
	ip[2], ip[3] = byte(total>>8), byte(total)
	ip[8], ip[9] = 1, 2
	copy(ip[12:], []byte{10, 0, 0, 1})
	copy(ip[16:], []byte{224, 0, 0, 22})
	return ethernet([6]byte{1, 0, 0x5e, 0, 0, 22}, [6]byte{0, 1, 2, 3, 4, 5}, 0x0800, append(ip, msg...))
}

func withChecksum(m []byte) []byte {
	var sum uint32
	for i := 0; i+1 < len(m); i += 2 {
		sum += uint32(m[i])<<8 | uint32(m[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	c := ^uint16(sum)
	m[2], m[3] = byte(c>>8), byte(c)
	return m
}

func TestIGMPDecode(t *testing.T) {
	v3report := func(count byte, records ...[]byte) []byte {
		m := []byte{0x22, 0, 0, 0, 0, 0, 0, count}
		for _, r := range records {
			m = append(m, r...)
		}
		return withChecksum(m)
	}
	join := []byte{frame.RecordChangeToExclude, 0, 0, 0, 239, 255, 3, 232}
	leave := []byte{frame.RecordChangeToInclude, 0, 0, 0, 239, 255, 3, 232}
	withSource := []byte{frame.RecordAllowNew, 0, 0, 1, 232, 1, 1, 1, 10, 0, 0, 9}
	cases := []struct {
		name    string
		msg     []byte
		version uint8
		typ     uint8
		status  frame.Status
		check   func(t *testing.T, g *frame.IGMP)
	}{
		{name: "v1 query", msg: withChecksum([]byte{0x11, 0, 0, 0, 0, 0, 0, 0}), version: 1, typ: 0x11,
			check: func(t *testing.T, g *frame.IGMP) {
				if !g.IsGeneralQuery() {
					t.Error("not a general query")
				}
			}},
		{name: "v2 group query", msg: withChecksum([]byte{0x11, 10, 0, 0, 239, 255, 3, 232}), version: 2, typ: 0x11,
			check: func(t *testing.T, g *frame.IGMP) {
				if g.IsGeneralQuery() || ip4(g.Group) != "239.255.3.232" || g.MaxResp != 10 {
					t.Errorf("group %v maxresp %d", g.Group, g.MaxResp)
				}
			}},
		{name: "v3 query", msg: withChecksum([]byte{0x11, 100, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0}), version: 3, typ: 0x11,
			check: func(t *testing.T, g *frame.IGMP) {
				if g.QRV != 2 || g.QQIC != 125 {
					t.Errorf("qrv %d qqic %d", g.QRV, g.QQIC)
				}
			}},
		{name: "v2 query with a code of 128 or more, linear", msg: withChecksum([]byte{0x11, 200, 0, 0, 0, 0, 0, 0}), version: 2, typ: 0x11,
			check: func(t *testing.T, g *frame.IGMP) {
				if g.MaxRespTenths() != 200 {
					t.Errorf("max resp %d tenths, want 200 (RFC 2236: no floating point)", g.MaxRespTenths())
				}
			}},
		{name: "v3 query with floating-point codes", msg: withChecksum([]byte{0x11, 0xfe, 0, 0, 0, 0, 0, 0, 2, 0x80, 0, 0}), version: 3, typ: 0x11,
			check: func(t *testing.T, g *frame.IGMP) {
				// 0xfe: exp 7, mant 14: (14|16) << 10 = 30720 tenths;
				// 0x80: exp 0, mant 0: 16 << 3 = 128 s.
				if g.MaxRespTenths() != 30720 || g.QQI() != 128 {
					t.Errorf("max resp %d tenths, QQI %d s; want 30720, 128", g.MaxRespTenths(), g.QQI())
				}
			}},
		{name: "v1 report", msg: withChecksum([]byte{0x12, 0, 0, 0, 239, 255, 3, 232}), version: 1, typ: 0x12},
		{name: "v2 report", msg: withChecksum([]byte{0x16, 0, 0, 0, 239, 255, 3, 232}), version: 2, typ: 0x16},
		{name: "v2 leave", msg: withChecksum([]byte{0x17, 0, 0, 0, 239, 255, 3, 232}), version: 2, typ: 0x17},
		{name: "v3 report join leave source", msg: v3report(3, join, leave, withSource), version: 3, typ: 0x22,
			check: func(t *testing.T, g *frame.IGMP) {
				if g.RecordsDecoded != 3 || !g.Records[0].IsJoin() || !g.Records[1].IsLeave() ||
					g.Records[2].IsJoin() || g.Records[2].IsLeave() || !g.ChecksumOK {
					t.Errorf("records %+v", g.Records[:g.RecordsDecoded])
				}
			}},
		{name: "v3 report records beyond the data", msg: v3report(5, join), version: 3, typ: 0x22, status: frame.Malformed},
		{name: "short message", msg: []byte{0x16, 0, 0}, typ: 0x16, status: frame.Malformed},
		{name: "mtrace is not a membership message", msg: withChecksum(make([]byte, 24)), typ: 0},
	}
	cases[len(cases)-1].msg[0] = 0x1f
	withChecksum(cases[len(cases)-1].msg)
	cases[len(cases)-1].typ = 0x1f
	d := frame.NewDecoder()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := igmpFrame(c.msg)
			f := d.Decode(layers.LinkTypeEthernet, data, len(data))
			if f.Status != c.status {
				t.Fatalf("status %v (err %v), want %v", f.Status, f.Err, c.status)
			}
			if c.status == frame.Malformed {
				if f.Reason != frame.ReasonIGMP {
					t.Errorf("reason %v, want IGMP", f.Reason)
				}
				return
			}
			if f.Kind != frame.KindIGMP || f.IGMP.Version != c.version || f.IGMP.Type != c.typ {
				t.Fatalf("kind %v version %d type %#x", f.Kind, f.IGMP.Version, f.IGMP.Type)
			}
			if c.check != nil {
				c.check(t, f.IGMP)
			}
		})
	}
}

// TestIGMPv3TimeCodes checks the RFC 3376 4.1.1 floating-point codes at
// their edges, and the real queries of igmpv3-queries.pcap against the
// values tshark gives (igmp.max_resp in tenths: 100, 30720, 30720, 10, 10,
// 10; igmp.qqic 125).
func TestIGMPv3TimeCodes(t *testing.T) {
	for _, c := range []struct {
		code uint8
		want uint16
	}{{0, 0}, {127, 127}, {128, 128}, {0x8f, 248}, {0x90, 256}, {0xfe, 30720}, {0xff, 31744}} {
		g := frame.IGMP{Version: 3, MaxResp: c.code, QQIC: c.code}
		if g.MaxRespTenths() != c.want || g.QQI() != c.want {
			t.Errorf("code %#x: %d, %d; want %d", c.code, g.MaxRespTenths(), g.QQI(), c.want)
		}
	}
	recs := readCapture(t, "igmpv3-queries.pcap")
	want := []uint16{100, 30720, 30720, 10, 10, 10}
	if len(recs) != len(want) {
		t.Fatalf("%d frames, want %d", len(recs), len(want))
	}
	d := frame.NewDecoder()
	for i, r := range recs {
		f := d.Decode(r.link, r.data, r.wireLen)
		if f.Kind != frame.KindIGMP || f.IGMP.Version != 3 || f.IGMP.MaxRespTenths() != want[i] || f.IGMP.QQI() != 125 {
			t.Errorf("frame %d: %v v%d max resp %d tenths, QQI %d; want %d, 125", i+1, f.Kind, f.IGMP.Version,
				f.IGMP.MaxRespTenths(), f.IGMP.QQI(), want[i])
		}
	}
}
