//go:build linux

package capture_test

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

func TestMain(m *testing.M) {
	if code, ok := netlab.RunRole(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// liveLab is a sender and a probe on one veth cable, the probe's end up,
// with room for tagged full-size frames.
func liveLab(t *testing.T) (sender, probe *netlab.NS) {
	t.Helper()
	lab := netlab.New(t)
	sender, probe = lab.Namespace("sender"), lab.Namespace("probe")
	for _, ns := range []*netlab.NS{sender, probe} {
		ns.Sysctl("net.ipv6.conf.all.disable_ipv6", "1")
	}
	lab.Veth(sender, "eth0", probe, "eth0")
	sender.Link("eth0", 1600)
	probe.Link("eth0", 1600)
	return sender, probe
}

// openIn opens a live capture inside the namespace.
func openIn(t *testing.T, ns *netlab.NS, cfg capture.LiveConfig) (*capture.Live, error) {
	t.Helper()
	var l *capture.Live
	err := ns.Do(func() error {
		var err error
		l, err = capture.OpenLive(cfg)
		return err
	})
	if err == nil {
		t.Cleanup(func() { l.Close() })
	}
	return l, err
}

// readLive reads frames until the capture is idle, copying them.
func readLive(t *testing.T, l *capture.Live) []capture.Packet {
	t.Helper()
	var out []capture.Packet
	var p capture.Packet
	for {
		err := l.Next(&p)
		if errors.Is(err, capture.ErrIdle) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		c := p
		c.Data = slices.Clone(p.Data)
		out = append(out, c)
	}
}

func send(t *testing.T, ns *netlab.NS, frames ...[]byte) {
	t.Helper()
	res := ns.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{{Name: "s", Frames: frames, Count: len(frames), Rate: 1000}}}).Wait(t)
	if res[0].Sent != uint64(len(frames)) {
		t.Fatalf("sent %d of %d", res[0].Sent, len(frames))
	}
	time.Sleep(100 * time.Millisecond)
}

// TestLiveFilterAndTags sends what the pre-filter passes and what it does
// not, tagged and untagged: exactly the first kind arrives, byte for byte
// with the tags the kernel had stripped put back, numbered, with lengths.
func TestLiveFilterAndTags(t *testing.T) {
	sender, probe := liveLab(t)
	igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, vip)
	hb := fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: nodeIP}
	garp := fixtures.GratuitousARP(igmpMAC, vip)
	client := fixtures.Client{SrcIP: clientIP, DstIP: vip, SrcPort: 1, DstPort: 80, Proto: fixtures.ClientUDP, Length: 300}
	pass := [][]byte{
		garp.Frame(nodeMAC, addr.Broadcast),
		garp.Frame(nodeMAC, addr.Broadcast, 10),
		garp.Frame(nodeMAC, addr.Broadcast, 200, 10),
		hb.Frame(nodeMAC, igmpMAC),
		hb.Frame(nodeMAC, igmpMAC, 10),
		client.Frame(clientMAC, igmpMAC),
		client.Frame(clientMAC, igmpMAC, 10),
	}
	drop := [][]byte{
		client.Frame(clientMAC, plainMAC),
		client.Frame(clientMAC, plainMAC, 10),
		ipv6Frame(t),
	}
	for _, all := range []bool{false, true} {
		l, err := openIn(t, probe, capture.LiveConfig{Interface: "eth0", All: all})
		if err != nil {
			t.Fatal(err)
		}
		var frames [][]byte
		for i := range pass {
			frames = append(frames, drop[i%len(drop)], pass[i])
		}
		send(t, sender, frames...)
		got := readLive(t, l)
		want := pass
		if all {
			want = frames
		}
		if len(got) != len(want) {
			t.Fatalf("all=%v: %d frames arrived, want %d", all, len(got), len(want))
		}
		for i, p := range got {
			if string(p.Data) != string(want[i]) {
				t.Errorf("all=%v: frame %d differs from what was sent (tags?):\n got % x\nwant % x", all, i+1, p.Data[:18], want[i][:18])
			}
			if p.Frame != uint64(i+1) || p.Info.Length != len(want[i]) || p.Info.CaptureLength != len(p.Data) {
				t.Errorf("all=%v: frame %d: number %d, length %d, captured %d", all, i+1, p.Frame, p.Info.Length, p.Info.CaptureLength)
			}
		}
		st, err := l.Stats()
		if err != nil || st.Received != uint64(len(want)) || st.Dropped != 0 {
			t.Errorf("all=%v: stats %+v, %v; want %d received, none dropped", all, st, err, len(want))
		}
		l.Close()
		var p capture.Packet
		if err := l.Next(&p); !errors.Is(err, io.EOF) {
			t.Errorf("Next after Close: %v, want io.EOF", err)
		}
	}
}

