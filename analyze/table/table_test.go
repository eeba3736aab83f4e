package table

import (
	"math/rand/v2"
	"net/netip"
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

// TestHashedMatchesMap drives tables with the recent-slot cache (a good
// hash, and one that sends every key to one cache entry) and without it
// through the same random upserts, with evictions that reuse slots a cache
// entry still names: every lookup must find the value last written under
// its key since the key was (re)created, and the tables must agree.
func TestHashedMatchesMap(t *testing.T) {
	type key struct {
		vlan uint32
		mac  [6]byte
	}
	good := func(k key) uint64 { return uint64(k.mac[5])<<4 ^ uint64(k.mac[4]) ^ uint64(k.vlan)*0x9e3779b9 }
	tables := map[string]*Table[key, int]{
		"map only":       New[key, int](64),
		"hashed":         NewHashed[key, int](64, good),
		"hashed collide": NewHashed[key, int](64, func(key) uint64 { return 7 }),
	}
	for name, tb := range tables {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			model := map[key]int{}
			for i := range 20000 {
				// A small hot set and a wide cold one, so that the table
				// (64 entries) evicts all along.
				k := key{vlan: uint32(rng.IntN(3)), mac: [6]byte{3, 0xbf, 0, 0, byte(rng.IntN(8)), byte(rng.IntN(4))}}
				if rng.IntN(4) == 0 {
					k.mac[4] = byte(8 + rng.IntN(200))
				}
				v, created := tb.Upsert(k, int64(i))
				if created {
					model[k] = 0
				} else if want, ok := model[k]; !ok || *v != want {
					t.Fatalf("op %d: key %v holds %d, want %d (known %v)", i, k, *v, want, ok)
				}
				*v = i
				model[k] = i
				for mk := range model {
					_, inMap := tb.index[mk]
					got := tb.Get(mk)
					if (got != nil) != inMap {
						t.Fatalf("op %d: Get(%v) = %v, in the map %v", i, mk, got, inMap)
					}
					if !inMap {
						delete(model, mk)
					} else if *got != model[mk] {
						t.Fatalf("op %d: Get(%v) = %d, want %d", i, mk, *got, model[mk])
					}
				}
				if tb.Len() > 64 {
					t.Fatalf("len %d", tb.Len())
				}
			}
			if tb.Evicted() == 0 {
				t.Fatal("no eviction: the test does not exercise slot reuse")
			}
		})
	}
}

func BenchmarkUpsert(b *testing.B) {
	type key struct {
		vlan uint32
		mac  [6]byte
	}
	keys := make([]key, 1024)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range keys {
		n := rng.IntN(50)
		keys[i] = key{vlan: uint32(100 + n%5), mac: [6]byte{3, 0xbf, 10, 128, byte(n), 100}}
	}
	hash := func(k key) uint64 {
		return (uint64(k.mac[4])<<8 | uint64(k.mac[5]) ^ uint64(k.vlan)<<16) * 0x9e3779b97f4a7c15 >> 52
	}
	for name, tb := range map[string]*Table[key, int]{"map": New[key, int](4096), "hashed": NewHashed[key, int](4096, hash)} {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				v, _ := tb.Upsert(keys[i&1023], int64(i))
				*v++
				i++
			}
		})
	}
}

// TestHashPairSpreads checks what NewHashed asks of a hash, for HashPair:
// values within the cache, and keys that differ in a few low bits (a run
// of IPv4 addresses, or of VLANs) spread over most of its entries.
func TestHashPairSpreads(t *testing.T) {
	for _, c := range []struct {
		name string
		key  func(i int) (uint64, uint64)
	}{
		{"IPv4 run on one VLAN", func(i int) (uint64, uint64) { return 0x0a000000 + uint64(i), 100 }},
		{"one address on many VLANs", func(i int) (uint64, uint64) { return 0x0a000001, uint64(i) }},
		{"MACs 02:bf:0a:80:x:y", func(i int) (uint64, uint64) { return 0x02bf0a800000 + uint64(i), 0 }},
	} {
		used := map[uint64]bool{}
		for i := range recentSize {
			h := HashPair(c.key(i))
			if h >= recentSize {
				t.Fatalf("%s: HashPair = %d, beyond the cache's %d entries", c.name, h, recentSize)
			}
			used[h] = true
		}
		// Random placement would fill 1-1/e of the entries (63%).
		if len(used) < recentSize/2 {
			t.Errorf("%s: %d keys fill %d of %d cache entries", c.name, recentSize, len(used), recentSize)
		}
	}
}

// TestHashAddr checks that HashAddr hashes an IPv4 address as the number
// HashPair spreads (TestHashPairSpreads), not some other part of it.
func TestHashAddr(t *testing.T) {
	for _, c := range []struct {
		ip   string
		vlan uint64
		num  uint64
	}{
		{"10.0.0.1", 100, 0x0a000001},
		{"172.31.3.232", 0, 0xac1f03e8},
		{"192.168.255.254", 4095, 0xc0a8fffe},
	} {
		if got, want := HashAddr(netip.MustParseAddr(c.ip), c.vlan), HashPair(c.num, c.vlan); got != want {
			t.Errorf("HashAddr(%s, %d) = %d, want HashPair(%#x, %d) = %d", c.ip, c.vlan, got, c.num, c.vlan, want)
		}
	}
}
