// Package capture owns everything in nlbprobe that touches the operating
// system: files, sockets and netlink. It hands frames to the analyzer as
// Packets through the Source interface and knows nothing of what is in them.
//
// Files: OpenFiles reads pcap and pcapng files, gzip-compressed or not, and
// merges several of them in time-stamp order the way mergecap does, so that
// frame numbers match those of `mergecap -w merged FILES` opened in
// Wireshark.
//
// Live: OpenLive captures from an interface through an AF_PACKET
// TPACKET_V3 ring (gopacket's afpacket, no cgo) with a kernel BPF
// pre-filter (PreFilter, assembled with x/net/bpf), the interface in
// promiscuous mode for as long as the socket lives, 802.1Q tags put back
// into the frames, and the kernel's drop counters. StaticNeighbours reads
// the permanent entries of the neighbour table through netlink, and
// PcapngWriter saves frames as rotating pcapng files for Wireshark.
//
// Path MTU: the DF-bit ICMP prober that path-MTU searches send through
// (Prober, Session), and the route lookup that names the outgoing interface
// and its MTU (RouteTo).
//
// Linux code lives in *_linux.go; elsewhere the same names exist and return
// ErrUnsupported, so the module builds and vets on every platform.
package capture
