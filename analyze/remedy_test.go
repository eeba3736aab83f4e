package analyze_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
	"github.com/nlbprobe/nlbprobe/analyze/remedy"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// This file checks what nlbprobe tells an admin to do, over every finding
// it raises on every fixture capture, every generated scenario, tcpdump's
// corpus (when present) and the live engine's static-ARP check:
//
//   - every command stands in backquotes and matches the documented syntax
//     of its platform (the grammars below, one per command family, each
//     with the reference it follows);
//   - a placeholder is one of remedy.Placeholders, for what a capture
//     cannot know; <vlan> only where the finding's VLAN is unknown, and a
//     VLAN written out is the finding's;
//   - findings of one report do not contradict each other: no entry is
//     added by one remedy and removed by another, and a MAC that a finding
//     calls stale or superseded (or whose entry a remedy removes) is not
//     pinned by another.

// reportCase is one report whose findings are checked.
type reportCase struct {
	name string
	r    *analyze.Report
}

// fixtureReports analyzes every capture in fixtures/captures with its
// scenario's arguments.
func fixtureReports(t *testing.T) []reportCase {
	t.Helper()
	dir := filepath.Join(testcapture.ModuleRoot(), "fixtures", "captures")
	args := map[string][]string{}
	expects, _ := filepath.Glob(filepath.Join(dir, "*.expect.json"))
	for _, p := range expects {
		exp, err := fixtures.ReadExpect(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range exp.Files {
			args[f] = exp.Args
		}
	}
	var out []reportCase
	for _, pattern := range []string{"*.pcap", "*.pcapng", "*.pcap.gz"} {
		paths, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, p := range paths {
			recs := testcapture.MustRead(t, p)
			out = append(out, reportCase{filepath.Base(p), analyzeRecords(recs, optionsFor(t, args[filepath.Base(p)]))})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no captures in %s", dir)
	}
	return out
}

// scenarioReports builds every scenario of the generator afresh (so a
// scenario not yet written to fixtures/captures is checked too).
func scenarioReports(t *testing.T) []reportCase {
	t.Helper()
	dir := t.TempDir()
	var out []reportCase
	for _, s := range fixtures.Scenarios() {
		c, _ := s.Build()
		p := filepath.Join(dir, s.Name+".pcap")
		if err := c.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		out = append(out, reportCase{"scenario " + s.Name, analyzeRecords(testcapture.MustRead(t, p), optionsFor(t, s.Args))})
	}
	return out
}

// sharedReports analyzes tcpdump's test corpus, when it is there.
func sharedReports(t *testing.T) []reportCase {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(testcapture.ModuleRoot(), "..", "shared", "pcaps", "tcpdump-tests"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Logf("tcpdump's corpus not checked: %v", err)
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*"))
	var out []reportCase
	for _, p := range paths {
		recs, err := testcapture.Read(p)
		if err != nil || len(recs) == 0 {
			continue // not a capture this reader takes; TestSharedPcaps covers reading
		}
		r := analyzeRecords(recs, analyze.Options{})
		if len(r.Findings) > 0 {
			out = append(out, reportCase{"tcpdump " + filepath.Base(p), r})
		}
	}
	return out
}

// staticARPReports raises stale-static-arp, which only the live capture's
// neighbour table check does, for each kind of stale entry.
func staticARPReports(t *testing.T) []reportCase {
	igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, liveVIP)
	mcastMAC, _ := addr.ClusterMAC(addr.ModeMulticast, liveVIP)
	uniMAC, _ := addr.ClusterMAC(addr.ModeUnicast, liveVIP)
	var out []reportCase
	for _, entry := range []analyze.StaticNeighbor{
		{Interface: "eth0", IP: liveVIP, MAC: mcastMAC},
		{Interface: "eth0", IP: liveVIP, MAC: uniMAC},
		{Interface: "bond0.20", IP: liveVIP, MAC: addr.MAC{0x00, 0x15, 0x5d, 0x01, 0x02, 0x03}},
	} {
		for _, announce := range []bool{true, false} {
			f := &liveFeeder{e: analyze.New(analyze.Options{})}
			igmpCluster(f, announce)
			if f.e.CheckStaticARP([]analyze.StaticNeighbor{entry}) != 1 {
				t.Fatalf("%v -> %v (wire %v): not stale", entry.IP, entry.MAC, igmpMAC)
			}
			out = append(out, reportCase{fmt.Sprintf("static %v %v announce %v", entry.IP, entry.MAC, announce), f.e.Finish()})
		}
	}
	return out
}

// mirrorCutReports raises capture-truncated for frames an ERSPAN
// session's switch cut (T bit), which no fixture capture has.
func mirrorCutReports() []reportCase {
	tf := newTruncationFrames()
	e := analyze.New(analyze.Options{})
	for i, r := range []cutRecord{tf.mirrored(7, 300, 0), tf.mirrored(1023, 128, 0), tf.direct(200)} {
		e.PacketAt(r.kept(), uint64(i+1), int64(i+1)*1e9, len(r.data), layers.LinkTypeEthernet, 0)
	}
	return []reportCase{{"ERSPAN sessions cut by their switch", e.Finish()}}
}

func TestRemedies(t *testing.T) {
	var cases []reportCase
	cases = append(cases, fixtureReports(t)...)
	cases = append(cases, scenarioReports(t)...)
	cases = append(cases, staticARPReports(t)...)
	cases = append(cases, mirrorCutReports()...)
	cases = append(cases, sharedReports(t)...)
	kinds := map[finding.Kind]int{}
	commands := 0
	for _, c := range cases {
		var effects [][]effect
		for _, f := range c.r.Findings {
			kinds[f.Kind]++
			fx, n := checkRemedy(t, c.name, f)
			effects = append(effects, fx)
			commands += n
		}
		checkCoherent(t, c.name, c.r.Findings, effects)
	}
	// The test is only as good as what it saw: every finding kind of the
	// fixtures, with commands to parse.
	for _, k := range []finding.Kind{finding.NLBStaleClusterMAC, finding.MulticastFlooding, finding.UnicastFlooding,
		finding.NLBModeChange, finding.MACChange, finding.DuplicateIP, finding.DuplicateHostPriority, finding.PortRuleMismatch,
		finding.HeartbeatGap, finding.IGMPMemberMissing, finding.IGMPNoQuerier, finding.StaleStaticARP, finding.HyperVMACSpoofing} {
		if kinds[k] == 0 {
			t.Errorf("no %s finding among the %d reports: the remedy checks did not cover it", k, len(cases))
		}
	}
	t.Logf("%d reports, %d findings of %d kinds, %d commands checked", len(cases), sum(kinds), len(kinds), commands)
}

func sum(m map[finding.Kind]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// effect is what a command does to a table an admin keeps: a static ARP
// entry on a router, a MAC table entry on a switch, a neighbour entry.
type effect struct {
	add   bool
	table string // cisco-arp, cisco-mac, bridge-mdb, bridge-fdb, linux-neigh, windows-neigh
	ip    netip.Addr
	mac   addr.MAC // zero: any MAC (a removal of every entry of ip)
	vlan  string
}

var (
	placeholderRE = regexp.MustCompile(`<[^<>]*>`)
	// Commands written outside backquotes, which a script cannot extract
	// (and a reader may paste with the prose around them).
	bareCommandRE = regexp.MustCompile(`\b(no arp \d|arp \d+\.\d+\.\d+\.\d+ [0-9a-f]{4}\.|clear ip arp|mac address-table|show (mac|ip|monitor) |monitor session [\d<]|erspan-id \d|type erspan-source|ip (neigh|link|igmp) |bridge (mdb|fdb) |(Get|Set|Remove|New|Restart|Add)-[A-Z][A-Za-z]+|nlb\.exe \w)`)
)

// checkRemedy checks one finding's remedy and returns the effects of its
// commands and how many there were.
func checkRemedy(t *testing.T, report string, f finding.Finding) ([]effect, int) {
	t.Helper()
	where := fmt.Sprintf("%s: %s %q", report, f.Kind, f.Subject)
	for _, p := range placeholderRE.FindAllString(f.Remedy, -1) {
		switch {
		case !slices.Contains(remedy.Placeholders, p):
			t.Errorf("%s: placeholder %s is not one for what a capture cannot know (%v): %s", where, p, remedy.Placeholders, f.Remedy)
		case p == remedy.VLAN && f.VLAN != 0:
			t.Errorf("%s: placeholder %s, but the finding knows VLAN %d: %s", where, p, f.VLAN, f.Remedy)
		}
	}
	if strings.Count(f.Remedy, "`")%2 != 0 {
		t.Errorf("%s: unbalanced backquotes: %s", where, f.Remedy)
	}
	prose := f.Remedy
	cmds := remedy.Commands(f.Remedy)
	for _, c := range cmds {
		prose = strings.Replace(prose, "`"+c+"`", "", 1)
	}
	if m := bareCommandRE.FindString(prose); m != "" {
		t.Errorf("%s: command %q outside backquotes: %s", where, m, f.Remedy)
	}
	var effects []effect
	for _, c := range cmds {
		fx, err := parseCommand(c)
		if err != nil {
			t.Errorf("%s: `%s`: %v", where, c, err)
			continue
		}
		for _, e := range fx {
			if e.vlan != "" && e.vlan != remedy.VLAN && f.VLAN != 0 && e.vlan != strconv.Itoa(int(f.VLAN)) {
				t.Errorf("%s: `%s` is for VLAN %s, the finding's is %d", where, c, e.vlan, f.VLAN)
			}
		}
		effects = append(effects, fx...)
	}
	return effects, len(cmds)
}

// staleMACs are the MACs a finding says are stale or superseded: pinning
// them anywhere contradicts it.
func staleMACs(f finding.Finding) []addr.MAC {
	switch f.Kind {
	case finding.NLBStaleClusterMAC, finding.StaleStaticARP, finding.NLBModeChange:
		if len(f.MACs) > 0 {
			return f.MACs[:1] // the stale answer, the stale entry, the mode left behind
		}
	}
	return nil
}

// checkCoherent fails on two findings of one report whose remedies
// contradict each other.
func checkCoherent(t *testing.T, report string, fs []finding.Finding, effects [][]effect) {
	t.Helper()
	same := func(a, b effect) bool {
		return a.table == b.table && a.ip == b.ip && (a.mac == b.mac || a.mac.IsZero() || b.mac.IsZero()) &&
			(a.vlan == b.vlan || a.vlan == "" || b.vlan == "")
	}
	for i := range fs {
		for j := range fs {
			if i == j {
				continue
			}
			for _, a := range effects[i] {
				if !a.add {
					continue
				}
				for _, r := range effects[j] {
					if !r.add && same(a, r) {
						t.Errorf("%s: %s %q adds %s entry %v %v and %s %q removes it", report, fs[i].Kind, fs[i].Subject,
							a.table, a.ip, a.mac, fs[j].Kind, fs[j].Subject)
					}
					if !r.add && !r.mac.IsZero() && r.mac == a.mac {
						t.Errorf("%s: %s %q adds %v (%s) which %s %q removes (%s)", report, fs[i].Kind, fs[i].Subject,
							a.mac, a.table, fs[j].Kind, fs[j].Subject, r.table)
					}
				}
				if slices.Contains(staleMACs(fs[j]), a.mac) {
					t.Errorf("%s: %s %q pins %v (%s), which %s %q says is stale", report, fs[i].Kind, fs[i].Subject,
						a.mac, a.table, fs[j].Kind, fs[j].Subject)
				}
			}
		}
		for _, a := range effects[i] {
			if a.add && slices.Contains(staleMACs(fs[i]), a.mac) {
				t.Errorf("%s: %s %q pins %v, the MAC it says is stale: %s", report, fs[i].Kind, fs[i].Subject, a.mac, fs[i].Remedy)
			}
		}
	}
}

// tokens splits a command line into words; a quoted string ('...') and a
// placeholder (<...>) are one word each.
func tokens(s string) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " ") {
		end := strings.IndexByte(s, ' ')
		switch {
		case s[0] == '\'':
			end = strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			end += 2
		case s[0] == '<':
			end = strings.IndexByte(s, '>')
			if end < 0 {
				return nil, fmt.Errorf("unterminated placeholder")
			}
			end++
		}
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out, nil
}

// parseCommand checks one command against the grammar of its family and
// returns what it changes.
func parseCommand(cmd string) ([]effect, error) {
	w, err := tokens(cmd)
	if err != nil {
		return nil, err
	}
	if len(w) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	switch {
	case w[0] == "bridge" || (w[0] == "ip" && len(w) > 1 && (w[1] == "neigh" || w[1] == "link")):
		return parseLinux(w)
	case w[0] == "nlb.exe":
		return nil, parseNLBExe(w)
	case strings.Contains(w[0], "-") && w[0][0] >= 'A' && w[0][0] <= 'Z':
		return parsePowerShell(cmd)
	default:
		return parseCisco(w)
	}
}

// Words of the Cisco and Linux grammars.
var (
	ciscoMACRE  = regexp.MustCompile(`^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$`)
	ciscoIfRE   = regexp.MustCompile(`^(GigabitEthernet|TenGigabitEthernet|TwentyFiveGigE|FortyGigabitEthernet|HundredGigE|FastEthernet|Port-channel|Gi|Te|Fa|Po|Twe|Fo|Hu)\d+(/\d+)*(\.\d+)?$`)
	colonMACRE  = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)
	dashedMACRE = regexp.MustCompile(`^[0-9A-F]{2}(-[0-9A-F]{2}){5}$`)
	ifNameRE    = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)
)

