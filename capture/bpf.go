package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// DefaultSnaplen is how many bytes of each frame a live capture keeps when
// no snaplen is given: all of any frame, as tcpdump keeps by default.
const DefaultSnaplen = 262144

// FilterExpression is the pre-filter of PreFilter in pcap-filter(7)
// syntax, for untagged frames: what to give tcpdump to capture the same
// frames (PreFilter also passes the same protocols behind one or two VLAN
// tags, which this expression cannot say without libpcap's offset-shifting
// `vlan` keyword).
const FilterExpression = "arp or igmp or icmp or ether proto 0x886f or ether proto 0xbf01 or " +
	"ether[0:2] = 0x02bf or ether[0:2] = 0x03bf or ether[0:4] = 0x01005e7f or " +
	// A remote span's frames: ERSPAN (GRE 0x88BE, 0x22EB), VXLAN.
	"(ip proto 47 and (ip[((ip[0]&0xf)<<2)+2:2] = 0x88be or ip[((ip[0]&0xf)<<2)+2:2] = 0x22eb)) or " +
	"(ip6 proto 47 and (ip6[42:2] = 0x88be or ip6[42:2] = 0x22eb)) or udp dst port 4789"

// EtherTypes and IP protocols the pre-filter passes.
const (
	etherTypeIPv4      = 0x0800
	etherTypeIPv6      = 0x86DD
	etherTypeARP       = 0x0806
	etherTypeNLB       = 0x886F
	etherTypeNLBLegacy = 0xBF01
	etherTypeDot1Q     = 0x8100
	etherTypeDot1AD    = 0x88A8
	etherTypeQinQOld   = 0x9100 // pre-standard QinQ, still sent by some switches
	ipProtoICMP        = 1
	ipProtoIGMP        = 2
	ipProtoUDP         = 17
	ipProtoGRE         = 47
	greProtoERSPAN     = 0x88BE // ERSPAN types I and II
	greProtoERSPAN3    = 0x22EB
	udpPortVXLAN       = 4789
)

