// Package capture owns everything that touches a file, a socket or netlink:
// reading capture files, live capture, the ICMP prober, and the kernel and
// interface queries they need. It hands frames to the analyzer as Packets
// through the Source interface and knows nothing of what is in them.
//
// Files: OpenFiles reads pcap and pcapng files, gzip-compressed or not, and
// merges several of them in time-stamp order the way mergecap does, so that
// frame numbers match those of `mergecap -w merged FILES` opened in
// Wireshark.
package capture
