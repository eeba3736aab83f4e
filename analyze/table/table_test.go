package table

import (
	"testing"
)

func TestUpsertGet(t *testing.T) {
	tb := New[int, int](100)
	v, created := tb.Upsert(1, 10)
	if !created {
		t.Fatal("first upsert not created")
	}
	*v = 42
	if v, created = tb.Upsert(1, 20); created || *v != 42 {
		t.Fatalf("second upsert: created %v value %d", created, *v)
	}
	if got := tb.Get(1); got == nil || *got != 42 {
		t.Fatalf("Get(1) = %v", got)
	}
	if tb.Get(2) != nil {
		t.Fatal("Get of a missing key returned a value")
	}
}

// TestBoundedUnderFlood inserts ten times the limit of distinct keys, as a
// flood of random MACs would: the table must stay at its limit, count what
// it evicted, and keep the recently seen keys.
func TestBoundedUnderFlood(t *testing.T) {
	const limit = 1000
	tb := New[uint64, [4]uint64](limit)
	// A key refreshed all along must survive.
	for i := uint64(1); i <= 10*limit; i++ {
		tb.Upsert(i, int64(i))
		tb.Upsert(0, int64(i))
		if tb.Len() > limit {
			t.Fatalf("len %d over the limit %d after %d inserts", tb.Len(), limit, i)
		}
	}
	if tb.Get(0) == nil {
		t.Fatal("the key seen all along was evicted")
	}
	if tb.Get(10*limit) == nil {
		t.Fatal("the newest key was evicted")
	}
	if tb.Get(1) != nil {
		t.Fatal("the oldest key survived")
	}
	if got, want := tb.Evicted(), uint64(10*limit+1-tb.Len()); got != want {
		t.Fatalf("evicted %d, want %d", got, want)
	}
	if len(tb.slots) > limit {
		t.Fatalf("%d slots for a limit of %d", len(tb.slots), limit)
	}
}

func TestUpsertAllocs(t *testing.T) {
	tb := New[[6]byte, int](1 << 10)
	for i := 0; i < 1<<12; i++ {
		tb.Upsert([6]byte{byte(i), byte(i >> 8)}, int64(i))
	}
	var now int64 = 1 << 20
	known := testing.AllocsPerRun(1000, func() {
		now++
		v, _ := tb.Upsert([6]byte{1, 2}, now)
		*v++
	})
	churn := 0
	flood := testing.AllocsPerRun(1000, func() {
		now++
		churn++
		tb.Upsert([6]byte{byte(churn), byte(churn >> 8), byte(churn >> 16), 0xee}, now)
	})
	if known != 0 || flood != 0 {
		t.Fatalf("allocs per upsert: known key %.2f, evicting flood %.2f", known, flood)
	}
}

func TestAllVisitsEveryEntry(t *testing.T) {
	tb := New[int, int](64)
	for i := 0; i < 40; i++ {
		v, _ := tb.Upsert(i, int64(i))
		*v = i * 2
	}
	seen := 0
	for k, v := range tb.All() {
		if *v != k*2 {
			t.Fatalf("key %d value %d", k, *v)
		}
		seen++
	}
	if seen != 40 {
		t.Fatalf("visited %d of 40", seen)
	}
}
