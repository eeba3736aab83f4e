package addr

import (
	"fmt"
	"net/netip"
)

// Mode is an NLB cluster operation mode. It decides the cluster MAC, where
// heartbeats go and whether a switch can ever learn the cluster MAC.
type Mode uint8

// The NLB cluster modes. ModeUnknown is what a capture that does not show
// enough (no heartbeat destination, a cooked capture without MACs) gives.
const (
	ModeUnknown   Mode = iota
	ModeUnicast        // cluster MAC 02:bf:W:X:Y:Z, heartbeats to broadcast, sources masked
	ModeMulticast      // cluster MAC 03:bf:W:X:Y:Z, heartbeats to the cluster MAC
	ModeIGMP           // cluster MAC 01:00:5e:7f:Y:Z, group 239.255.Y.Z
)

var modeNames = [...]string{"unknown", "unicast", "multicast", "igmp"}

// String returns the mode's name as the JSON contract spells it.
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	p, err := ParseMode(string(b))
	*m = p
	return err
}

// ParseMode parses the names String returns.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return ModeUnknown, fmt.Errorf("addr: unknown NLB mode %q (want unicast, multicast or igmp)", s)
}

// ClusterMAC returns the cluster MAC that NLB derives from cluster IP ip in
// mode m, and false for ModeUnknown or an address that is not IPv4.
func ClusterMAC(m Mode, ip netip.Addr) (MAC, bool) {
	if !ip.Is4() {
		return MAC{}, false
	}
	b := ip.As4()
	switch m {
	case ModeUnicast:
		return MAC{0x02, 0xbf, b[0], b[1], b[2], b[3]}, true
	case ModeMulticast:
		return MAC{0x03, 0xbf, b[0], b[1], b[2], b[3]}, true
	case ModeIGMP:
		return MAC{0x01, 0x00, 0x5e, 0x7f, b[2], b[3]}, true
	}
	return MAC{}, false
}

// IGMPGroup returns 239.255.Y.Z, the group that IGMP-mode nodes of cluster
// W.X.Y.Z join.
func IGMPGroup(ip netip.Addr) netip.Addr {
	b := ip.As4()
	return netip.AddrFrom4([4]byte{239, 255, b[2], b[3]})
}

// MaskedSource returns 02:P:W:X:Y:Z, the source MAC a unicast-mode node with
// host priority p puts on every frame it sends, so that the switch never
// learns the shared cluster MAC.
func MaskedSource(priority uint8, ip netip.Addr) MAC {
	b := ip.As4()
	return MAC{0x02, priority, b[0], b[1], b[2], b[3]}
}

// Form says which NLB address form a MAC has.
type Form uint8

// The forms Classify recognises.
const (
	FormOrdinary         Form = iota // no NLB form
	FormUnicastCluster               // 02:bf:W:X:Y:Z
	FormMulticastCluster             // 03:bf:W:X:Y:Z
	FormIGMPCluster                  // 01:00:5e:7f:Y:Z (also any 239.255.Y.Z group MAC)
	FormMaskedSource                 // 02:P:W:X:Y:Z with P in 1..32: a candidate only, see Classify
)

var formNames = [...]string{"ordinary", "unicast-cluster", "multicast-cluster", "igmp-cluster", "masked-source"}

// String names the form.
func (f Form) String() string {
	if int(f) < len(formNames) {
		return formNames[f]
	}
	return fmt.Sprintf("form(%d)", uint8(f))
}

// MarshalText implements encoding.TextMarshaler.
func (f Form) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Form) UnmarshalText(b []byte) error {
	for i, n := range formNames {
		if n == string(b) {
			*f = Form(i)
			return nil
		}
	}
	return fmt.Errorf("addr: unknown address form %q", b)
}

// Mode returns the cluster mode a cluster-MAC form implies, or ModeUnknown.
func (f Form) Mode() Mode {
	switch f {
	case FormUnicastCluster:
		return ModeUnicast
	case FormMulticastCluster:
		return ModeMulticast
	case FormIGMPCluster:
		return ModeIGMP
	}
	return ModeUnknown
}

// IsCluster reports whether f is one of the three cluster-MAC forms.
func (f Form) IsCluster() bool {
	return f == FormUnicastCluster || f == FormMulticastCluster || f == FormIGMPCluster
}

// NLBForm is what an address says about NLB.
type NLBForm struct {
	Form Form
	// IP is the cluster IP embedded in the MAC. For FormIGMPCluster only the
	// last two bytes are known and IP holds 0.0.0.Y.Z with Partial set.
	IP      [4]byte
	Partial bool
	// Priority is the host priority of a FormMaskedSource candidate.
	Priority uint8
}

// Classify returns the NLB form of m. FormMaskedSource is only a candidate:
// any locally administered MAC that starts 02:01..02:20 matches, so a caller
// confirms it by comparing IP with a cluster IP it knows.
func Classify(m MAC) NLBForm {
	switch {
	case m[0] == 0x02 && m[1] == 0xbf:
		return NLBForm{Form: FormUnicastCluster, IP: [4]byte{m[2], m[3], m[4], m[5]}}
	case m[0] == 0x03 && m[1] == 0xbf:
		return NLBForm{Form: FormMulticastCluster, IP: [4]byte{m[2], m[3], m[4], m[5]}}
	case m[0] == 0x01 && m[1] == 0x00 && m[2] == 0x5e && m[3] == 0x7f:
		return NLBForm{Form: FormIGMPCluster, IP: [4]byte{0, 0, m[4], m[5]}, Partial: true}
	case m[0] == 0x02 && m[1] >= 1 && m[1] <= 32:
		return NLBForm{Form: FormMaskedSource, IP: [4]byte{m[2], m[3], m[4], m[5]}, Priority: m[1]}
	}
	return NLBForm{}
}

// IsClusterForm is a fast check for the three cluster-MAC prefixes, for the
// per-frame path: 02:bf, 03:bf and 01:00:5e:7f.
func IsClusterForm(m *MAC) bool {
	return (m[1] == 0xbf && (m[0] == 0x02 || m[0] == 0x03)) ||
		(m[0] == 0x01 && m[1] == 0x00 && m[2] == 0x5e && m[3] == 0x7f)
}

// Encodes reports whether the NLB form f embeds cluster IP ip: all four
// bytes for the unicast and multicast forms and the masked source, the last
// two for the IGMP form.
func (f NLBForm) Encodes(ip netip.Addr) bool {
	if !ip.Is4() || f.Form == FormOrdinary {
		return false
	}
	b := ip.As4()
	if f.Partial {
		return f.IP[2] == b[2] && f.IP[3] == b[3]
	}
	return f.IP == b
}

// EmbeddedIP returns the cluster IP the form embeds, and false for the IGMP
// form (which keeps only two bytes) and ordinary MACs.
func (f NLBForm) EmbeddedIP() (netip.Addr, bool) {
	if f.Form == FormOrdinary || f.Partial {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(f.IP), true
}
