//go:build linux

package capture

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// RouteTo asks the kernel (netlink RTM_GETROUTE) how dst is reached from
// this network namespace. With no route the error wraps the kernel's errno:
// errors.Is(err, unix.ENETUNREACH) holds.
func RouteTo(dst netip.Addr) (Route, error) {
	dst = dst.Unmap()
	routes, err := netlink.RouteGet(dst.AsSlice())
	if err != nil {
		return Route{}, fmt.Errorf("capture: route to %s: %w", dst, err)
	}
	if len(routes) == 0 {
		return Route{}, fmt.Errorf("capture: route to %s: the kernel returned none", dst)
	}
	r := routes[0]
	link, err := netlink.LinkByIndex(r.LinkIndex)
	if err != nil {
		return Route{}, fmt.Errorf("capture: route to %s: interface %d: %w", dst, r.LinkIndex, err)
	}
	out := Route{
		Interface:    link.Attrs().Name,
		Index:        r.LinkIndex,
		InterfaceMTU: link.Attrs().MTU,
		Ethernet:     link.Attrs().EncapType == "ether",
		RouteMTU:     r.MTU,
	}
	if gw, ok := netip.AddrFromSlice(r.Gw); ok {
		out.Gateway = gw.Unmap()
	}
	if src, ok := netip.AddrFromSlice(r.Src); ok {
		out.Source = src.Unmap()
	}
	return out, nil
}
