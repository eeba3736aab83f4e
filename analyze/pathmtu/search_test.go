package pathmtu_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
)

var (
	router = netip.MustParseAddr("10.0.1.2")
	client = netip.MustParseAddr("10.0.1.1")
)

// simPath answers probes the way a real path would. Sizes above mtu are
// dropped; a router with icmp set reports them as too big, quoting
// reportMTU (which may lie). Sizes above local are refused by the sending
// host. lose decides, per probe (counted from 0) and size, whether a probe
// or its answer is lost.
type simPath struct {
	mtu             int
	icmp            bool
	reportMTU       int
	local           int
	dead            bool
	hostUnreachable bool
	lose            func(n, size int) bool
	rtt             time.Duration
}

func (p simPath) answer(n int, pr pathmtu.Probe) pathmtu.Outcome {
	o := pathmtu.Outcome{Size: pr.Size}
	switch {
	case p.local > 0 && pr.Size > p.local:
		o.Kind, o.MTU = pathmtu.LocalTooBig, p.local
	case p.lose != nil && p.lose(n, pr.Size):
		o.Kind = pathmtu.Silent
	case p.hostUnreachable:
		o.Kind, o.From = pathmtu.Unreachable, router
	case p.dead:
		o.Kind = pathmtu.Silent
	case pr.Size <= p.mtu:
		o.Kind, o.RTT = pathmtu.Reply, p.rtt
	case p.icmp:
		o.Kind, o.MTU, o.From = pathmtu.TooBig, p.reportMTU, router
	default:
		o.Kind = pathmtu.Silent
	}
	return o
}

// run drives s against p until it is done and returns the result, the
// sizes probed in order and the total time spent waiting for silence.
func run(t *testing.T, s *pathmtu.Search, p simPath) (pathmtu.Result, []int, time.Duration) {
	t.Helper()
	var sizes []int
	var waited time.Duration
	for n := 0; ; n++ {
		pr, ok := s.Next()
		if !ok {
			break
		}
		if again, _ := s.Next(); again != pr {
			t.Fatalf("Next is not idempotent: %+v then %+v", pr, again)
		}
		if n > 200 {
			t.Fatalf("search did not end after %d probes: %v", n, sizes)
		}
		sizes = append(sizes, pr.Size)
		o := p.answer(n, pr)
		if o.Kind == pathmtu.Silent {
			waited += pr.Wait
		}
		s.Observe(o)
	}
	return s.Result(), sizes, waited
}

