// Package remedy writes the commands that nlbprobe's findings suggest, for
// the platforms an NLB admin meets: Cisco IOS, Linux iproute2 (ip, bridge),
// Windows PowerShell (NetTCPIP, NetworkLoadBalancingClusters, Hyper-V) and
// nlb.exe. Every finding's remedy uses these builders, so that a command
// has one spelling everywhere and the remedies keep one form:
//
//   - each command stands in backquotes inside the remedy's prose, so a
//     reader pastes it and a script extracts it (Commands);
//   - a command is filled with the values the capture showed (VIP, MAC,
//     VLAN, group), in the notation of its platform (03bf.ac1f.01e8 for
//     Cisco, 03:bf:ac:1f:01:e8 for Linux, 03-BF-AC-1F-01-E8 and
//     03BFAC1F01E8 for Windows and Hyper-V);
//   - what no capture can know (the switch ports of the hosts, a bridge's
//     name, a VM's name, the VLAN of an untagged capture) is a placeholder
//     in angle brackets, one of Placeholders, never a guessed value.
//
// The syntax of every command family is checked against the vendors'
// documented grammar by the analyze package's remedy test, over every
// finding of every fixture.
package remedy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
)

// Placeholders for what a capture cannot know. They are in angle brackets,
// so that a pasted command fails loudly instead of doing something else.
const (
	// SwitchPorts: the switch interfaces the cluster's hosts (or their
	// Hyper-V hosts' uplinks) are connected to.
	SwitchPorts = "<switch ports>"
	// Bridge and BridgePort: a Linux bridge and the port of a host on it.
	Bridge     = "<bridge>"
	BridgePort = "<bridge port>"
	// VLAN: the 802.1Q VLAN ID, unknown when the capture was untagged (an
	// access port strips the tag).
	VLAN = "<vlan>"
	// VMName: the Hyper-V virtual machine's name.
	VMName = "<VM name>"
	// NLBAdapter: the Windows network adapter NLB is bound to.
	NLBAdapter = "<NLB adapter>"
	// MonitorSession: the number of a switch's monitor (SPAN) session,
	// which only the switch knows: an ERSPAN header carries the session's
	// ERSPAN ID instead.
	MonitorSession = "<monitor session>"
)

// Placeholders lists every placeholder a remedy may hold.
var Placeholders = []string{SwitchPorts, Bridge, BridgePort, VLAN, VMName, NLBAdapter, MonitorSession}

// Code puts a command in backquotes, the form Commands extracts.
func Code(cmd string) string { return "`" + cmd + "`" }

// Commands returns the commands of a remedy: the text between pairs of
// backquotes, in order.
func Commands(remedy string) []string {
	var out []string
	for {
		i := strings.IndexByte(remedy, '`')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(remedy[i+1:], '`')
		if j < 0 {
			return out
		}
		out = append(out, remedy[i+1:i+1+j])
		remedy = remedy[i+2+j:]
	}
}

// vlanID is the VLAN argument of a command: the ID, or the placeholder
// for an untagged capture.
func vlanID(vlan uint16) string {
	if vlan == 0 {
		return VLAN
	}
	return fmt.Sprint(vlan)
}

// Cisco IOS. Global configuration commands are given without the
// "configure terminal" around them; exec commands as they are typed.

// CiscoARP is the static ARP entry a router needs for an NLB cluster in a
// multicast mode (it does not learn a multicast MAC from an ARP reply).
func CiscoARP(ip netip.Addr, mac addr.MAC) string {
	return fmt.Sprintf("arp %v %s ARPA", ip, mac.Dotted())
}

// CiscoNoARP removes the static ARP entry CiscoARP makes.
func CiscoNoARP(ip netip.Addr, mac addr.MAC) string { return "no " + CiscoARP(ip, mac) }

// CiscoClearARP drops a router's dynamic ARP entry for ip, so it asks again.
func CiscoClearARP(ip netip.Addr) string { return fmt.Sprintf("clear ip arp %v", ip) }

