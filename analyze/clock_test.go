package analyze_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
)

// TestSecondRange checks the range of times the engine and Batch take for
// a second against the division it replaces: every time t lies in the
// range of second t/1e9, and the times just outside it are of other
// seconds, up to the ends of int64.
func TestSecondRange(t *testing.T) {
	const s = int64(time.Second)
	times := []int64{0, 1, -1, s - 1, -(s - 1), s, -s, s + 1, -s - 1, 2*s - 1, -2*s + 1,
		1_700_000_000*s + 5, -1_700_000_000*s - 5, math.MaxInt64, math.MinInt64, math.MaxInt64 - s, math.MinInt64 + s}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, int64(r.Uint64()), r.Int64N(10*s)-5*s)
	}
	for _, tm := range times {
		sec := tm / s
		lo, hi := analyze.SecondRange(sec)
		if tm < lo || tm > hi {
			t.Fatalf("time %d (second %d) outside [%d, %d]", tm, sec, lo, hi)
		}
		if lo/s != sec || hi/s != sec {
			t.Fatalf("second %d: range [%d, %d] holds other seconds", sec, lo, hi)
		}
		if lo != math.MinInt64 && (lo-1)/s == sec {
			t.Fatalf("second %d: %d, before the range, is of it too", sec, lo-1)
		}
		if hi != math.MaxInt64 && (hi+1)/s == sec {
			t.Fatalf("second %d: %d, after the range, is of it too", sec, hi+1)
		}
	}
}