func TestSearch(t *testing.T) {
	loseFirstAt := func(size int) func(int, int) bool {
		seen := false
		return func(_, s int) bool {
			if s == size && !seen {
				seen = true
				return true
			}
			return false
		}
	}
	tests := []struct {
		name      string
		cfg       pathmtu.Config
		path      simPath
		want      pathmtu.Result
		maxProbes int   // the search must not need more
		sizes     []int // when set, the exact probe sequence
	}{
		{
			name:  "plain 1500 path carries the interface MTU",
			cfg:   pathmtu.Config{Max: 1500, Retries: 2},
			path:  simPath{mtu: 1500},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 1500, Method: pathmtu.MethodSearch},
			sizes: []int{576, 1500},
		},
		{
			name:  "9000 jumbo path",
			cfg:   pathmtu.Config{Max: 9000, Retries: 2},
			path:  simPath{mtu: 9000},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 9000, Method: pathmtu.MethodSearch},
			sizes: []int{576, 9000},
		},
		{
			name:  "router reports 1400: taken at once and confirmed",
			cfg:   pathmtu.Config{Max: 9000, Retries: 2},
			path:  simPath{mtu: 1400, icmp: true, reportMTU: 1400},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 1400, Method: pathmtu.MethodICMP, ReportedMTU: 1400, ReportedBy: router},
			sizes: []int{576, 9000, 1400, 1401},
		},
		{
			name:      "silent 1400 link is a black hole",
			cfg:       pathmtu.Config{Max: 9000, Retries: 2},
			path:      simPath{mtu: 1400},
			want:      pathmtu.Result{Done: true, Reachable: true, PathMTU: 1400, Method: pathmtu.MethodSearch, Blackhole: true, SilentAt: 1401},
			maxProbes: 2 + 14 + 2, // base, max, log2(8424) steps, 2 retries
		},
		{
			name:      "black hole one byte below the maximum",
			cfg:       pathmtu.Config{Max: 9000, Retries: 1},
			path:      simPath{mtu: 8999},
			want:      pathmtu.Result{Done: true, Reachable: true, PathMTU: 8999, Method: pathmtu.MethodSearch, Blackhole: true, SilentAt: 9000},
			maxProbes: 2 + 14 + 1,
		},
		{
			name:  "dead target is unreachable, not a black hole",
			cfg:   pathmtu.Config{Max: 1500, Retries: 2},
			path:  simPath{dead: true},
			want:  pathmtu.Result{Done: true, Method: pathmtu.MethodSearch},
			sizes: []int{576, 576, 576},
		},
		{
			name:  "ICMP host unreachable ends the search at once",
			cfg:   pathmtu.Config{Max: 1500, Retries: 2},
			path:  simPath{hostUnreachable: true},
			want:  pathmtu.Result{Done: true, Method: pathmtu.MethodSearch, UnreachableFrom: router},
			sizes: []int{576},
		},
		{
			name:  "one lost base probe is retried, not read as dead",
			cfg:   pathmtu.Config{Max: 1500, Retries: 2},
			path:  simPath{mtu: 1500, lose: loseFirstAt(576)},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 1500, Method: pathmtu.MethodSearch},
			sizes: []int{576, 576, 1500},
		},
		{
			name: "lost probe at the true MTU is not read as too big",
			cfg:  pathmtu.Config{Max: 9000, Retries: 2},
			// The first probe at 1400 (the answer) is lost: the search
			// first settles lower, the boundary confirmation reaches 1400
			// again and reopens the search.
			path:      simPath{mtu: 1400, icmp: true, reportMTU: 1400, lose: loseFirstAt(1400)},
			want:      pathmtu.Result{Done: true, Reachable: true, PathMTU: 1400, Method: pathmtu.MethodICMP, ReportedMTU: 1400, ReportedBy: router},
			maxProbes: 30,
		},
		{
			// One probe in five lost (a very bad path): the losses below
			// the MTU are found out and searched past, not reported.
			name:      "every fifth probe lost on a black hole",
			cfg:       pathmtu.Config{Max: 9000, Retries: 2},
			path:      simPath{mtu: 1500, lose: func(n, _ int) bool { return n%5 == 4 }},
			want:      pathmtu.Result{Done: true, Reachable: true, PathMTU: 1500, Method: pathmtu.MethodSearch, Blackhole: true, SilentAt: 1501},
			maxProbes: 40,
		},
		{
			name: "rate-limited router: its report stands, no black hole",
			cfg:  pathmtu.Config{Max: 9000, Retries: 2},
			// The router answers the first too-big, then its ICMP rate
			// limit swallows the rest: the boundary is silent, but it is
			// where the router said it would be.
			path:  simPath{mtu: 1400, icmp: true, reportMTU: 1400, lose: func(_, size int) bool { return size == 1401 }},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 1400, Method: pathmtu.MethodICMP, ReportedMTU: 1400, ReportedBy: router},
			sizes: []int{576, 9000, 1400, 1401, 1401, 1401},
		},
		{
			name:      "router under-reports: 1300 said, 1400 carried",
			cfg:       pathmtu.Config{Max: 9000, Retries: 2},
			path:      simPath{mtu: 1400, icmp: true, reportMTU: 1300},
			want:      pathmtu.Result{Done: true, Reachable: true, PathMTU: 1400, Method: pathmtu.MethodICMP, ReportedMTU: 1300, ReportedBy: router},
			maxProbes: 20,
		},
		{
			name:      "router over-reports: 1500 said, 1400 carried",
			cfg:       pathmtu.Config{Max: 9000, Retries: 2},
			path:      simPath{mtu: 1400, icmp: true, reportMTU: 1500},
			want:      pathmtu.Result{Done: true, Reachable: true, PathMTU: 1400, Method: pathmtu.MethodICMP, ReportedMTU: 1500, ReportedBy: router},
			maxProbes: 20,
		},
		{
			name:      "old router reports no MTU (RFC 1191 zero)",
			cfg:       pathmtu.Config{Max: 9000, Retries: 2},
			path:      simPath{mtu: 1492, icmp: true, reportMTU: 0},
			want:      pathmtu.Result{Done: true, Reachable: true, PathMTU: 1492, Method: pathmtu.MethodICMP, ReportedBy: router},
			maxProbes: 20,
		},
		{
			name:      "router reports an MTU above the probe (a lie) and is ignored",
			cfg:       pathmtu.Config{Max: 9000, Retries: 2},
			path:      simPath{mtu: 1400, icmp: true, reportMTU: 65000},
			want:      pathmtu.Result{Done: true, Reachable: true, PathMTU: 1400, Method: pathmtu.MethodICMP, ReportedMTU: 65000, ReportedBy: router},
			maxProbes: 20,
		},
		{
			name:  "local stack refuses above its route MTU",
			cfg:   pathmtu.Config{Max: 9000, Retries: 2},
			path:  simPath{mtu: 9000, local: 1500},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 1500, Method: pathmtu.MethodLocal},
			sizes: []int{576, 9000, 1500, 1501},
		},
		{
			name:  "path below the IPv4 base size",
			cfg:   pathmtu.Config{Max: 1500, Retries: 2},
			path:  simPath{mtu: 508, icmp: true, reportMTU: 508},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 508, Method: pathmtu.MethodICMP, ReportedMTU: 508, ReportedBy: router},
			sizes: []int{576, 508, 509},
		},
		{
			name:  "IPv6 packet too big 1400",
			cfg:   pathmtu.Config{IPv6: true, Max: 1500, Retries: 2},
			path:  simPath{mtu: 1400, icmp: true, reportMTU: 1400},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 1400, Method: pathmtu.MethodICMP, ReportedMTU: 1400, ReportedBy: router},
			sizes: []int{1280, 1500, 1400, 1401},
		},
		{
			name:  "IPv6 minimum-MTU interface needs one probe",
			cfg:   pathmtu.Config{IPv6: true, Max: 1280, Retries: 2},
			path:  simPath{mtu: 1280},
			want:  pathmtu.Result{Done: true, Reachable: true, PathMTU: 1280, Method: pathmtu.MethodSearch},
			sizes: []int{1280},
		},
		{
			name: "probe budget ends a search that never settles",
			cfg:  pathmtu.Config{Max: 9000, Retries: 2, MaxProbes: 10},
			// The answer at the boundary is always lost, any answer above
			// it is not: the boundary keeps reopening.
			path:      simPath{mtu: 9000, lose: func(n, size int) bool { return n%2 == 1 && size > 600 }},
			want:      pathmtu.Result{Done: true, Reachable: true, Method: pathmtu.MethodSearch, Incomplete: true},
			maxProbes: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pathmtu.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, sizes, _ := run(t, s, tt.path)
			tt.want.Max = tt.cfg.Max
			tt.want.Probes = len(sizes)
			if tt.want.Incomplete {
				// What the lower bound is depends on the loss pattern;
				// it must be a size the path carried.
				if got.PathMTU > tt.path.mtu {
					t.Errorf("incomplete PathMTU %d above the path's %d", got.PathMTU, tt.path.mtu)
				}
				tt.want.PathMTU = got.PathMTU
			}
			if got != tt.want {
				t.Errorf("result\n got %+v\nwant %+v\nsizes %v", got, tt.want, sizes)
			}
			if tt.sizes != nil && !equal(sizes, tt.sizes) {
				t.Errorf("probed sizes %v, want %v", sizes, tt.sizes)
			}
			if tt.maxProbes > 0 && len(sizes) > tt.maxProbes {
				t.Errorf("%d probes %v, want at most %d", len(sizes), sizes, tt.maxProbes)
			}
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSearchWaits checks where the search spends its waiting: full timeouts
// only where silence decides the answer, round-trip multiples elsewhere.
func TestSearchWaits(t *testing.T) {
	cfg := pathmtu.Config{Max: 9000, Retries: 2, Timeout: time.Second, MinWait: 50 * time.Millisecond}
	tests := []struct {
		name string
		path simPath
		want time.Duration
	}{
		// 10 silent search probes (9000 4788 2682 1629 1497 1431 1414
		// 1406 1402 1401) at max(50ms, 8*1ms) and two boundary retries at
		// the full second.
		{"black hole at 1400, 1ms RTT", simPath{mtu: 1400, rtt: time.Millisecond}, 10*50*time.Millisecond + 2*time.Second},
		// With a 20ms RTT the search waits 160ms per silent probe.
		{"black hole at 1400, 20ms RTT", simPath{mtu: 1400, rtt: 20 * time.Millisecond}, 10*160*time.Millisecond + 2*time.Second},
		{"dead target: three full waits", simPath{dead: true}, 3 * time.Second},
		{"ICMP path never waits", simPath{mtu: 1400, icmp: true, reportMTU: 1400}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pathmtu.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, sizes, waited := run(t, s, tt.path)
			if waited != tt.want {
				t.Errorf("waited %v for silence, want %v (sizes %v)", waited, tt.want, sizes)
			}
		})
	}
}