// TestLiveSnaplen: the filter cuts frames to the snaplen; the wire length
// stays.
func TestLiveSnaplen(t *testing.T) {
	sender, probe := liveLab(t)
	l, err := openIn(t, probe, capture.LiveConfig{Interface: "eth0", Snaplen: 96})
	if err != nil {
		t.Fatal(err)
	}
	hb := fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: nodeIP}.Frame(nodeMAC, addr.Broadcast)
	send(t, sender, hb)
	got := readLive(t, l)
	if len(got) != 1 || len(got[0].Data) != 96 || got[0].Info.Length != len(hb) || string(got[0].Data) != string(hb[:96]) {
		t.Fatalf("got %d frames: %+v", len(got), got)
	}
}

// TestLiveDrops: a small ring that nobody reads fills up; the kernel counts
// what it dropped, and what was read plus what was dropped is what passed.
func TestLiveDrops(t *testing.T) {
	sender, probe := liveLab(t)
	l, err := openIn(t, probe, capture.LiveConfig{Interface: "eth0", RingSize: capture.MinRingSize})
	if err != nil {
		t.Fatal(err)
	}
	igmpMAC, _ := addr.ClusterMAC(addr.ModeIGMP, vip)
	big := fixtures.Client{SrcIP: clientIP, DstIP: vip, SrcPort: 1, DstPort: 80, Proto: fixtures.ClientUDP, Length: 1500}.Frame(clientMAC, igmpMAC)
	const n = 5000
	res := sender.StartTraffic(netlab.Traffic{Interface: "eth0", Streams: []netlab.Stream{{Name: "s", Frames: [][]byte{big}, Count: n}}}).Wait(t)
	time.Sleep(100 * time.Millisecond)
	got := readLive(t, l)
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d, read %d, kernel: %+v", res[0].Sent, len(got), st)
	if st.Dropped == 0 || st.Freezes == 0 || st.Received != n || uint64(len(got))+st.Dropped != st.Received {
		t.Errorf("read %d, kernel %+v: want drops and freezes, read + dropped = received = %d", len(got), st, n)
	}
}

// TestLiveErrors: an unknown interface lists those there are; one that is
// down says how to bring it up; each matches its sentinel.
func TestLiveErrors(t *testing.T) {
	lab := netlab.New(t)
	a, b := lab.Namespace("a"), lab.Namespace("b")
	lab.Veth(a, "eth0", b, "eth0") // left down
	_, err := openIn(t, a, capture.LiveConfig{Interface: "eth9"})
	var unknown *capture.UnknownInterfaceError
	if !errors.Is(err, capture.ErrNoSuchInterface) || !errors.As(err, &unknown) ||
		strings.Join(unknown.Available, ",") != "lo,eth0" || !strings.Contains(err.Error(), `no interface "eth9"; there are: lo, eth0`) {
		t.Errorf("unknown interface: %v", err)
	}
	_, err = openIn(t, a, capture.LiveConfig{Interface: "eth0"})
	if !errors.Is(err, capture.ErrInterfaceDown) || !strings.Contains(err.Error(), "ip link set eth0 up") {
		t.Errorf("down interface: %v", err)
	}
	a.Link("eth0", 0)
	if _, err := openIn(t, a, capture.LiveConfig{Interface: "eth0", RingSize: 1 << 20}); err == nil || !strings.Contains(err.Error(), "ring size") {
		t.Errorf("1 MiB ring: %v", err)
	}
}
