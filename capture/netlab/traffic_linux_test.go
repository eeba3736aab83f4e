package netlab_test

import (
	"os"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

func TestMain(m *testing.M) {
	if code, ok := netlab.RunRole(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestTraffic sends each kind of stream from one namespace to another and
// checks, with the receiving interface's counters, that every frame the
// sender counted arrived, at about the rate asked for.
func TestTraffic(t *testing.T) {
	lab := netlab.New(t)
	a, b := lab.Namespace("a"), lab.Namespace("b")
	lab.Veth(a, "eth0", b, "eth0")
	a.Link("eth0", 0, "10.9.0.1/24")
	b.Link("eth0", 0, "10.9.0.2/24")
	// Through the IP stack: a static neighbour entry picks the MAC.
	a.StaticNeighbour("eth0", "10.9.0.77", "01:00:5e:7f:00:4d")
	rx := func() uint64 {
		t.Helper()
		attrs, err := b.LinkAttrs("eth0")
		if err != nil {
			t.Fatal(err)
		}
		return attrs.Statistics.RxPackets
	}
	hb := fixtures.Heartbeat{Priority: 1, Cluster: mustAddr("10.9.0.77"), Dedicated: mustAddr("10.9.0.1")}
	tests := []struct {
		name   string
		stream netlab.Stream
		rate   float64
	}{
		{"fixture frames at 500/s", netlab.Stream{Frames: [][]byte{hb.Frame(addr.MAC{2, 0, 0, 0, 0, 1}, addr.MAC{1, 0, 0x5e, 0x7f, 0, 0x4d})}, Rate: 500, Count: 500}, 500},
		{"random ARP as fast as possible", netlab.Stream{RandomARP: true, Seed: 1, Count: 20000}, 0},
		{"UDP through the kernel at 200/s", netlab.Stream{UDP: "10.9.0.77:9", UDPSize: 64, Rate: 200, Count: 200}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rx()
			tt.stream.Name = "s"
			res := a.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{tt.stream}}).Wait(t)
			time.Sleep(100 * time.Millisecond)
			got := rx() - before
			r := res[0]
			span := r.Last.Sub(r.First).Seconds()
			t.Logf("sent %d (%d retries) in %.3fs, received %d", r.Sent, r.Retries, span, got)
			if r.Sent != uint64(tt.stream.Count) || got < r.Sent {
				t.Errorf("sent %d of %d, received %d", r.Sent, tt.stream.Count, got)
			}
			if tt.rate > 0 {
				if rate := float64(r.Sent-1) / span; rate < 0.9*tt.rate || rate > 1.1*tt.rate {
					t.Errorf("rate %.1f/s, want about %.0f", rate, tt.rate)
				}
			}
		})
	}
	t.Run("stop ends an endless stream", func(t *testing.T) {
		run := a.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{{Name: "endless", RandomARP: true, Rate: 100}}})
		time.Sleep(300 * time.Millisecond)
		res := run.Stop(t)
		if res[0].Sent == 0 || res[0].Sent > 100 {
			t.Errorf("sent %d in about 0.3s at 100/s", res[0].Sent)
		}
	})
}
