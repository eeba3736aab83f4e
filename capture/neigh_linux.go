//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
)

// StaticNeighbours returns the permanent IPv4 neighbour entries on the
// interface named iface and on the 802.1Q interfaces stacked on it (whose
// frames it carries tagged), read through netlink. Entries on other
// interfaces are not on the wire iface sees, and are left out.
func StaticNeighbours(iface string) ([]StaticNeighbour, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("capture: neighbour table: look up %s: %w", iface, err)
	}
	parent := link.Attrs().Index
	links, err := netlink.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("capture: neighbour table: list interfaces: %w", err)
	}
	type onWire struct {
		name string
		vlan uint16
	}
	wire := map[int]onWire{parent: {name: iface}}
	for _, l := range links {
		if v, ok := l.(*netlink.Vlan); ok && v.Attrs().ParentIndex == parent {
			wire[v.Attrs().Index] = onWire{name: v.Attrs().Name, vlan: uint16(v.VlanId)}
		}
	}
	neighs, err := netlink.NeighList(0, netlink.FAMILY_V4)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("capture: neighbour table: %w", err)
	}
	var out []StaticNeighbour
	for _, n := range neighs {
		w, ok := wire[n.LinkIndex]
		if !ok || n.State&netlink.NUD_PERMANENT == 0 || len(n.HardwareAddr) != 6 {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		out = append(out, StaticNeighbour{Interface: w.name, VLAN: w.vlan, IP: ip.Unmap(), MAC: addr.MACFrom(n.HardwareAddr)})
	}
	return out, nil
}
