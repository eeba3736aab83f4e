package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Lab traffic. A test sends frames from inside a namespace by running its
// own test binary there in a role (NS.StartTraffic re-executes os.Args[0]
// under `ip netns exec` with RoleEnv set, and the package's TestMain hands
// control to RunRole). The role sends each Stream through an AF_PACKET
// socket (fixture frames exactly as built, at a given rate and count,
// batched with sendmmsg) or through the namespace's own UDP stack (traffic
// that the kernel addresses, as a real client's is), and prints what it
// sent as JSON when it ends.

// RoleEnv is the environment variable that starts a test binary as a lab
// role instead of running its tests.
const RoleEnv = "NLBPROBE_NETLAB_ROLE"

// Traffic is what one traffic process sends.
type Traffic struct {
	// Interface is the interface in the namespace that AF_PACKET streams
	// go out of.
	Interface string
	Streams   []Stream
}

// Stream is one flow of frames. Exactly one of Frames, RandomARP and UDP
// says what is sent.
type Stream struct {
	// Name identifies the stream in the results.
	Name string
	// Frames are sent in turn, as they are, through AF_PACKET.
	Frames [][]byte
	// RandomARP sends ARP announcements (broadcast gratuitous requests),
	// each from a new random locally administered MAC for a new random IP
	// in 10.0.0.0/8, seeded by Seed: a flood of fake stations.
	RandomARP bool
	Seed      uint64
	// UDP sends datagrams of UDPSize payload bytes to UDP (host:port)
	// through the namespace's IP stack, so the kernel picks the
	// destination MAC (its neighbour entry) as it does for a real client.
	UDP     string
	UDPSize int
	// Rate is frames per second; 0 sends as fast as the socket takes them.
	Rate float64
	// Count is how many frames to send; 0 sends until Duration or Stop.
	Count int
	// Delay waits before the first frame.
	Delay time.Duration
	// Duration bounds the stream (default 2 minutes), so a forgotten
	// process never floods for long.
	Duration time.Duration
}

// StreamResult is what a stream sent.
type StreamResult struct {
	Name string
	// Sent counts the frames the kernel accepted; Retries the sends it
	// refused for a while (ENOBUFS: the receiving side's backlog was
	// full), which were retried.
	Sent, Retries uint64
	// First and Last are when the first and the last frame went out.
	First, Last time.Time
	Err         string
}

// TrafficRun is a running traffic process.
type TrafficRun struct {
	cmd    interface{ Wait() error }
	proc   *os.Process
	stdout *bytes.Buffer
	stderr *bytes.Buffer
	once   sync.Once
	done   chan struct{}
	err    error
	ns     string
}

// StartTraffic starts sending tr from inside the namespace, and stops the
// sender when the test ends. The test binary must call RunRole first in
// its TestMain.
func (n *NS) StartTraffic(tr Traffic) *TrafficRun {
	n.t.Helper()
	spec, err := json.Marshal(tr)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := n.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), RoleEnv+"=traffic")
	cmd.Stdin = bytes.NewReader(spec)
	r := &TrafficRun{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, done: make(chan struct{}), ns: n.Name}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("netlab: %s: start traffic: %v", n.Name, err)
	}
	r.cmd, r.proc = cmd, cmd.Process
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	n.t.Cleanup(func() {
		_ = r.proc.Kill()
		<-r.done
	})
	return r
}

// Wait waits for every stream to end (by Count or Duration) and returns
// what each sent.
func (r *TrafficRun) Wait(t testing.TB) []StreamResult {
	t.Helper()
	<-r.done
	return r.results(t)
}

// Stop ends the streams early (SIGTERM), waits, and returns what each
// sent.
func (r *TrafficRun) Stop(t testing.TB) []StreamResult {
	t.Helper()
	_ = r.proc.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = r.proc.Kill()
		<-r.done
	}
	return r.results(t)
}

func (r *TrafficRun) results(t testing.TB) []StreamResult {
	t.Helper()
	var res []StreamResult
	if err := json.Unmarshal(r.stdout.Bytes(), &res); err != nil {
		t.Fatalf("netlab: traffic in %s: %v (exit: %v)\nstdout: %s\nstderr: %s", r.ns, err, r.err, r.stdout, r.stderr)
	}
	for _, s := range res {
		if s.Err != "" {
			t.Fatalf("netlab: traffic in %s: stream %s: %s", r.ns, s.Name, s.Err)
		}
	}
	return res
}

// RunRole runs the lab role the process was started for, and reports
// whether it was started for one. Call it first in TestMain:
//
//	func TestMain(m *testing.M) {
//		if code, ok := netlab.RunRole(); ok {
//			os.Exit(code)
//		}
//		os.Exit(m.Run())
//	}
func RunRole() (code int, ok bool) {
	switch os.Getenv(RoleEnv) {
	case "":
		return 0, false
	case "traffic":
		return runTraffic(os.Stdin, os.Stdout), true
	}
	fmt.Fprintf(os.Stderr, "netlab: unknown role %q\n", os.Getenv(RoleEnv))
	return 2, true
}

func runTraffic(in io.Reader, out io.Writer) int {
	var tr Traffic
	if err := json.NewDecoder(in).Decode(&tr); err != nil {
		fmt.Fprintf(os.Stderr, "netlab: traffic spec: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	results := make([]StreamResult, len(tr.Streams))
	var wg sync.WaitGroup
	for i, s := range tr.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := s.Duration
			if d <= 0 {
				d = 2 * time.Minute
			}
			sctx, cancel := context.WithTimeout(ctx, s.Delay+d)
			defer cancel()
			results[i] = sendStream(sctx, tr.Interface, s)
			results[i].Name = s.Name
		}()
	}
	wg.Wait()
	if err := json.NewEncoder(out).Encode(results); err != nil {
		return 1
	}
	return 0
}

// pacer spaces sends to a rate: before each batch it says how many frames
// may go now (at most max), sleeping until at least one may.
type pacer struct {
	rate  float64
	start time.Time
	sent  uint64
}

func (p *pacer) allow(ctx context.Context, max int) int {
	if p.rate <= 0 {
		return max
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	for {
		due := uint64(time.Since(p.start).Seconds()*p.rate) + 1
		if due > p.sent {
			return int(min(due-p.sent, uint64(max)))
		}
		wait := time.Duration(float64(p.sent+1-due)/p.rate*float64(time.Second)) + 10*time.Microsecond
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(wait):
		}
	}
}

// sendUDP sends s's datagrams through the kernel's UDP stack.
func sendUDP(ctx context.Context, s Stream) StreamResult {
	var res StreamResult
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", s.UDP)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer conn.Close()
	payload := make([]byte, s.UDPSize)
	p := pacer{rate: s.Rate}
	for s.Count == 0 || res.Sent < uint64(s.Count) {
		if ctx.Err() != nil || p.allow(ctx, 1) == 0 {
			break
		}
		if _, err := conn.Write(payload); err != nil {
			// ENOBUFS/ECONNREFUSED (an ICMP error from an earlier
			// datagram): count and go on.
			res.Retries++
			p.sent++
			continue
		}
		now := time.Now()
		if res.Sent == 0 {
			res.First = now
		}
		res.Last = now
		res.Sent++
		p.sent++
	}
	return res
}