// TestSearchLateReply checks that an answer arriving after its probe was
// given up corrects the search instead of being lost.
func TestSearchLateReply(t *testing.T) {
	s, err := pathmtu.New(pathmtu.Config{Max: 9000, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.Observe(pathmtu.Outcome{Size: 576, Kind: pathmtu.Reply})
	pr, _ := s.Next()
	if pr.Size != 9000 {
		t.Fatalf("second probe %d, want 9000", pr.Size)
	}
	s.Observe(pathmtu.Outcome{Size: 9000, Kind: pathmtu.Silent})
	pr, _ = s.Next()
	s.Observe(pathmtu.Outcome{Size: pr.Size, Kind: pathmtu.Silent})
	s.Observe(pathmtu.Outcome{Size: 9000, Kind: pathmtu.Reply, Late: true})
	if _, ok := s.Next(); ok {
		t.Errorf("search goes on after a late reply at the maximum")
	}
	got := s.Result()
	if !got.Done || got.PathMTU != 9000 || got.Blackhole || got.Probes != 3 {
		t.Errorf("result %+v, want done, path MTU 9000, no black hole, 3 probes", got)
	}
}

func TestNewRejectsTinyMax(t *testing.T) {
	for _, cfg := range []pathmtu.Config{{Max: 67}, {IPv6: true, Max: 1279}} {
		if _, err := pathmtu.New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error, want one", cfg)
		}
	}
}

// FuzzSearch feeds arbitrary outcomes and checks the invariants: the search
// ends within its probe budget, never reports a size nobody answered, and
// calls a black hole only with a confirmed silent boundary.
func FuzzSearch(f *testing.F) {
	f.Add(uint16(9000), false, []byte{1, 0, 2, 1, 0, 0, 0})
	f.Add(uint16(1500), true, []byte{2, 2, 2, 3, 4})
	f.Add(uint16(1400), false, []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, max uint16, v6 bool, script []byte) {
		s, err := pathmtu.New(pathmtu.Config{IPv6: v6, Max: int(max), Retries: 2, MaxProbes: 40})
		if err != nil {
			return
		}
		answered := map[int]bool{}
		for n := 0; ; n++ {
			pr, ok := s.Next()
			if !ok {
				break
			}
			if n >= 40 {
				t.Fatalf("more than 40 probes")
			}
			if pr.Size < pathmtu.MinIPv4 || pr.Size > int(max) {
				t.Fatalf("probe size %d outside [68, %d]", pr.Size, max)
			}
			var b byte
			if n < len(script) {
				b = script[n]
			}
			o := pathmtu.Outcome{Size: pr.Size, Kind: pathmtu.OutcomeKind(b % 5), MTU: int(b) * 37, From: router}
			if o.Kind == pathmtu.Reply {
				answered[pr.Size] = true
			}
			s.Observe(o)
		}
		r := s.Result()
		if !r.Done {
			t.Fatalf("Next said done but Result did not: %+v", r)
		}
		if r.PathMTU != 0 && !answered[r.PathMTU] {
			t.Fatalf("path MTU %d was never answered", r.PathMTU)
		}
		if r.Blackhole && (r.SilentAt != r.PathMTU+1 || r.Incomplete) {
			t.Fatalf("black hole without a confirmed boundary: %+v", r)
		}
	})
}