func ipv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return a, nil
}

func ciscoMAC(s string) (addr.MAC, error) {
	if !ciscoMACRE.MatchString(s) {
		return addr.MAC{}, fmt.Errorf("%q is not a MAC in Cisco's dotted form", s)
	}
	return addr.ParseMAC(s)
}

// numberIn checks that s, the argument of what, is a number from lo to hi.
func numberIn(what, s string, lo, hi int) error {
	if n, err := strconv.Atoi(s); err != nil || n < lo || n > hi {
		return fmt.Errorf("%s %q: want a number from %d to %d", what, s, lo, hi)
	}
	return nil
}

// vlanWord is a VLAN ID (1-4094) or the unknown-VLAN placeholder.
func vlanWord(s string) error {
	if s == remedy.VLAN {
		return nil
	}
	if n, err := strconv.Atoi(s); err != nil || n < 1 || n > 4094 {
		return fmt.Errorf("%q is not a VLAN ID", s)
	}
	return nil
}

// parseCisco follows the Cisco IOS command references:
//   - IP Addressing Services Command Reference, "arp (global)":
//     [no] arp ip-address hardware-address encap-type [interface-type],
//     encap-type arpa | sap | smds | snap | srp-a | srp-b; hardware-address
//     in dotted form (H.H.H);
//   - "clear ip arp [ip-address]";
//   - Catalyst command references, "mac address-table static":
//     mac address-table static mac-addr vlan vlan-id {interface interface-id
//     [interface-id ...] | drop}; no mac address-table static mac-addr vlan
//     vlan-id [interface interface-id]; multicast MACs take several ports;
//   - "show mac address-table address mac-addr [vlan vlan-id]";
//   - "show ip igmp snooping groups [vlan vlan-id]", "show ip igmp snooping
//     querier [vlan vlan-id]", "ip igmp snooping querier" (global);
//   - ERSPAN source sessions (IOS XE configuration guides, "Configuring
//     ERSPAN"): monitor session span-session-number type erspan-source
//     (1 to 1024), in it the destination submode ("destination"), and in
//     that "erspan-id erspan-flow-id" (1 to 1023) and "mtu mtu-size" (176
//     to 9000); "show monitor [session {session-number | all | local |
//     remote | erspan-source | erspan-destination} [detail]]".
func parseCisco(w []string) ([]effect, error) {
	line := strings.Join(w, " ")
	neg := w[0] == "no"
	if neg {
		w = w[1:]
	}
	optVLAN := func(rest []string) error {
		switch {
		case len(rest) == 0:
			return nil
		case len(rest) == 2 && rest[0] == "vlan":
			return vlanWord(rest[1])
		}
		return fmt.Errorf("unexpected %q", strings.Join(rest, " "))
	}
	switch {
	case len(w) >= 4 && w[0] == "arp":
		ip, err := ipv4(w[1])
		if err != nil {
			return nil, err
		}
		mac, err := ciscoMAC(w[2])
		if err != nil {
			return nil, err
		}
		if !slices.Contains([]string{"arpa", "sap", "smds", "snap", "srp-a", "srp-b"}, strings.ToLower(w[3])) || len(w) > 5 {
			return nil, fmt.Errorf("want arp IP H.H.H ARPA [interface], got %q", line)
		}
		return []effect{{add: !neg, table: "cisco-arp", ip: ip, mac: mac}}, nil
	case !neg && len(w) >= 3 && w[0] == "clear" && w[1] == "ip" && w[2] == "arp":
		if len(w) == 4 {
			_, err := ipv4(w[3])
			return nil, err
		}
		if len(w) > 4 {
			return nil, fmt.Errorf("want clear ip arp [IP], got %q", line)
		}
		return nil, nil
	case len(w) >= 6 && w[0] == "mac" && w[1] == "address-table" && w[2] == "static" && w[4] == "vlan":
		mac, err := ciscoMAC(w[3])
		if err != nil {
			return nil, err
		}
		if err := vlanWord(w[5]); err != nil {
			return nil, err
		}
		rest := w[6:]
		switch {
		case neg && len(rest) == 0:
		case len(rest) == 1 && rest[0] == "drop":
		case len(rest) >= 2 && rest[0] == "interface":
			for _, i := range rest[1:] {
				if i != remedy.SwitchPorts && !ciscoIfRE.MatchString(i) {
					return nil, fmt.Errorf("%q is not a switch interface", i)
				}
			}
		default:
			return nil, fmt.Errorf("want mac address-table static H.H.H vlan N interface IF..., got %q", line)
		}
		return []effect{{add: !neg, table: "cisco-mac", mac: mac, vlan: w[5]}}, nil
	case !neg && len(w) >= 5 && strings.Join(w[:4], " ") == "show mac address-table address":
		if _, err := ciscoMAC(w[4]); err != nil {
			return nil, err
		}
		return nil, optVLAN(w[5:])
	case !neg && len(w) >= 5 && strings.Join(w[:4], " ") == "show ip igmp snooping" && (w[4] == "groups" || w[4] == "querier"):
		return nil, optVLAN(w[5:])
	case len(w) == 4 && strings.Join(w, " ") == "ip igmp snooping querier":
		return nil, nil
	case !neg && len(w) == 5 && w[0] == "monitor" && w[1] == "session" && w[3] == "type" && w[4] == "erspan-source":
		if w[2] == remedy.MonitorSession {
			return nil, nil
		}
		return nil, numberIn("monitor session", w[2], 1, 1024)
	case !neg && len(w) == 1 && w[0] == "destination":
		return nil, nil
	case !neg && len(w) == 2 && w[0] == "erspan-id":
		return nil, numberIn("erspan-id", w[1], 1, 1023)
	case !neg && len(w) == 2 && w[0] == "mtu":
		return nil, numberIn("ERSPAN mtu", w[1], 176, 9000)
	case !neg && len(w) >= 3 && strings.Join(w[:3], " ") == "show monitor session":
		rest := w[3:]
		if len(rest) > 0 && rest[len(rest)-1] == "detail" {
			rest = rest[:len(rest)-1]
		}
		if len(rest) == 1 && slices.Contains([]string{"all", "local", "remote", "erspan-source", "erspan-destination"}, rest[0]) {
			return nil, nil
		}
		if len(rest) == 1 {
			return nil, numberIn("monitor session", rest[0], 1, 1024)
		}
		return nil, fmt.Errorf("want show monitor session {N | all | local | remote | erspan-source | erspan-destination} [detail], got %q", line)
	}
	return nil, fmt.Errorf("not a Cisco IOS command this grammar knows: %q", line)
}