// CiscoStaticMAC pins mac to the hosts' switch ports on vlan (0: unknown).
func CiscoStaticMAC(mac addr.MAC, vlan uint16) string {
	return fmt.Sprintf("mac address-table static %s vlan %s interface %s", mac.Dotted(), vlanID(vlan), SwitchPorts)
}

// CiscoShowMAC shows the port a switch learned mac on.
func CiscoShowMAC(mac addr.MAC, vlan uint16) string {
	s := "show mac address-table address " + mac.Dotted()
	if vlan != 0 {
		s += fmt.Sprintf(" vlan %d", vlan)
	}
	return s
}

// CiscoShowIGMPGroups shows a snooping switch's IGMP groups.
func CiscoShowIGMPGroups(vlan uint16) string {
	if vlan != 0 {
		return fmt.Sprintf("show ip igmp snooping groups vlan %d", vlan)
	}
	return "show ip igmp snooping groups"
}

// CiscoShowQuerier shows the IGMP querier a snooping switch knows.
const CiscoShowQuerier = "show ip igmp snooping querier"

// CiscoQuerier makes a Catalyst switch the IGMP snooping querier.
const CiscoQuerier = "ip igmp snooping querier"

// Cisco IOS XE ERSPAN source sessions (Catalyst 9000 "Configuring
// ERSPAN"): `monitor session N type erspan-source` enters the session, its
// `destination` submode holds `erspan-id` (the ID the ERSPAN header
// carries) and `mtu`, the size the switch cuts mirrored frames to (and
// sets the header's T bit on those it cut).

// CiscoShowMonitor lists the monitor sessions with their ERSPAN IDs and
// MTU.
const CiscoShowMonitor = "show monitor session all"

// CiscoERSPANSource enters the configuration of an ERSPAN source session,
// whose number the capture cannot know.
var CiscoERSPANSource = fmt.Sprintf("monitor session %s type erspan-source", MonitorSession)

// CiscoERSPANDestination enters an ERSPAN source session's destination
// submode, where its ERSPAN ID and MTU are.
const CiscoERSPANDestination = "destination"

// CiscoERSPANID is the line of a session's destination that gives the
// ERSPAN ID the headers carry: how a switch's session is found from a
// capture.
func CiscoERSPANID(id uint32) string { return fmt.Sprintf("erspan-id %d", id) }

// CiscoERSPANMaxMTU is the largest ERSPAN MTU the IOS XE configuration
// guides give (mtu 176 to 9000): standard frames and most jumbo frames
// then go whole.
const CiscoERSPANMaxMTU = 9000

// CiscoERSPANMTU sets the size an ERSPAN source session cuts mirrored
// frames to.
func CiscoERSPANMTU(n int) string { return fmt.Sprintf("mtu %d", n) }

// Linux iproute2.

// BridgeMDBAdd pins the multicast MAC grp to a host's port of a Linux
// bridge: an L2 group, which the kernel takes as permanent only.
func BridgeMDBAdd(grp addr.MAC, vlan uint16) string {
	s := fmt.Sprintf("bridge mdb add dev %s port %s grp %v permanent", Bridge, BridgePort, grp)
	if vlan != 0 {
		s += fmt.Sprintf(" vid %d", vlan)
	}
	return s
}

// BridgeMDBShow lists a Linux bridge's multicast groups.
const BridgeMDBShow = "bridge mdb show"

// BridgeQuerier makes a Linux bridge the IGMP querier of its segment.
var BridgeQuerier = fmt.Sprintf("ip link set dev %s type bridge mcast_querier 1", Bridge)

// IPNeighReplace makes ip's permanent neighbour entry on dev point at mac.
func IPNeighReplace(ip netip.Addr, mac addr.MAC, dev string) string {
	return fmt.Sprintf("ip neigh replace %v lladdr %v dev %s nud permanent", ip, mac, dev)
}

