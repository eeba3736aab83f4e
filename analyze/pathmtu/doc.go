// Package pathmtu decides which probe sizes to send to find the largest IP
// packet a path carries, and what the answers mean: the path MTU, whether a
// router said so by ICMP ("fragmentation needed", "packet too big") or a
// search through silence found it, and whether the path is a black hole
// (large probes vanish without ICMP while small ones are answered) or the
// target is simply dead.
//
// It owns no socket and no clock. A Search is fed outcomes (what came back
// for a probe of a given size, and the round-trip time the caller measured)
// and hands out the next probe, so it runs the same against the kernel
// (cmd/nlbprobe with capture.Prober) and against a simulated path in tests.
// It also holds the jumbo-frame arithmetic that turns an IP MTU into the
// Ethernet frame sizes switches and Windows NIC settings quote.
package pathmtu
