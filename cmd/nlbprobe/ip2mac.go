package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/pflag"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/remedy"
)

func init() {
	register(command{name: "ip2mac", summary: "cluster MACs, IGMP group and masked sources for cluster IPs",
		synopsis: "ip2mac [--json] VIP...",
		example:  "  nlbprobe ip2mac 172.31.3.232\n  nlbprobe ip2mac --json 10.0.0.50 10.0.0.51",
		flags:    func() *pflag.FlagSet { return ip2macFlagSet(io.Discard, new(bool)) }, run: runIP2MAC})
}

// clusterAddresses is the JSON form of ip2mac's answer for one cluster IP.
type clusterAddresses struct {
	ClusterIP netip.Addr  `json:"cluster_ip"`
	Unicast   macForms    `json:"unicast"`
	Multicast macForms    `json:"multicast"`
	IGMP      macForms    `json:"igmp"`
	IGMPGroup netip.Addr  `json:"igmp_group"`
	Masked    maskedForms `json:"masked_source"`
}

type macForms struct {
	Colon  string `json:"colon"`
	Dashed string `json:"dashed"`
	Cisco  string `json:"cisco"`
}

type maskedForms struct {
	Pattern string   `json:"pattern"`
	Hosts   []string `json:"hosts"` // priorities 1..4, as examples
}

func formsOf(m addr.MAC) macForms {
	return macForms{Colon: m.String(), Dashed: m.Dashed(), Cisco: m.Dotted()}
}

func addressesOf(ip netip.Addr) clusterAddresses {
	uni, _ := addr.ClusterMAC(addr.ModeUnicast, ip)
	multi, _ := addr.ClusterMAC(addr.ModeMulticast, ip)
	igmp, _ := addr.ClusterMAC(addr.ModeIGMP, ip)
	a := clusterAddresses{
		ClusterIP: ip, Unicast: formsOf(uni), Multicast: formsOf(multi), IGMP: formsOf(igmp),
		IGMPGroup: addr.IGMPGroup(ip),
	}
	a.Masked.Pattern = "02-PP" + uni.Dashed()[5:]
	for p := uint8(1); p <= 4; p++ {
		a.Masked.Hosts = append(a.Masked.Hosts, addr.MaskedSource(p, ip).Dashed())
	}
	return a
}

// ip2macFlagSet builds ip2mac's FlagSet, bound to asJSON.
func ip2macFlagSet(stderr io.Writer, asJSON *bool) *pflag.FlagSet {
	fs := newFlagSet("ip2mac", stderr)
	fs.BoolVar(asJSON, "json", false, "print one JSON object per cluster IP, in an array")
	return fs
}

func runIP2MAC(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	asJSON := new(bool)
	fs := ip2macFlagSet(stderr, asJSON)
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "nlbprobe ip2mac: give at least one cluster IP, e.g. nlbprobe ip2mac 172.31.3.232")
		return exitUsage
	}
	var out []clusterAddresses
	for _, s := range fs.Args() {
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is4() {
			fmt.Fprintf(stderr, "nlbprobe ip2mac: %q is not an IPv4 address: NLB cluster IPs are IPv4\n", s)
			return exitUsage
		}
		out = append(out, addressesOf(ip))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "nlbprobe ip2mac: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	for i, a := range out {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "cluster IP %v\n", a.ClusterIP)
		fmt.Fprintf(stdout, "  unicast mode    cluster MAC %s  (%s, %s)\n", a.Unicast.Dashed, a.Unicast.Colon, a.Unicast.Cisco)
		fmt.Fprintf(stdout, "                  host sources %s, P = host priority (host 1: %s)\n", a.Masked.Pattern, a.Masked.Hosts[0])
		fmt.Fprintf(stdout, "  multicast mode  cluster MAC %s  (%s, %s)\n", a.Multicast.Dashed, a.Multicast.Colon, a.Multicast.Cisco)
		fmt.Fprintf(stdout, "  IGMP multicast  cluster MAC %s  (%s, %s), group %v\n", a.IGMP.Dashed, a.IGMP.Colon, a.IGMP.Cisco, a.IGMPGroup)
		// The commands a remedy gives, with the same placeholders: the
		// VLAN and the hosts' ports are not known here.
		multicast, _ := addr.ClusterMAC(addr.ModeMulticast, a.ClusterIP)
		igmp, _ := addr.ClusterMAC(addr.ModeIGMP, a.ClusterIP)
		fmt.Fprintf(stdout, "  Cisco, multicast mode: %s\n", remedy.CiscoARP(a.ClusterIP, multicast))
		fmt.Fprintf(stdout, "                         %s\n", remedy.CiscoStaticMAC(multicast, 0))
		fmt.Fprintf(stdout, "  Linux bridge, IGMP:    %s\n", remedy.BridgeMDBAdd(igmp, 0))
	}
	return exitOK
}
