package capture

import (
	"net/netip"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
)

// StaticNeighbour is a permanent (static) entry of this host's IPv4
// neighbour table: `ip neigh add IP lladdr MAC dev IF nud permanent`, or
// `arp -s`. Such entries never expire, so one typed for an NLB cluster MAC
// outlives a change of the cluster's mode and sends this host's traffic to
// a MAC nobody answers for any more.
type StaticNeighbour struct {
	// Interface is the interface the entry is on.
	Interface string
	// VLAN is the 802.1Q VLAN ID the entry's frames carry: 0 on the
	// capture interface itself, the sub-interface's ID on a VLAN
	// interface stacked on it.
	VLAN uint16
	IP   netip.Addr
	MAC  addr.MAC
}
