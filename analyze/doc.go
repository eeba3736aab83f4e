// Package analyze is nlbprobe's single-pass engine: frames and their
// capture times go in, one at a time; state and findings come out. It owns
// no sockets, files or clocks, so live capture (watch), capture files
// (read) and the benchmark all drive the same Engine, and every detector is
// tested on fixtures and fuzzed.
//
// The per-frame path (Engine.Packet) decodes with analyze/frame and updates
// the tables of analyze/arp, analyze/igmp, analyze/nlb and analyze/flood,
// allocating nothing in steady state. Work that compares tables (is every
// IGMP-mode host a member of its group? does the ARP binding of a VIP match
// its live cluster?) runs once every few seconds of capture time and at the
// end, not per frame.
package analyze
