package coverage_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/coverage"
)

const s = int64(time.Second)

// spans builds the coverage of inputs, each [start, end] in seconds; an
// end of -1 is an input whose end is not known yet.
func spans(t *testing.T, in ...[2]int64) *coverage.Inputs {
	t.Helper()
	names := make([]string, len(in))
	for i := range names {
		names[i] = string(rune('a' + i))
	}
	c := coverage.New(names)
	for i, sp := range in {
		c.Start(i, sp[0]*s)
		if sp[1] >= 0 {
			c.End(i, sp[1]*s)
		}
	}
	return c
}

func TestNewOneInput(t *testing.T) {
	if c := coverage.New([]string{"a"}); c != nil {
		t.Fatalf("one input: %v, want nil (all covered)", c)
	}
	var c *coverage.Inputs
	if got := c.Total(10*s, 25*s); got != 15*s {
		t.Errorf("nil Total %v, want all of it", got)
	}
	if set := c.NewSet(); set != nil || set.Has(0) {
		t.Errorf("nil NewSet %v", set)
	}
	c.NewSet().Add(3) // no panic
}

func TestCovered(t *testing.T) {
	for _, tt := range []struct {
		name            string
		inputs          [][2]int64
		in              []int // nil: all
		from, to        int64
		longest, totalS int64
	}{
		{"one input covers all", [][2]int64{{0, 100}, {0, 20}}, []int{0}, 10, 90, 80, 80},
		{"the input ended", [][2]int64{{0, 100}, {0, 20}}, []int{1}, 10, 90, 10, 10},
		{"rotated, no pause", [][2]int64{{0, 60}, {60, 120}}, nil, 30, 100, 70, 70},
		{"rotated with a pause", [][2]int64{{0, 60}, {240, 300}}, nil, 50, 250, 10, 20},
		{"the pause only", [][2]int64{{0, 60}, {240, 300}}, nil, 70, 200, 0, 0},
		{"an input still reading covers up to now", [][2]int64{{0, 60}, {50, -1}}, []int{1}, 40, 500, 450, 450},
		{"inside one input", [][2]int64{{0, 60}, {240, 300}}, nil, 250, 260, 10, 10},
		{"nothing chosen", [][2]int64{{0, 60}, {0, 60}}, []int{}, 0, 60, 0, 0},
		{"to before from", [][2]int64{{0, 60}, {0, 60}}, nil, 50, 40, 0, 0},
		{"overlapping, one ends first", [][2]int64{{0, 20}, {10, 60}, {100, 130}}, nil, 5, 120, 55, 75},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := spans(t, tt.inputs...)
			in := coverage.All
			if tt.in != nil {
				in = func(i int) bool { return slices.Contains(tt.in, i) }
			}
			longest, total := c.Covered(tt.from*s, tt.to*s, in)
			if longest != tt.longest*s || total != tt.totalS*s {
				t.Errorf("Covered(%d, %d) = %v, %v; want %ds, %ds", tt.from, tt.to,
					time.Duration(longest), time.Duration(total), tt.longest, tt.totalS)
			}
		})
	}
}

func TestSlack(t *testing.T) {
	c := coverage.New([]string{"a", "b"})
	c.Start(0, 0)
	c.End(0, 60*s)
	c.Start(1, 60*s+coverage.Slack/2) // the next rotated file, a moment later
	c.End(1, 120*s)
	if longest, total := c.Covered(30*s, 100*s, coverage.All); longest != 70*s || total != 70*s {
		t.Errorf("across a boundary within Slack: %v, %v; want one stretch of 70s", time.Duration(longest), time.Duration(total))
	}
	if holes := c.Holes(0, 120*s); len(holes) != 0 {
		t.Errorf("holes %v within Slack", holes)
	}
}

func TestHoles(t *testing.T) {
	c := spans(t, [2]int64{0, 60}, [2]int64{240, 300}, [2]int64{280, 320}, [2]int64{400, 410})
	want := []coverage.Hole{{60 * s, 240 * s}, {320 * s, 400 * s}}
	if got := c.Holes(0, 410*s); !slices.Equal(got, want) {
		t.Errorf("holes %v, want %v", got, want)
	}
	// Starts given out of order, and an earlier start than the first.
	d := coverage.New([]string{"a", "b"})
	d.Start(1, 100*s)
	d.Start(0, 5*s)
	d.Start(0, 0)
	d.End(0, 10*s)
	d.End(1, 110*s)
	if got := d.Holes(0, 110*s); !slices.Equal(got, []coverage.Hole{{10 * s, 100 * s}}) {
		t.Errorf("holes %v, want 10s to 100s", got)
	}
	if start, end, started, ended := d.Span(0); start != 0 || end != 10*s || !started || !ended {
		t.Errorf("span %d %d %v %v", start, end, started, ended)
	}
}

func TestSet(t *testing.T) {
	names := make([]string, 130)
	c := coverage.New(names)
	set := c.NewSet()
	for _, i := range []int{0, 63, 64, 129} {
		set.Add(i)
	}
	set.Add(-1)
	set.Add(200) // beyond the set
	if got := set.Members(); !slices.Equal(got, []int{0, 63, 64, 129}) {
		t.Errorf("members %v", got)
	}
	if set.Has(1) || set.Has(200) || set.Has(-1) || !set.Has(64) {
		t.Error("Has")
	}
}
