package remedy_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/remedy"
)

func TestCommands(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"nothing to run", nil},
		{"Cisco `clear ip arp 10.0.0.50`, Windows `Remove-NetNeighbor -IPAddress 10.0.0.50 -Confirm:$false`.",
			[]string{"clear ip arp 10.0.0.50", "Remove-NetNeighbor -IPAddress 10.0.0.50 -Confirm:$false"}},
		{"an unpaired ` is not a command", nil},
		{"`a` then `b` and a stray `", []string{"a", "b"}},
	} {
		if got := remedy.Commands(c.text); !slices.Equal(got, c.want) {
			t.Errorf("Commands(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

// TestNotations: each platform gets the MAC in its own notation and the
// VLAN as a number, or the placeholder when the capture was untagged.
func TestNotations(t *testing.T) {
	ip := netip.MustParseAddr("172.31.1.232")
	mac := addr.MAC{0x03, 0xbf, 0xac, 0x1f, 0x01, 0xe8}
	nic := addr.MAC{0x00, 0x15, 0x5d, 0x1f, 0x01, 0xe6}
	for _, c := range []struct{ got, want string }{
		{remedy.CiscoARP(ip, mac), "arp 172.31.1.232 03bf.ac1f.01e8 ARPA"},
		{remedy.CiscoNoARP(ip, mac), "no arp 172.31.1.232 03bf.ac1f.01e8 ARPA"},
		{remedy.CiscoStaticMAC(mac, 10), "mac address-table static 03bf.ac1f.01e8 vlan 10 interface <switch ports>"},
		{remedy.CiscoStaticMAC(mac, 0), "mac address-table static 03bf.ac1f.01e8 vlan <vlan> interface <switch ports>"},
		{remedy.CiscoShowMAC(nic, 0), "show mac address-table address 0015.5d1f.01e6"},
		{remedy.CiscoShowIGMPGroups(20), "show ip igmp snooping groups vlan 20"},
		{remedy.BridgeMDBAdd(mac, 10), "bridge mdb add dev <bridge> port <bridge port> grp 03:bf:ac:1f:01:e8 permanent vid 10"},
		{remedy.BridgeMDBAdd(mac, 0), "bridge mdb add dev <bridge> port <bridge port> grp 03:bf:ac:1f:01:e8 permanent"},
		{remedy.IPNeighReplace(ip, mac, "eth0"), "ip neigh replace 172.31.1.232 lladdr 03:bf:ac:1f:01:e8 dev eth0 nud permanent"},
		{remedy.RemoveNetNeighbor(ip, mac), "Remove-NetNeighbor -IPAddress 172.31.1.232 -LinkLayerAddress 03-BF-AC-1F-01-E8 -Confirm:$false"},
		{remedy.RemoveNetNeighbor(ip, addr.MAC{}), "Remove-NetNeighbor -IPAddress 172.31.1.232 -Confirm:$false"},
		{remedy.HyperVSpoofingOn(nic), "Get-VMNetworkAdapter -VMName * | Where-Object MacAddress -eq '00155D1F01E6' | Set-VMNetworkAdapter -MacAddressSpoofing On"},
		{remedy.NLBClusterMode(addr.ModeIGMP), "Get-NlbCluster | Set-NlbCluster -OperationMode IgmpMulticast"},
		{remedy.NLBClusterMode(addr.ModeMulticast), "Get-NlbCluster | Set-NlbCluster -OperationMode Multicast"},
		{remedy.NLBSetPriority(3), "Set-NlbClusterNode -InterfaceName '<NLB adapter>' -HostPriority 3"},
		{remedy.CiscoERSPANSource, "monitor session <monitor session> type erspan-source"},
		{remedy.CiscoERSPANID(7), "erspan-id 7"},
		{remedy.CiscoERSPANMTU(remedy.CiscoERSPANMaxMTU), "mtu 9000"},
	} {
		if c.got != c.want {
			t.Errorf("got  %q\nwant %q", c.got, c.want)
		}
	}
}