// IPNeighDel deletes ip's neighbour entry on dev.
func IPNeighDel(ip netip.Addr, dev string) string {
	return fmt.Sprintf("ip neigh del %v dev %s", ip, dev)
}

// Windows PowerShell.

// RemoveNetNeighbor drops ip from a Windows ARP cache, only the entry for
// mac when mac is not zero; without a prompt, so that it pastes.
func RemoveNetNeighbor(ip netip.Addr, mac addr.MAC) string {
	s := fmt.Sprintf("Remove-NetNeighbor -IPAddress %v", ip)
	if !mac.IsZero() {
		s += " -LinkLayerAddress " + mac.Dashed()
	}
	return s + " -Confirm:$false"
}

// NLBNodes lists the local cluster's nodes with their state and priority.
const NLBNodes = "Get-NlbClusterNode"

// NLBPortRules lists the port rules of the host it runs on.
const NLBPortRules = "Get-NlbClusterPortRule"

// NLBSetPriority gives the host it runs on another host priority.
func NLBSetPriority(prio int) string {
	return fmt.Sprintf("Set-NlbClusterNode -InterfaceName '%s' -HostPriority %d", NLBAdapter, prio)
}

// NLBQuery is nlb.exe's view of the cluster from the host it runs on.
const NLBQuery = "nlb.exe query"

// NLBDisplay is nlb.exe's configuration, state and recent events of the
// host it runs on (the cluster MAC and mode among them).
const NLBDisplay = "nlb.exe display"

// Hyper-V.

// HyperVMAC is mac as Hyper-V writes a vNIC's MacAddress: 00155D1F01E6.
func HyperVMAC(mac addr.MAC) string { return strings.ReplaceAll(mac.Dashed(), "-", "") }

// vNIC selects the vNIC with mac among the local Hyper-V host's VMs.
func vNIC(mac addr.MAC) string {
	return fmt.Sprintf("Get-VMNetworkAdapter -VMName * | Where-Object MacAddress -eq '%s'", HyperVMAC(mac))
}

// HyperVShow names the VM, switch and spoofing setting of the vNIC with mac.
func HyperVShow(mac addr.MAC) string {
	return vNIC(mac) + " | Format-List VMName, SwitchName, MacAddressSpoofing"
}

// HyperVShowVLAN shows the VLAN of the vNIC with mac.
func HyperVShowVLAN(mac addr.MAC) string { return vNIC(mac) + " | Get-VMNetworkAdapterVlan" }

// HyperVSpoofingOn allows the vNIC with mac to send from and receive for
// MACs other than its own, which NLB needs.
func HyperVSpoofingOn(mac addr.MAC) string {
	return vNIC(mac) + " | Set-VMNetworkAdapter -MacAddressSpoofing On"
}

// HyperVSpoofingOnByName is HyperVSpoofingOn for a VM known by name.
var HyperVSpoofingOnByName = fmt.Sprintf("Set-VMNetworkAdapter -VMName '%s' -MacAddressSpoofing On", VMName)

// nlbModeNames are the values of Set-NlbCluster's -OperationMode.
var nlbModeNames = [...]string{addr.ModeUnicast: "Unicast", addr.ModeMulticast: "Multicast", addr.ModeIGMP: "IgmpMulticast"}

// NLBClusterMode sets the local cluster's operation mode, run on one of
// its hosts. m must be a known mode (it is Unicast otherwise).
func NLBClusterMode(m addr.Mode) string {
	name := nlbModeNames[addr.ModeUnicast]
	if int(m) < len(nlbModeNames) && nlbModeNames[m] != "" {
		name = nlbModeNames[m]
	}
	return "Get-NlbCluster | Set-NlbCluster -OperationMode " + name
}

// RestartNLBAdapter restarts the guest's adapter NLB is bound to, so that
// NLB sets the cluster MAC on it again.
var RestartNLBAdapter = fmt.Sprintf("Restart-NetAdapter -Name '%s'", NLBAdapter)