// PreFilter returns the classic BPF program that a live capture attaches
// to its socket so the kernel hands nlbprobe only what it analyzes: ARP,
// IGMP, ICMP, NLB heartbeats (ethertype 0x886F, and 0xBF01 of very old
// versions), every frame to an NLB cluster-form MAC (02:bf:..., 03:bf:...,
// 01:00:5e:7f:...), and a remote span's frames, which carry mirrored ones
// (GRE with ERSPAN's protocol types 0x88BE and 0x22EB, UDP to the VXLAN
// port 4789, over IPv4 or IPv6 without extension headers), cut to snaplen
// bytes. A remote span's frames pass whatever they carry: the filter
// cannot afford to look inside, and a collector receives little else.
//
// The protocols pass with or without 802.1Q/802.1ad tags in the frame (up
// to two). AF_PACKET runs the filter after the driver stripped the outer
// tag into the packet's metadata on most NICs (veth too), so the filter sees
// the inner ethertype at offset 12 there; on NICs that leave the tag in the
// frame, and for the inner tag of QinQ, it skips the tags itself.
//
// Frames too short for a field the program reads are rejected (classic BPF
// aborts with 0 on an out-of-bounds load): a 14-byte IPv4 frame is not
// something nlbprobe could analyze anyway.
func PreFilter(snaplen int) ([]bpf.RawInstruction, error) {
	keep, err := snapValue(snaplen)
	if err != nil {
		return nil, err
	}
	var p program
	// Frames to a cluster-form MAC, whatever they carry: 01:00:5e:7f is
	// the IGMP-mode form, 02:bf and 03:bf the unicast and multicast ones.
	p.op(bpf.LoadAbsolute{Off: 0, Size: 4})
	p.jeq(0x01005e7f, "accept", "")
	p.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16})
	p.jeq(0x02bf, "accept", "")
	p.jeq(0x03bf, "accept", "")
	// X is the offset of the ethertype field; step over up to two tags.
	p.op(bpf.LoadConstant{Dst: bpf.RegX, Val: 12})
	p.op(bpf.LoadIndirect{Off: 0, Size: 2})
	p.jeq(etherTypeDot1Q, "tag1", "")
	p.jeq(etherTypeDot1AD, "tag1", "")
	p.jeq(etherTypeQinQOld, "tag1", "proto")
	p.label("tag1")
	p.op(bpf.LoadConstant{Dst: bpf.RegX, Val: 16})
	p.op(bpf.LoadIndirect{Off: 0, Size: 2})
	p.jeq(etherTypeDot1Q, "tag2", "")
	p.jeq(etherTypeDot1AD, "tag2", "")
	p.jeq(etherTypeQinQOld, "tag2", "proto")
	p.label("tag2")
	p.op(bpf.LoadConstant{Dst: bpf.RegX, Val: 20})
	p.op(bpf.LoadIndirect{Off: 0, Size: 2})
	// A holds the ethertype, X its offset.
	p.label("proto")
	p.jeq(etherTypeARP, "accept", "")
	p.jeq(etherTypeNLB, "accept", "")
	p.jeq(etherTypeNLBLegacy, "accept", "")
	p.jeq(etherTypeIPv6, "ipv6", "")
	p.jeq(etherTypeIPv4, "", "reject")
	// The IPv4 protocol byte: 2 bytes of ethertype, then 9 into the header.
	p.op(bpf.LoadIndirect{Off: 2 + 9, Size: 1})
	p.jeq(ipProtoICMP, "accept", "")
	p.jeq(ipProtoIGMP, "accept", "")
	p.jeq(ipProtoGRE, "gre4", "")
	p.jeq(ipProtoUDP, "udp4", "reject")
	// GRE and UDP: step X over the IPv4 header (IHL words), so that X+2
	// is the GRE or UDP header; both have the field to test at 2-3 (GRE's
	// protocol type, UDP's destination port).
	p.label("gre4")
	p.ipv4Payload()
	p.op(bpf.LoadIndirect{Off: 2 + 2, Size: 2})
	p.jeq(greProtoERSPAN, "accept", "")
	p.jeq(greProtoERSPAN3, "accept", "reject")
	p.label("udp4")
	// A fragment after the first holds no UDP header (libpcap's port
	// tests check the same).
	p.op(bpf.LoadIndirect{Off: 2 + 6, Size: 2})
	p.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x1fff})
	p.jeq(0, "", "reject")
	p.ipv4Payload()
	p.op(bpf.LoadIndirect{Off: 2 + 2, Size: 2})
	p.jeq(udpPortVXLAN, "accept", "reject")
	// IPv6: the next header at 6, the payload at 40.
	p.label("ipv6")
	p.op(bpf.LoadIndirect{Off: 2 + 6, Size: 1})
	p.jeq(ipProtoGRE, "gre6", "")
	p.jeq(ipProtoUDP, "udp6", "reject")
	p.label("gre6")
	p.op(bpf.LoadIndirect{Off: 2 + 40 + 2, Size: 2})
	p.jeq(greProtoERSPAN, "accept", "")
	p.jeq(greProtoERSPAN3, "accept", "reject")
	p.label("udp6")
	p.op(bpf.LoadIndirect{Off: 2 + 40 + 2, Size: 2})
	p.jeq(udpPortVXLAN, "accept", "reject")
	p.label("accept")
	p.op(bpf.RetConstant{Val: keep})
	p.label("reject")
	p.op(bpf.RetConstant{Val: 0})
	return p.assemble()
}

// SnapFilter returns a program that passes every frame, cut to snaplen
// bytes: what `--all` attaches when a snaplen is set (with the default
// snaplen no program is attached at all).
func SnapFilter(snaplen int) ([]bpf.RawInstruction, error) {
	keep, err := snapValue(snaplen)
	if err != nil {
		return nil, err
	}
	return bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: keep}})
}

