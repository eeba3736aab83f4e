package addr_test

import (
	"net/netip"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
)

// TestClusterMACs checks the forms against the example in the issue and
// Microsoft's documentation: 172.31.3.232 gives 02-BF-AC-1F-03-E8,
// 03-BF-AC-1F-03-E8, 01-00-5E-7F-03-E8 and group 239.255.3.232.
func TestClusterMACs(t *testing.T) {
	ip := netip.MustParseAddr("172.31.3.232")
	cases := []struct {
		mode           addr.Mode
		dashed, dotted string
	}{
		{addr.ModeUnicast, "02-BF-AC-1F-03-E8", "02bf.ac1f.03e8"},
		{addr.ModeMulticast, "03-BF-AC-1F-03-E8", "03bf.ac1f.03e8"},
		{addr.ModeIGMP, "01-00-5E-7F-03-E8", "0100.5e7f.03e8"},
	}
	for _, c := range cases {
		mac, ok := addr.ClusterMAC(c.mode, ip)
		if !ok || mac.Dashed() != c.dashed || mac.Dotted() != c.dotted {
			t.Errorf("%v: %v %s %s", c.mode, ok, mac.Dashed(), mac.Dotted())
		}
		if f := addr.Classify(mac); f.Form.Mode() != c.mode || !f.Encodes(ip) || !addr.IsClusterForm(&mac) {
			t.Errorf("%v: classified %+v", c.mode, f)
		}
	}
	if g := addr.IGMPGroup(ip); g.String() != "239.255.3.232" {
		t.Errorf("group %v", g)
	}
	if m := addr.MaskedSource(3, ip); m.String() != "02:03:ac:1f:03:e8" {
		t.Errorf("masked source %v", m)
	}
	if _, ok := addr.ClusterMAC(addr.ModeUnicast, netip.MustParseAddr("2001:db8::1")); ok {
		t.Error("IPv6 cluster IP accepted")
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		mac  string
		form addr.Form
		ip   string // embedded, "" when partial or none
		prio uint8
	}{
		{"02:bf:0a:00:00:32", addr.FormUnicastCluster, "10.0.0.50", 0},
		{"03:bf:bc:1f:01:64", addr.FormMulticastCluster, "188.31.1.100", 0},
		{"01:00:5e:7f:01:64", addr.FormIGMPCluster, "", 0},
		{"02:05:0a:00:00:32", addr.FormMaskedSource, "10.0.0.50", 5},
		{"02:21:0a:00:00:32", addr.FormOrdinary, "", 0}, // priority 33 does not exist
		{"00:15:5d:01:02:03", addr.FormOrdinary, "", 0},
		{"01:00:5e:00:00:fb", addr.FormOrdinary, "", 0},
	}
	for _, c := range cases {
		m, err := addr.ParseMAC(c.mac)
		if err != nil {
			t.Fatal(err)
		}
		f := addr.Classify(m)
		ip, _ := f.EmbeddedIP()
		got := ""
		if ip.IsValid() {
			got = ip.String()
		}
		if f.Form != c.form || got != c.ip || f.Priority != c.prio {
			t.Errorf("%s: %+v (ip %q)", c.mac, f, got)
		}
	}
}

func TestParseMAC(t *testing.T) {
	want := addr.MAC{0x02, 0xbf, 0xc0, 0xa8, 0x64, 0x50}
	for _, s := range []string{"02:bf:c0:a8:64:50", "02-BF-C0-A8-64-50", "02bf.c0a8.6450", "02BFC0A86450"} {
		m, err := addr.ParseMAC(s)
		if err != nil || m != want {
			t.Errorf("%q: %v %v", s, m, err)
		}
	}
	for _, s := range []string{"", "02:bf:c0:a8:64", "zz:bf:c0:a8:64:50", "02:bf:c0:a8:64:50:00"} {
		if _, err := addr.ParseMAC(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if b, _ := want.MarshalText(); string(b) != "02:bf:c0:a8:64:50" {
		t.Errorf("text %s", b)
	}
	// The zero MAC (not known) is "" in JSON, and "" reads back as zero.
	if b, _ := (addr.MAC{}).MarshalText(); len(b) != 0 {
		t.Errorf("zero MAC as text: %q, want empty", b)
	}
	m := want
	if err := m.UnmarshalText(nil); err != nil || !m.IsZero() {
		t.Errorf("empty text: %v, %v", m, err)
	}
}

func TestIsHyperV(t *testing.T) {
	for _, c := range []struct {
		mac  string
		want bool
	}{
		{"00:15:5d:1f:01:e6", true},  // a Hyper-V vNIC
		{"00:15:5c:1f:01:e6", false}, // the neighbouring OUI
		{"00:50:56:0a:00:05", false}, // VMware
		{"02:15:5d:1f:01:e6", false}, // locally administered, not Hyper-V's pool
		{"02:01:c0:a8:64:50", false}, // an NLB masked source
	} {
		m, err := addr.ParseMAC(c.mac)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.IsHyperV(); got != c.want {
			t.Errorf("%s: IsHyperV %v, want %v", c.mac, got, c.want)
		}
	}
}
