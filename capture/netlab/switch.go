package netlab

// Switch helpers: what a lab's Linux bridge needs beyond Bridge to play a
// managed switch.

// BridgePort sets per-port options of a bridge port, as `bridge link set
// dev PORT ...` takes them, e.g. ("mcast_flood", "off") for a port the
// switch keeps unknown multicast away from.
func (n *NS) BridgePort(port string, opts ...string) {
	n.t.Helper()
	n.MustRun(append([]string{"bridge", "link", "set", "dev", port}, opts...)...)
}

// Mirror makes span a copy of everything port receives and sends, as a
// switch's SPAN session does: tc's clsact qdisc on port with a
// match-everything u32 filter in each direction whose action mirrors the
// frame out of span (the kernel here has u32 but not matchall).
func (n *NS) Mirror(port, span string) {
	n.t.Helper()
	n.MustRun("tc", "qdisc", "add", "dev", port, "clsact")
	for _, dir := range []string{"ingress", "egress"} {
		n.MustRun("tc", "filter", "add", "dev", port, dir, "protocol", "all", "u32", "match", "u32", "0", "0",
			"action", "mirred", "egress", "mirror", "dev", span)
	}
}

// StaticNeighbour adds a permanent neighbour (ARP) entry ip -> mac on dev,
// as `arp -s` or a router's `arp IP MAC ARPA` does.
func (n *NS) StaticNeighbour(dev, ip, mac string) {
	n.t.Helper()
	n.MustRun("ip", "neigh", "replace", ip, "lladdr", mac, "dev", dev, "nud", "permanent")
}
