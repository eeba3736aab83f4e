package timeline

import (
	"testing"
	"time"
)

const sec = int64(time.Second)

func sum(c []uint32) (n uint64) {
	for _, v := range c {
		n += uint64(v)
	}
	return n
}

// TestWidenKeepsCounts counts one a second for longer than the buckets
// hold: the width doubles, no count is lost, and every bucket but the last
// holds its width's worth.
func TestWidenKeepsCounts(t *testing.T) {
	tl := New(Limits{})
	base := int64(1_700_000_000)*sec + 250*int64(time.Millisecond)
	h := tl.NewSeries(HostHeartbeats)
	const n = 2500 // seconds: widens twice (600 -> 1200 -> 2400 -> 4800 s)
	for i := range int64(n) {
		tl.Advance(base + i*sec)
		tl.Add(h, base+i*sec, 1)
	}
	ax := tl.Axis()
	if ax.Width != 8*time.Second || ax.Start != time.Unix(1_700_000_000, 0).UTC() {
		t.Fatalf("axis %+v, want 8 s buckets from the first whole second", ax)
	}
	c := tl.Counts(h, 0, 0)
	if len(c) != ax.Buckets || ax.Buckets != (n-1)/8+1 {
		t.Fatalf("%d counts, axis %d buckets, want %d", len(c), ax.Buckets, (n-1)/8+1)
	}
	if got := sum(c); got != n {
		t.Errorf("counts add up to %d, want %d", got, n)
	}
	for i, v := range c[:len(c)-1] {
		if v != 8 {
			t.Fatalf("bucket %d holds %d, want 8", i, v)
		}
	}
}

// TestLimits checks that series and events beyond their limits are counted,
// not kept, and that the zero Handle and a nil Timeline record nothing.
func TestLimits(t *testing.T) {
	tl := New(Limits{Series: 2, Events: 3})
	a, b, c := tl.NewSeries(ClusterMACFrames), tl.NewSeries(ClusterMACFrames), tl.NewSeries(ClusterMACFrames)
	if a == 0 || b == 0 || c != 0 {
		t.Fatalf("handles %d %d %d, want two and the zero Handle", a, b, c)
	}
	if h := tl.NewSeries(HostHeartbeats); h == 0 {
		t.Fatal("the limit is per kind: a host series should still fit")
	}
	tl.Add(c, sec, 5) // ignored
	for i := range int64(5) {
		tl.Record(Event{Kind: ARPChange, Time: sec + i})
	}
	tl.Record(Event{Kind: HostGap, Time: 2 * sec, Start: sec})
	if got := len(tl.Events(ARPChange)); got != 3 {
		t.Errorf("%d ARP events kept, want 3", got)
	}
	if got := len(tl.Events(HostGap)); got != 1 {
		t.Errorf("a full ARP log dropped a host event: %d", got)
	}
	if s, e := tl.Omitted(); s != 1 || e != 2 {
		t.Errorf("omitted %d series, %d events; want 1 and 2", s, e)
	}
	var none *Timeline
	none.Add(none.NewSeries(HostHeartbeats), sec, 1)
	none.Record(Event{Time: sec})
	if none.Counts(1, 0, 0) != nil || none.Axis() != (Axis{}) {
		t.Error("a nil Timeline returned data")
	}
}

// TestTimeJumps checks that a time stamp centuries ahead ends (the width
// stops doubling before it overflows) and one before the start counts in
// the first bucket.
func TestTimeJumps(t *testing.T) {
	tl := New(Limits{})
	h := tl.NewSeries(QuerierQueries)
	tl.Add(h, 1000*sec, 1)
	tl.Add(h, 10*sec, 1) // before the start
	tl.Add(h, 1<<62, 1)  // year 2116
	tl.Add(h, 1<<63-1, 1)
	c := tl.Counts(h, 0, 0)
	if got := sum(c); got != 4 {
		t.Errorf("counts add up to %d, want 4", got)
	}
	if c[0] != 2 || tl.Axis().Buckets > Buckets {
		t.Errorf("first bucket %d, %d buckets", c[0], tl.Axis().Buckets)
	}
}

// TestCountsExtra checks that a second in progress the caller holds is
// added to a copy, not to the series.
func TestCountsExtra(t *testing.T) {
	tl := New(Limits{})
	h := tl.NewSeries(ClusterMACFrames)
	tl.Add(h, 100*sec, 3)
	tl.Advance(102 * sec)
	if c := tl.Counts(h, 7, 102*sec); len(c) != 3 || c[0] != 3 || c[2] != 7 {
		t.Errorf("counts with a second in progress: %v", c)
	}
	if c := tl.Counts(h, 0, 0); c[2] != 0 {
		t.Errorf("the second in progress stayed in the series: %v", c)
	}
}

// TestAddAllocatesNothing: Add is on the per-frame path.
func TestAddAllocatesNothing(t *testing.T) {
	tl := New(Limits{})
	h := tl.NewSeries(HostHeartbeats)
	now := 1000 * sec
	allocs := testing.AllocsPerRun(1000, func() {
		now += sec / 3
		tl.Add(h, now, 1)
	})
	if allocs != 0 {
		t.Errorf("Add: %.1f allocations", allocs)
	}
}
