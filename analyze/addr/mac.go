package addr

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MAC is an Ethernet address. Unlike net.HardwareAddr it is comparable, so it
// serves as a map key without allocation.
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// MACFrom copies the first six bytes of b into a MAC. It returns the zero MAC
// when b is shorter than six bytes.
func MACFrom(b []byte) MAC {
	var m MAC
	if len(b) >= 6 {
		copy(m[:], b[:6])
	}
	return m
}

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// IsMulticast reports whether the group bit (the low bit of the first byte)
// is set; broadcast is multicast too.
func (m MAC) IsMulticast() bool { return m[0]&1 == 1 }

// IsHyperV reports whether m is in 00:15:5d, the OUI from which Hyper-V
// draws the MACs of virtual machines' network adapters (its default MAC
// address pool): the mark of a Hyper-V guest's vNIC.
func (m MAC) IsHyperV() bool { return m[0] == 0x00 && m[1] == 0x15 && m[2] == 0x5d }

// String formats m as lower-case colon-separated hex, as tcpdump and
// Wireshark do: 02:bf:c0:a8:64:50.
func (m MAC) String() string {
	const hexdigits = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hexdigits[v>>4]
		b[i*3+1] = hexdigits[v&0xf]
	}
	return string(b[:])
}

// Dashed formats m as Windows does (nlb.exe, ipconfig, Get-NetAdapter):
// upper-case and dash-separated, 02-BF-C0-A8-64-50.
func (m MAC) Dashed() string {
	return strings.ToUpper(strings.ReplaceAll(m.String(), ":", "-"))
}

// Dotted formats m as Cisco IOS does in `arp` and `mac address-table`
// commands: 02bf.c0a8.6450.
func (m MAC) Dotted() string {
	h := hex.EncodeToString(m[:])
	return h[0:4] + "." + h[4:8] + "." + h[8:12]
}

// MarshalText implements encoding.TextMarshaler with the colon form, so
// MACs appear as strings in JSON; the zero MAC, which stands for a MAC not
// known (a cluster MAC of unknown mode), is "", as a zero netip.Addr is.
func (m MAC) MarshalText() ([]byte, error) {
	if m.IsZero() {
		return []byte{}, nil
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseMAC; "" is
// the zero MAC.
func (m *MAC) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = MAC{}
		return nil
	}
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

var errMACSyntax = errors.New("want six hex bytes as 02:bf:c0:a8:64:50, 02-BF-C0-A8-64-50 or 02bf.c0a8.6450")

// ParseMAC accepts the colon, dash and Cisco dotted forms.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	clean := strings.NewReplacer(":", "", "-", "", ".", "").Replace(s)
	if len(clean) != 12 {
		return m, fmt.Errorf("addr: parse MAC %q: %w", s, errMACSyntax)
	}
	if _, err := hex.Decode(m[:], []byte(clean)); err != nil {
		return m, fmt.Errorf("addr: parse MAC %q: %w", s, errMACSyntax)
	}
	return m, nil
}
