//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// BenchmarkZeroDropRate finds, for frames to a cluster MAC of 64 and 1500
// bytes, the highest rate that `nlbprobe watch` takes in off a lab veth
// with zero kernel drops, and the same for tcpdump -w /dev/null on the
// same stream, measured the same way: send two seconds of frames at a
// rate, stop the capture, read its drop count, and search the rate up
// (doubling) and then down (bisecting). It reports zero-drop-fps per
// tool and size. It needs root and takes a few minutes; run it alone:
//
//	go test ./cmd/nlbprobe -run '^$' -bench ZeroDropRate -benchtime 1x
//
// When the sender cannot go faster than a tool takes in, the result is
// the sender's rate and is marked sender-bound.
func BenchmarkZeroDropRate(b *testing.B) {
	netlab.RequireRoot(b)
	netlab.RequireTool(b, "tcpdump")
	tools := []struct {
		name  string
		start func(b *testing.B, ns *netlab.NS) *labProc
		// counts stops the capture and returns what it took in and
		// dropped.
		counts func(b *testing.B, p *labProc) (frames, drops uint64)
	}{
		{"watch", func(b *testing.B, ns *netlab.NS) *labProc {
			return startWatch(b, ns, "-i", "eth0", "--json", "--interval", "0")
		}, func(b *testing.B, p *labProc) (uint64, uint64) {
			p.interrupt(b)
			r := parseLabReport(b, p.stdout.String())
			return r.Stats.Frames, r.Stats.KernelDrops
		}},
		{"tcpdump", func(b *testing.B, ns *netlab.NS) *labProc {
			return startProc(b, ns, "listening on", "tcpdump", "-i", "eth0", "-n", "-w", "/dev/null", capture.FilterExpression)
		}, func(b *testing.B, p *labProc) (uint64, uint64) {
			p.interrupt(b)
			c := p.tcpdumpCounts(b)
			return c.captured, c.dropped
		}},
		// tcpdump with a ring as big as watch's (its default is 2 MiB).
		{"tcpdump-B64M", func(b *testing.B, ns *netlab.NS) *labProc {
			return startProc(b, ns, "listening on", "tcpdump", "-i", "eth0", "-n", "-B", "65536", "-w", "/dev/null", capture.FilterExpression)
		}, func(b *testing.B, p *labProc) (uint64, uint64) {
			p.interrupt(b)
			c := p.tcpdumpCounts(b)
			return c.captured, c.dropped
		}},
	}
	for _, size := range []int{64, 1500} {
		for _, tool := range tools {
			b.Run(fmt.Sprintf("%s/%dB", tool.name, size), func(b *testing.B) {
				for b.Loop() {
					rate, senderBound := zeroDropSearch(b, size, tool.start, tool.counts)
					b.ReportMetric(rate, "zero-drop-fps")
					if senderBound {
						b.ReportMetric(1, "sender-bound")
					}
				}
			})
		}
	}
}

// zeroDropSearch searches the highest zero-drop rate of one tool.
func zeroDropSearch(b *testing.B, size int, start func(*testing.B, *netlab.NS) *labProc,
	counts func(*testing.B, *labProc) (uint64, uint64)) (best float64, senderBound bool) {
	lab := netlab.New(b)
	sender, probe := lab.Namespace("sender"), lab.Namespace("probe")
	for _, ns := range []*netlab.NS{sender, probe} {
		ns.Sysctl("net.ipv6.conf.all.disable_ipv6", "1")
	}
	lab.Veth(sender, "eth0", probe, "eth0")
	sender.Link("eth0", 0)
	probe.Link("eth0", 0)
	vip := netip.MustParseAddr("172.31.3.232")
	clusterMAC, _ := addr.ClusterMAC(addr.ModeIGMP, vip)
	frame := fixtures.Client{SrcIP: netip.MustParseAddr("172.31.3.50"), DstIP: vip, SrcPort: 40000, DstPort: 80,
		Proto: fixtures.ClientUDP, Length: size}.Frame(addr.MAC{0x00, 0x15, 0x5d, 0, 0, 0x50}, clusterMAC)

	// trial sends two seconds at rate and says whether the tool took in
	// every frame, and the rate the sender reached.
	trial := func(rate float64) (ok bool, achieved float64) {
		p := start(b, probe)
		count := int(rate * 2)
		res := sender.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{
			{Name: "load", Frames: [][]byte{frame}, Rate: rate, Count: count}}}).Wait(b)[0]
		achieved = float64(res.Sent) / max(res.Last.Sub(res.First).Seconds(), 1e-9)
		time.Sleep(1500 * time.Millisecond) // tcpdump's ring hands a block over after 1 s
		frames, drops := counts(b, p)
		ok = drops == 0 && frames >= res.Sent
		b.Logf("%dB at %.0f/s (sender reached %.0f/s): took in %d of %d, %d dropped", size, rate, achieved, frames, res.Sent, drops)
		return ok, achieved
	}
	lo, hi := 0.0, 0.0
	for rate := 25000.0; rate <= 3.2e6; rate *= 2 {
		ok, achieved := trial(rate)
		if achieved < 0.9*rate {
			// The sender is the limit: every rate it reached was
			// taken in, or the tool dropped even that.
			if ok {
				return achieved, true
			}
			hi = achieved
			break
		}
		if !ok {
			hi = rate
			break
		}
		lo = rate
	}
	if hi == 0 {
		return lo, false
	}
	for range 4 {
		mid := (lo + hi) / 2
		if ok, _ := trial(mid); ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, false
}