// parseLinux follows iproute2's manuals:
//   - ip-neighbour(8): ip neigh { add | change | replace } ADDR [ lladdr
//     LLADDR ] [ nud STATE ] dev DEV; ip neigh del ADDR dev DEV;
//   - ip-link(8), bridge type: ip link set dev DEV type bridge [
//     mcast_snooping 0|1 ] [ mcast_querier 0|1 ];
//   - bridge(8): bridge mdb { add | del } dev DEV port PORT grp GROUP [ src
//     SOURCE ] [ permanent | temp ] [ vid VID ], where GROUP is an IPv4,
//     IPv6 or L2 multicast address and "permanent" is mandatory for L2;
//     bridge mdb show [ dev DEV ] [ vid VID ]; bridge fdb { add | append |
//     del | replace } LLADDR dev DEV [ self ] [ master ] [ local | static |
//     dynamic ] [ vlan VID ].
func parseLinux(w []string) ([]effect, error) {
	line := strings.Join(w, " ")
	dev := func(s string) error {
		if s == remedy.Bridge || s == remedy.BridgePort || ifNameRE.MatchString(s) {
			return nil
		}
		return fmt.Errorf("%q is not an interface name", s)
	}
	// opts parses "key value" pairs and flags after the fixed words.
	opts := func(rest []string, withValue, flags []string) (map[string]string, error) {
		got := map[string]string{}
		for i := 0; i < len(rest); i++ {
			switch {
			case slices.Contains(withValue, rest[i]) && i+1 < len(rest):
				got[rest[i]] = rest[i+1]
				i++
			case slices.Contains(flags, rest[i]):
				got[rest[i]] = ""
			default:
				return nil, fmt.Errorf("unexpected %q in %q", rest[i], line)
			}
		}
		return got, nil
	}
	switch {
	case w[0] == "ip" && w[1] == "neigh" && len(w) >= 4 && slices.Contains([]string{"add", "change", "replace"}, w[2]):
		ip, err := netip.ParseAddr(w[3])
		if err != nil {
			return nil, err
		}
		o, err := opts(w[4:], []string{"lladdr", "nud", "dev"}, []string{"router"})
		if err != nil {
			return nil, err
		}
		if err := dev(o["dev"]); err != nil {
			return nil, fmt.Errorf("ip neigh %s needs dev DEV: %w", w[2], err)
		}
		mac, err := addr.ParseMAC(o["lladdr"])
		if err != nil || !colonMACRE.MatchString(o["lladdr"]) {
			return nil, fmt.Errorf("lladdr %q is not a MAC in colon form", o["lladdr"])
		}
		if n, ok := o["nud"]; ok && !slices.Contains([]string{"permanent", "noarp", "reachable", "stale", "none", "delay", "probe", "failed", "incomplete"}, n) {
			return nil, fmt.Errorf("nud %q is not a neighbour state", n)
		}
		return []effect{{add: true, table: "linux-neigh", ip: ip, mac: mac}}, nil
	case w[0] == "ip" && w[1] == "neigh" && len(w) == 6 && w[2] == "del" && w[4] == "dev":
		ip, err := netip.ParseAddr(w[3])
		if err != nil {
			return nil, err
		}
		return []effect{{table: "linux-neigh", ip: ip}}, dev(w[5])
	case w[0] == "ip" && w[1] == "link" && len(w) >= 8 && w[2] == "set" && w[3] == "dev" && w[5] == "type" && w[6] == "bridge":
		if err := dev(w[4]); err != nil {
			return nil, err
		}
		o, err := opts(w[7:], []string{"mcast_snooping", "mcast_querier"}, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range o {
			if v != "0" && v != "1" {
				return nil, fmt.Errorf("%s %q: want 0 or 1", k, v)
			}
		}
		return nil, nil
	case w[0] == "bridge" && len(w) >= 3 && w[1] == "mdb" && w[2] == "show":
		_, err := opts(w[3:], []string{"dev", "vid"}, nil)
		return nil, err
	case w[0] == "bridge" && len(w) >= 3 && w[1] == "mdb" && (w[2] == "add" || w[2] == "del"):
		o, err := opts(w[3:], []string{"dev", "port", "grp", "src", "vid"}, []string{"permanent", "temp"})
		if err != nil {
			return nil, err
		}
		if err := dev(o["dev"]); err != nil {
			return nil, fmt.Errorf("bridge mdb %s needs dev: %w", w[2], err)
		}
		if err := dev(o["port"]); err != nil {
			return nil, fmt.Errorf("bridge mdb %s needs port: %w", w[2], err)
		}
		var e effect
		e.add, e.table = w[2] == "add", "bridge-mdb"
		grp := o["grp"]
		if ip, err := netip.ParseAddr(grp); err == nil {
			if !ip.IsMulticast() {
				return nil, fmt.Errorf("grp %v is not a multicast group", ip)
			}
			e.ip = ip
		} else {
			mac, err := addr.ParseMAC(grp)
			if err != nil || !colonMACRE.MatchString(grp) || !mac.IsMulticast() {
				return nil, fmt.Errorf("grp %q is not an IP group or an L2 multicast MAC in colon form", grp)
			}
			if _, ok := o["permanent"]; !ok && e.add {
				return nil, fmt.Errorf("an L2 group (%s) takes only permanent entries", grp)
			}
			e.mac = mac
		}
		if v, ok := o["vid"]; ok {
			if err := vlanWord(v); err != nil || v == remedy.VLAN {
				return nil, fmt.Errorf("vid %q is not a VLAN ID", v)
			}
			e.vlan = v
		}
		return []effect{e}, nil
	case w[0] == "bridge" && len(w) >= 4 && w[1] == "fdb" && slices.Contains([]string{"add", "append", "del", "replace"}, w[2]):
		mac, err := addr.ParseMAC(w[3])
		if err != nil || !colonMACRE.MatchString(w[3]) {
			return nil, fmt.Errorf("%q is not a MAC in colon form", w[3])
		}
		o, err := opts(w[4:], []string{"dev", "vlan"}, []string{"self", "master", "local", "static", "dynamic"})
		if err != nil {
			return nil, err
		}
		if err := dev(o["dev"]); err != nil {
			return nil, err
		}
		return []effect{{add: w[2] != "del", table: "bridge-fdb", mac: mac, vlan: o["vlan"]}}, nil
	}
	return nil, fmt.Errorf("not an ip/bridge command this grammar knows: %q", line)
}

// parseNLBExe follows the nlb.exe command reference (Windows Server 2008
// R2 and later, "Nlb"): nlb {query | display | params | reload | ip2mac
// cluster} with an optional cluster[:host] for the first four.
func parseNLBExe(w []string) error {
	switch {
	case len(w) == 2 && slices.Contains([]string{"query", "display", "params", "reload"}, w[1]):
		return nil
	case len(w) == 3 && w[1] == "ip2mac":
		_, err := ipv4(w[2])
		return err
	}
	return fmt.Errorf("not an nlb.exe command this grammar knows: %q", strings.Join(w, " "))
}

// psParam is how a PowerShell parameter takes its value.
type psParam string

const (
	psString psParam = "string" // a bare word, a quoted string, or '<placeholder>'
	psIP     psParam = "ip"
	psDashed psParam = "dashed-mac" // 03-BF-AC-1F-01-E8
	psSwitch psParam = "switch"     // no value, or :$true / :$false
	psPrio   psParam = "priority"   // 1..32
	psVMName psParam = "vmname"     // a string, or * for every VM
)

// psCmdlet is a cmdlet's documented syntax, as far as remedies use it: its
// parameters, the object type it takes from the pipeline and writes to it,
// and the parameters it needs when nothing comes from the pipeline.
type psCmdlet struct {
	params   map[string]psParam
	enums    map[string][]string
	in, out  string
	required []string // without pipeline input, one of these is needed
}

// psCmdlets follows the PowerShell module references on learn.microsoft.com:
// NetTCPIP (Remove-NetNeighbor, Get-NetNeighbor), NetAdapter
// (Restart-NetAdapter), NetworkLoadBalancingClusters (Get-NlbCluster,
// Set-NlbCluster, Get-NlbClusterNode, Set-NlbClusterNode,
// Get-NlbClusterPortRule) and Hyper-V (Get-VMNetworkAdapter,
// Set-VMNetworkAdapter, Get-VMNetworkAdapterVlan). Set-NlbCluster and
// Set-NlbClusterNode take -InterfaceName in their NonPipeline set and a
// Cluster or Node object in their Pipeline set; Set-VMNetworkAdapter and
// Get-VMNetworkAdapterVlan take -VMName or VMNetworkAdapter objects.
var psCmdlets = map[string]psCmdlet{
	"Remove-NetNeighbor": {params: map[string]psParam{"IPAddress": psIP, "LinkLayerAddress": psDashed, "InterfaceAlias": psString, "Confirm": psSwitch},
		required: []string{"IPAddress", "InterfaceAlias", "LinkLayerAddress"}},
	"Get-NetNeighbor":    {params: map[string]psParam{"IPAddress": psIP, "LinkLayerAddress": psDashed, "InterfaceAlias": psString}, out: "NetNeighbor"},
	"Restart-NetAdapter": {params: map[string]psParam{"Name": psString, "Confirm": psSwitch}, required: []string{"Name"}},
	"Get-NlbCluster":     {params: map[string]psParam{"HostName": psString, "InterfaceName": psString}, out: "Cluster"},
	"Set-NlbCluster": {params: map[string]psParam{"HostName": psString, "InterfaceName": psString, "ClusterPrimaryIP": psIP, "Name": psString, "OperationMode": psString},
		enums: map[string][]string{"OperationMode": {"Unicast", "Multicast", "IgmpMulticast"}}, in: "Cluster", required: []string{"InterfaceName"}},
	"Get-NlbClusterNode": {params: map[string]psParam{"NodeName": psString, "HostName": psString, "InterfaceName": psString}, in: "Cluster", out: "Node"},
	"Set-NlbClusterNode": {params: map[string]psParam{"HostName": psString, "InterfaceName": psString, "HostPriority": psPrio, "Force": psSwitch, "Reload": psSwitch},
		in: "Node", required: []string{"InterfaceName"}},
	"Get-NlbClusterPortRule": {params: map[string]psParam{"HostName": psString, "InterfaceName": psString, "IP": psIP}, out: "PortRule"},
	"Get-VMNetworkAdapter":   {params: map[string]psParam{"VMName": psVMName, "Name": psString, "All": psSwitch, "ManagementOS": psSwitch}, out: "VMNetworkAdapter"},
	"Set-VMNetworkAdapter": {params: map[string]psParam{"VMName": psString, "Name": psString, "MacAddressSpoofing": psString},
		enums: map[string][]string{"MacAddressSpoofing": {"On", "Off"}}, in: "VMNetworkAdapter", required: []string{"VMName"}},
	"Get-VMNetworkAdapterVlan": {params: map[string]psParam{"VMName": psVMName}, in: "VMNetworkAdapter", required: []string{"VMName"}, out: "VMNetworkAdapterVlanSetting"},
}

// psProperties are the properties remedies filter or show, per object type.
var psProperties = map[string][]string{
	"VMNetworkAdapter": {"VMName", "Name", "SwitchName", "MacAddress", "MacAddressSpoofing", "Status", "IPAddresses"},
	"Node":             {"Name", "State", "HostPriority", "InterfaceName"},
	"NetNeighbor":      {"IPAddress", "LinkLayerAddress", "State", "InterfaceAlias"},
}

var hyperVMACRE = regexp.MustCompile(`^'[0-9A-F]{12}'$`)

// parsePowerShell checks a pipeline of the cmdlets above (and Where-Object
// in its simplified form, Where-Object Property -eq 'value', and
// Format-List with a property list, both from Microsoft.PowerShell.Core /
// Utility) and returns what it changes.
func parsePowerShell(line string) ([]effect, error) {
	var effects []effect
	flowing := "" // the object type coming down the pipeline
	for i, stage := range strings.Split(line, " | ") {
		w, err := tokens(stage)
		if err != nil {
			return nil, err
		}
		name := w[0]
		switch name {
		case "Where-Object":
			if i == 0 || len(w) != 4 || w[2] != "-eq" || !slices.Contains(psProperties[flowing], w[1]) {
				return nil, fmt.Errorf("want Where-Object Property -eq 'value' on %s objects, got %q", flowing, stage)
			}
			if w[1] == "MacAddress" && !hyperVMACRE.MatchString(w[3]) {
				return nil, fmt.Errorf("a vNIC's MacAddress is 12 upper-case hex digits, got %s", w[3])
			}
			continue
		case "Format-List":
			if i == 0 {
				return nil, fmt.Errorf("Format-List of nothing")
			}
			for _, p := range strings.Split(strings.Join(w[1:], " "), ", ") {
				if !slices.Contains(psProperties[flowing], p) {
					return nil, fmt.Errorf("%s objects have no property %q (known: %v)", flowing, p, psProperties[flowing])
				}
			}
			flowing = ""
			continue
		}
		c, ok := psCmdlets[name]
		if !ok {
			return nil, fmt.Errorf("cmdlet %s is not one this grammar knows", name)
		}
		if i > 0 && (c.in == "" || c.in != flowing) {
			return nil, fmt.Errorf("%s does not take %q objects from the pipeline", name, flowing)
		}
		got := map[string]string{}
		for j := 1; j < len(w); j++ {
			p, value, hasColon := strings.Cut(strings.TrimPrefix(w[j], "-"), ":")
			kind, ok := c.params[p]
			if !strings.HasPrefix(w[j], "-") || !ok {
				return nil, fmt.Errorf("%s has no parameter %q", name, w[j])
			}
			if kind == psSwitch {
				if hasColon && value != "$true" && value != "$false" {
					return nil, fmt.Errorf("%s -%s:%s: want $true or $false", name, p, value)
				}
				got[p] = value
				continue
			}
			if hasColon || j+1 >= len(w) {
				return nil, fmt.Errorf("%s -%s needs a value", name, p)
			}
			j++
			v := w[j]
			got[p] = v
			switch kind {
			case psIP:
				if _, err := netip.ParseAddr(v); err != nil {
					return nil, fmt.Errorf("%s -%s %q: %v", name, p, v, err)
				}
			case psDashed:
				if !dashedMACRE.MatchString(v) {
					return nil, fmt.Errorf("%s -%s %q: want a MAC like 03-BF-AC-1F-01-E8", name, p, v)
				}
			case psPrio:
				if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 32 {
					return nil, fmt.Errorf("%s -%s %q: want a host priority 1..32", name, p, v)
				}
			case psString, psVMName:
				if kind == psVMName && v == "*" {
					break
				}
				quoted := len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\''
				if !quoted && !regexp.MustCompile(`^[A-Za-z0-9_.-]+$`).MatchString(v) {
					return nil, fmt.Errorf("%s -%s %s: quote a value with spaces or placeholders", name, p, v)
				}
				if vals := c.enums[p]; vals != nil && !slices.Contains(vals, v) {
					return nil, fmt.Errorf("%s -%s %s: want one of %v", name, p, v, vals)
				}
			}
		}
		if i == 0 && len(c.required) > 0 && !slices.ContainsFunc(c.required, func(p string) bool { _, ok := got[p]; return ok }) {
			return nil, fmt.Errorf("%s without pipeline input needs -%s", name, strings.Join(c.required, " or -"))
		}
		if name == "Remove-NetNeighbor" {
			ip, _ := netip.ParseAddr(got["IPAddress"])
			var mac addr.MAC
			if v, ok := got["LinkLayerAddress"]; ok {
				mac, _ = addr.ParseMAC(v)
			}
			effects = append(effects, effect{table: "windows-neigh", ip: ip, mac: mac})
		}
		flowing = c.out
	}
	return effects, nil
}

// TestCommandGrammars makes sure the grammars reject what they must: a
// grammar that accepts anything would let every remedy pass.
func TestCommandGrammars(t *testing.T) {
	for _, c := range []struct {
		cmd string
		ok  bool
	}{
		{"arp 172.31.1.232 03bf.ac1f.01e8 ARPA", true},
		{"no arp 172.31.1.232 03bf.ac1f.01e8 ARPA", true},
		{"arp 172.31.1.232 03bf.ac1f.01e8", false},         // no encapsulation
		{"arp <VIP> 03bf.ac1f.01e8 ARPA", false},           // the old placeholder
		{"arp 172.31.1.232 03:bf:ac:1f:01:e8 ARPA", false}, // not Cisco's notation
		{"mac address-table static 03bf.ac1f.01e8 vlan 10 interface <switch ports>", true},
		{"mac address-table static 03bf.ac1f.01e8 vlan 10 interface Gi1/0/1 Gi1/0/2", true},
		{"mac address-table static 03bf.ac1f.01e8 vlan <N> interface ...", false},
		{"mac address-table static 03bf.ac1f.01e8 vlan 5000 interface Gi1/0/1", false},
		{"clear ip arp 10.0.0.50", true},
		{"clear ip arp 10.0.0.50 now", false},
		{"show mac address-table address 0011.2233.4455 vlan 10", true},
		{"ip igmp snooping querier", true},
		{"ip neigh replace 10.0.0.50 lladdr 01:00:5e:7f:00:32 dev eth0 nud permanent", true},
		{"ip neigh replace 10.0.0.50 lladdr 01:00:5e:7f:00:32 nud permanent", false}, // no dev
		{"ip neigh del 10.0.0.50 dev eth0", true},
		{"ip link set dev <bridge> type bridge mcast_querier 1", true},
		{"ip link set dev <bridge> type bridge mcast_querier yes", false},
		{"bridge mdb add dev <bridge> port <bridge port> grp 03:bf:ac:1f:01:e8 permanent vid 10", true},
		{"bridge mdb add dev <bridge> port <bridge port> grp 03:bf:ac:1f:01:e8", false}, // L2 groups are permanent only
		{"bridge mdb add dev BR port P grp 02:bf:ac:1f:01:e8 permanent", false},         // not multicast
		{"bridge mdb add ... grp 01:00:5e:7f:03:e8 permanent", false},
		{"bridge mdb show", true},
		{"Remove-NetNeighbor -IPAddress 10.0.0.50 -LinkLayerAddress 02-BF-0A-00-00-32 -Confirm:$false", true},
		{"Remove-NetNeighbor -IPAddress 10.0.0.50 -LinkLayerAddress 02:bf:0a:00:00:32", false},
		{"Remove-NetNeighbor -Confirm:$false", false},
		{"Get-NlbCluster | Set-NlbCluster -OperationMode IgmpMulticast", true},
		{"Set-NlbCluster -OperationMode IgmpMulticast", false}, // needs -InterfaceName without a pipeline
		{"Get-NlbCluster | Set-NlbCluster -OperationMode IGMP", false},
		{"Set-NlbClusterNode -InterfaceName '<NLB adapter>' -HostPriority 3", true},
		{"Set-NlbClusterNode -HostPriority", false},
		{"Set-NlbClusterNode -InterfaceName Ethernet -HostPriority 33", false},
		{"Get-VMNetworkAdapter -VMName * | Where-Object MacAddress -eq '00155D1F01E6' | Set-VMNetworkAdapter -MacAddressSpoofing On", true},
		{"Get-VMNetworkAdapter -VMName * | Where-Object MacAddress -eq '00:15:5d:1f:01:e6' | Set-VMNetworkAdapter -MacAddressSpoofing On", false},
		{"Set-VMNetworkAdapter -VMName '<VM name>' -MacAddressSpoofing On", true},
		{"Set-VMNetworkAdapter -VMName <VM name> -MacAddressSpoofing On", false}, // '<' unquoted is a PowerShell parse error
		{"Set-VMNetworkAdapter -MacAddressSpoofing On", false},
		{"Get-NlbCluster | Set-VMNetworkAdapter -MacAddressSpoofing On", false},
		{"Get-VMNetworkAdapter -VMName * | Where-Object MacAddress -eq '00155D1F01E6' | Format-List VMName, SwitchName, MacAddressSpoofing", true},
		{"Get-VMNetworkAdapter -VMName * | Format-List VMName, Spoofing", false},
		{"nlb.exe query", true},
		{"nlb.exe ip2mac 10.0.0.50", true},
		{"nlb.exe frobnicate", false},
		{"Set-NlbClusterNode -HostPriority", false},
		{"configure terminal", false},
	} {
		_, err := parseCommand(c.cmd)
		if (err == nil) != c.ok {
			t.Errorf("%q: error %v, want ok %v", c.cmd, err, c.ok)
		}
	}
}