// TestSearchRandomLoss runs many searches over black-hole and ICMP paths
// that lose 5% of probes at random (fixed seeds, so the count is stable):
// a wrong answer needs every confirmation at one boundary to be lost, so
// almost none may be wrong, and none may exceed the path's MTU.
func TestSearchRandomLoss(t *testing.T) {
	const runs = 400
	wrong, probes := 0, 0
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 7))
		p := simPath{mtu: 1200 + rng.IntN(7800), icmp: seed%2 == 0, lose: func(int, int) bool { return rng.IntN(100) < 5 }}
		p.reportMTU = p.mtu
		s, err := pathmtu.New(pathmtu.Config{Max: 9000, Retries: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, sizes, _ := run(t, s, p)
		probes += len(sizes)
		if got.PathMTU > p.mtu {
			t.Fatalf("seed %d: path MTU %d above the path's %d: %v", seed, got.PathMTU, p.mtu, sizes)
		}
		if got.PathMTU != p.mtu {
			wrong++
		}
	}
	t.Logf("%d of %d searches wrong at 5%% loss, %.1f probes on average", wrong, runs, float64(probes)/runs)
	if wrong > runs/100 {
		t.Errorf("%d of %d searches wrong at 5%% loss, want at most %d", wrong, runs, runs/100)
	}
}
