// Command nlbbench measures `nlbprobe read` against tcpdump and tshark on
// the same capture, and prints frames/s, ns/frame, peak RSS and the ratios
// per round with their median.
//
//	go run ./cmd/nlbbench [--frames N] [--seed S] [--file PATH] [--rounds R]
//	                      [--tshark-frames N] [--keep]
//
// It builds nlbprobe, generates the speed issue's mixed capture with the
// fixture generator (fixtures.WriteMixed: 70% client frames to cluster
// MACs, 10% ARP, 5% IGMP, 5% heartbeats cut to 128 bytes, 10% other IPv4,
// 50 clusters), reads it once to warm the page cache, then in each round
// runs in turn:
//
//	nlbprobe read --json FILE > /dev/null      full analysis and report
//	tcpdump -r FILE -w /dev/null 'arp or igmp or ether proto 0x886f'
//	tshark -n -r SLICE -T fields -e ... > /dev/null   the fields nlbprobe reports
//	cat FILE > /dev/null                        the floor: reading the file
//
// tshark is about a thousand times slower, so it reads a slice of the
// first --tshark-frames frames, and the first 100 frames for its start-up
// (about 0.4 s); its time on the whole capture is extrapolated from the two
// runs: start-up once, plus the time per frame between them. Scaling the
// slice's mean instead would charge the start-up again for every slice's
// worth of frames and flatter nlbprobe by a third. A tool that is not installed is reported and
// skipped. Wall time is measured around each process, peak RSS is the
// child's ru_maxrss. Exit status: 0 done, 1 a tool failed, 2 usage error.
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