// maxInstructions is the kernel's limit on a socket filter (BPF_MAXINSNS).
const maxInstructions = 4096

// andPrograms returns a program that accepts a frame when first accepts it
// and then second does, returning second's verdict capped at snaplen: the
// user's capture filter and nlbprobe's pre-filter attached as one socket
// filter. Every accepting return of first becomes a jump to the start of
// second, one instruction for one, so first's own jumps stay as they are
// (classic BPF's conditional jumps reach 255 instructions at most, an
// unconditional one anywhere ahead). Neither program may rely on the
// scratch memory or the registers the other left: libpcap's and
// PreFilter's programs set what they read.
func andPrograms(first, second []bpf.Instruction, snaplen int) ([]bpf.RawInstruction, error) {
	keep, err := snapValue(snaplen)
	if err != nil {
		return nil, err
	}
	out := make([]bpf.Instruction, 0, len(first)+len(second))
	for i, ins := range first {
		switch r := ins.(type) {
		case bpf.RetConstant:
			if r.Val != 0 {
				ins = bpf.Jump{Skip: uint32(len(first) - i - 1)}
			}
		case bpf.RetA:
			return nil, fmt.Errorf("capture: bpf: cannot combine a program that returns A")
		}
		out = append(out, ins)
	}
	for _, ins := range second {
		if r, ok := ins.(bpf.RetConstant); ok && r.Val > keep {
			ins = bpf.RetConstant{Val: keep}
		}
		out = append(out, ins)
	}
	if len(out) > maxInstructions {
		return nil, fmt.Errorf("capture: the capture filter and the pre-filter make %d BPF instructions; the kernel takes %d", len(out), maxInstructions)
	}
	return bpf.Assemble(out)
}

func snapValue(snaplen int) (uint32, error) {
	switch {
	case snaplen == 0:
		return DefaultSnaplen, nil
	case snaplen < 60 || snaplen > DefaultSnaplen:
		return 0, fmt.Errorf("capture: snaplen %d: want 60 to %d bytes", snaplen, DefaultSnaplen)
	}
	return uint32(snaplen), nil
}

// program is a tiny assembler for classic BPF with symbolic jump targets:
// classic BPF only jumps forward by a count of instructions, which is
// error-prone to write by hand.
type program struct {
	ins    []bpf.Instruction
	jumps  map[int][2]string // instruction index -> true and false labels ("" = next)
	labels map[string]int
}

func (p *program) op(i bpf.Instruction) { p.ins = append(p.ins, i) }

// ipv4Payload adds to X, the offset of the ethertype field before an IPv4
// header, the header's length (IHL words of 4 bytes): X+2 is then where the
// IPv4 payload starts.
func (p *program) ipv4Payload() {
	p.op(bpf.LoadIndirect{Off: 2, Size: 1})
	p.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	p.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	p.op(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	p.op(bpf.TAX{})
}

// jeq compares A with val and goes to label ifTrue or ifFalse ("" is the
// next instruction).
func (p *program) jeq(val uint32, ifTrue, ifFalse string) {
	if p.jumps == nil {
		p.jumps = map[int][2]string{}
	}
	p.jumps[len(p.ins)] = [2]string{ifTrue, ifFalse}
	p.ins = append(p.ins, bpf.JumpIf{Cond: bpf.JumpEqual, Val: val})
}

func (p *program) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.ins)
}

func (p *program) assemble() ([]bpf.RawInstruction, error) {
	for at, targets := range p.jumps {
		j := p.ins[at].(bpf.JumpIf)
		for k, name := range targets {
			if name == "" {
				continue
			}
			to, ok := p.labels[name]
			if !ok || to <= at || to-at-1 > 255 {
				return nil, fmt.Errorf("capture: bpf: bad jump from %d to %q", at, name)
			}
			if k == 0 {
				j.SkipTrue = uint8(to - at - 1)
			} else {
				j.SkipFalse = uint8(to - at - 1)
			}
		}
		p.ins[at] = j
	}
	return bpf.Assemble(p.ins)
}
