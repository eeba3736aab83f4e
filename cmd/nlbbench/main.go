// Command nlbbench measures `nlbprobe read` against tcpdump and tshark on
// the same capture, and prints frames/s, ns/frame, peak RSS and the ratios
// per round with their median.
//
//	go run ./cmd/nlbbench [--frames N] [--seed S] [--file PATH] [--rounds R]
//	                      [--tshark-rounds T] [--tshark-frames N] [--keep]
//
// It builds nlbprobe, generates the speed issue's mixed capture with the
// fixture generator (fixtures.WriteMixed: 70% client frames to cluster
// MACs, 10% ARP, 5% IGMP, 5% heartbeats cut to 128 bytes, 10% other IPv4,
// 50 clusters), reads it once to warm the page cache, then in each round
// runs in turn:
//
//	nlbprobe read --json FILE > /dev/null      full analysis and report
//	tcpdump -r FILE -w /dev/null 'arp or igmp or ether proto 0x886f'
//	tcpdump -r FILE -w /dev/null 'arp or igmp or ether proto 0x886f or (vlan and (...))'
//	tshark -n -r FILE -T fields -e ... > /dev/null   the fields nlbprobe reports
//	cat FILE > /dev/null                        the floor: reading the file
//
// The first tcpdump is the speed issue's command. Its filter does not look
// past an 802.1Q tag, and every frame of the mix is tagged, so it matches
// nothing and tcpdump writes nothing; the second ("tcpdump-vlan") matches
// the ARP, IGMP and heartbeats in tagged frames too, and writes them. Both
// are compared with nlbprobe, and how many frames each filter matches is
// printed before the rounds.
//
// tshark is thousands of times slower (minutes and gigabytes on 5,000,000
// frames), so it runs only in the first --tshark-rounds rounds; the other
// rounds compare their nlbprobe run with the median of tshark's. It reads
// the whole capture: its time per frame grows with the capture, as it
// keeps every frame's state, so a slice scaled up would flatter it.
// --tshark-frames N makes it read the first N frames instead, and the
// first 100 for its start-up (about 0.4 s), its time on the whole capture
// extrapolated from the two runs: start-up once, plus the time per frame
// between them (an estimate, marked so). A tool that is not installed is
// reported and skipped. Wall time is measured around each process, peak
// RSS is GNU time's %M (or the child's ru_maxrss). Exit status: 0 done, 1
// a tool failed, 2 usage error.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
