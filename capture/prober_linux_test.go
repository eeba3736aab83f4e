//go:build linux

package capture

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// inNamespace runs f on a locked OS thread switched into ns, so that the
// sockets and netlink calls f makes belong to the lab.
func inNamespace(t *testing.T, ns *netlab.NS, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with the goroutine
			// instead of running other code in the lab's namespace.
			t.Errorf("back to the original namespace: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	f()
}

// routedLab is client (eth0 1500) - router - server, with the router's
// link to the server at 1400 and IPv4 only: the router answers too-big
// probes with "fragmentation needed".
func routedLab(t *testing.T) (client *netlab.NS) {
	lab := netlab.New(t)
	c, r, s := lab.Namespace("client"), lab.Namespace("router"), lab.Namespace("server")
	lab.Veth(c, "eth0", r, "eth0")
	lab.Veth(r, "eth1", s, "eth0")
	c.Link("eth0", 1500, "10.0.1.1/24")
	r.Link("eth0", 1500, "10.0.1.2/24")
	r.Link("eth1", 1400, "10.0.2.1/24")
	s.Link("eth0", 1400, "10.0.2.2/24")
	r.Sysctl("net.ipv4.ip_forward", "1")
	c.Route("default", "10.0.1.2")
	s.Route("default", "10.0.2.1")
	return c
}

func TestProberLab(t *testing.T) {
	client := routedLab(t)
	server := netip.MustParseAddr("10.0.2.2")
	routerAddr := netip.MustParseAddr("10.0.1.2")
	inNamespace(t, client, func() {
		rt, err := RouteTo(server)
		if err != nil {
			t.Fatal(err)
		}
		if rt.Interface != "eth0" || rt.InterfaceMTU != 1500 || rt.Gateway != routerAddr || rt.Source != netip.MustParseAddr("10.0.1.1") {
			t.Errorf("route %+v, want eth0 MTU 1500 via 10.0.1.2 from 10.0.1.1", rt)
		}
		if _, err := RouteTo(netip.MustParseAddr("fd99::1")); !errors.Is(err, unix.ENETUNREACH) {
			t.Errorf("route to an IPv6 address with no IPv6 route: %v, want ENETUNREACH", err)
		}

		p := NewProber(ProberConfig{})
		defer p.Close()
		s, err := p.Session(server)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		unreach, err := p.Session(netip.MustParseAddr("fd99::1"))
		if err != nil {
			t.Fatal(err)
		}
		defer unreach.Close()

		ctx := context.Background()
		for _, tt := range []struct {
			name string
			s    *Session
			size int
			want pathmtu.Outcome
		}{
			{"small probe answered", s, 576, pathmtu.Outcome{Size: 576, Kind: pathmtu.Reply, From: server}},
			{"link-sized probe answered", s, 1400, pathmtu.Outcome{Size: 1400, Kind: pathmtu.Reply, From: server}},
			{"router reports its next-hop MTU", s, 1500, pathmtu.Outcome{Size: 1500, Kind: pathmtu.TooBig, MTU: 1400, From: routerAddr}},
			// The kernel learnt a 1400 path MTU from the previous
			// answer; IP_PMTUDISC_PROBE must still let this leave.
			{"cached PMTU does not stop a probe", s, 1401, pathmtu.Outcome{Size: 1401, Kind: pathmtu.TooBig, MTU: 1400, From: routerAddr}},
			{"above the interface MTU: refused locally", s, 1501, pathmtu.Outcome{Size: 1501, Kind: pathmtu.LocalTooBig}},
			{"no route", unreach, 1280, pathmtu.Outcome{Size: 1280, Kind: pathmtu.Unreachable}},
		} {
			got, late, err := tt.s.Probe(ctx, tt.size, time.Second)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if tt.want.Kind == pathmtu.Reply && got.RTT <= 0 {
				t.Errorf("%s: RTT %v, want > 0", tt.name, got.RTT)
			}
			got.RTT = 0
			if got != tt.want || len(late) != 0 {
				t.Errorf("%s: got %+v (late %v), want %+v", tt.name, got, late, tt.want)
			}
		}

		// Concurrent sessions to one target share the socket: each
		// must get exactly its own answers.
		var wg sync.WaitGroup
		errs := make(chan error, 8*10)
		for g := range 8 {
			s, err := p.Session(server)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.Close()
				for i := range 10 {
					size := 600 + g*100 + i
					o, late, err := s.Probe(ctx, size, time.Second)
					if err != nil || o.Kind != pathmtu.Reply || o.Size != size || len(late) != 0 {
						errs <- errors.Join(err, errors.New(o.Kind.String()))
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent session: %v", err)
		}
	})
}

// TestProberLateReply slows the server's answers with a token bucket
// (tbf, 1000 bytes/s after a 1600-byte burst) so that one probe is given up
// as silent, and checks its reply still arrives, marked late, while the next
// probe waits.
func TestProberLateReply(t *testing.T) {
	netlab.RequireTool(t, "tc")
	lab := netlab.New(t)
	c, s := lab.Namespace("client"), lab.Namespace("server")
	lab.Veth(c, "eth0", s, "eth0")
	c.Link("eth0", 0, "10.0.3.1/24")
	s.Link("eth0", 0, "10.0.3.2/24")
	s.MustRun("tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "8kbit", "burst", "1600", "latency", "10s")
	server := netip.MustParseAddr("10.0.3.2")
	inNamespace(t, c, func() {
		p := NewProber(ProberConfig{})
		defer p.Close()
		sess, err := p.Session(server)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		ctx := context.Background()
		// The 1514-byte reply empties the bucket...
		if o, _, err := sess.Probe(ctx, 1500, 5*time.Second); err != nil || o.Kind != pathmtu.Reply {
			t.Fatalf("first probe: %+v, %v; want a reply", o, err)
		}
		// ...so this one's reply waits about half a second for tokens.
		if o, _, err := sess.Probe(ctx, 600, 50*time.Millisecond); err != nil || o.Kind != pathmtu.Silent {
			t.Fatalf("second probe: %+v, %v; want silent", o, err)
		}
		o, late, err := sess.Probe(ctx, 100, 5*time.Second)
		if err != nil || o.Kind != pathmtu.Reply || o.Size != 100 || o.Late {
			t.Fatalf("third probe: %+v, %v; want its reply", o, err)
		}
		if len(late) != 1 || late[0].Size != 600 || late[0].Kind != pathmtu.Reply || !late[0].Late || late[0].RTT < 300*time.Millisecond {
			t.Errorf("late answers %+v, want the 600-byte reply, late, RTT >= 300ms", late)
		}
	})
}
