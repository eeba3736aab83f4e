package capture

import "net/netip"

// Route is how this host reaches a destination: the outgoing interface, its
// MTU, and the route's own MTU when one is set.
type Route struct {
	// Interface and Index name the outgoing interface.
	Interface string
	Index     int
	// InterfaceMTU is the interface's IP MTU (what `ip link` shows).
	InterfaceMTU int
	// Ethernet is true when the interface frames packets in Ethernet
	// (link/ether: NICs, bonds, VLANs, bridges, veths), false for
	// loopback, tunnels and other links where frame sizes and NIC jumbo
	// settings mean nothing.
	Ethernet bool
	// RouteMTU is the route's MTU metric (`ip route ... mtu N`, or a cached
	// path MTU), 0 when none is set.
	RouteMTU int
	// Gateway is the next hop, invalid for a directly connected target.
	Gateway netip.Addr
	// Source is the address probes leave from.
	Source netip.Addr
}
