package table

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// intHash is HashPair of an int key.
func intHash(k int) uint64 { return HashPair(uint64(k), 0) }

func TestUpsertGet(t *testing.T) {
	tb := New[int, int](100, intHash)
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
	tb := New[uint64, [4]uint64](limit, func(k uint64) uint64 { return HashPair(k, 0) })
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
	tb := New[[6]byte, int](1<<10, func(k [6]byte) uint64 {
		return HashPair(uint64(k[0])|uint64(k[1])<<8|uint64(k[2])<<16|uint64(k[3])<<24, 0)
	})
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
	tb := New[int, int](64, intHash)
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

// matchKey is a flood counter's key, for TestMatchesMap.
type matchKey struct {
	vlan uint32
	mac  [6]byte
}

// TestMatchesMap drives tables with a good hash, one that keeps only a bit
// of the key and one that gives every key the same hash (one probe run,
// tags that always agree), at a limit that is a power of two and one that
// is not, through the same random upserts, with evictions that free slots,
// rebuild the index and reuse the slots: every lookup must find the value
// last written under its key since the key was (re)created, as a Go map of
// the keys the table still holds says.
func TestMatchesMap(t *testing.T) {
	hashes := map[string]func(matchKey) uint64{
		"good": func(k matchKey) uint64 {
			return HashPair(uint64(k.mac[4])<<8|uint64(k.mac[5]), uint64(k.vlan))
		},
		"weak":    func(k matchKey) uint64 { return uint64(k.mac[5]&1) << 63 },
		"collide": func(matchKey) uint64 { return 7 },
	}
	for _, limit := range []int{64, 40} {
		for name, hash := range hashes {
			t.Run(fmt.Sprintf("%s/limit=%d", name, limit), func(t *testing.T) {
				if n := len(New[matchKey, int](limit, hash).index); n&(n-1) != 0 {
					t.Fatalf("index of %d entries: not a power of two", n)
				}
				matchesMap(t, New[matchKey, int](limit, hash), limit)
			})
		}
	}
}

func matchesMap(t *testing.T, tb *Table[matchKey, int], limit int) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[matchKey]int{}
	for i := range 20000 {
		// A small hot set and a wide cold one, so that the table evicts
		// all along.
		k := matchKey{vlan: uint32(rng.IntN(3)), mac: [6]byte{3, 0xbf, 0, 0, byte(rng.IntN(8)), byte(rng.IntN(4))}}
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
		held := map[matchKey]bool{}
		for hk := range tb.All() {
			held[hk] = true
		}
		if len(held) != tb.Len() {
			t.Fatalf("op %d: All yields %d keys, Len %d", i, len(held), tb.Len())
		}
		for mk := range model {
			got := tb.Get(mk)
			if (got != nil) != held[mk] {
				t.Fatalf("op %d: Get(%v) = %v, held %v", i, mk, got, held[mk])
			}
			if got == nil {
				delete(model, mk)
			} else if *got != model[mk] {
				t.Fatalf("op %d: Get(%v) = %d, want %d", i, mk, *got, model[mk])
			}
		}
		if len(model) != tb.Len() {
			t.Fatalf("op %d: %d keys found, Len %d", i, len(model), tb.Len())
		}
		if tb.Len() > limit {
			t.Fatalf("len %d over the limit %d", tb.Len(), limit)
		}
	}
	if tb.Evicted() == 0 {
		t.Fatal("no eviction: the test does not exercise slot reuse")
	}
}

// BenchmarkUpsert looks up known keys: 50 hot ones (a flood counter's
// cluster MACs) and 8192 (the IGMP memberships of the benchmark mix).
func BenchmarkUpsert(b *testing.B) {
	type key struct {
		vlan uint32
		mac  [6]byte
	}
	hash := func(k key) uint64 {
		return HashPair(uint64(k.mac[3])<<16|uint64(k.mac[4])<<8|uint64(k.mac[5]), uint64(k.vlan))
	}
	for _, distinct := range []int{50, 8192} {
		keys := make([]key, 1<<14)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range keys {
			n := rng.IntN(distinct)
			keys[i] = key{vlan: uint32(100 + n%5), mac: [6]byte{3, 0xbf, 10, byte(n >> 8), byte(n), 100}}
		}
		tb := New[key, int](1<<16, hash)
		b.Run(fmt.Sprintf("keys=%d", distinct), func(b *testing.B) {
			i := 0
			for b.Loop() {
				v, _ := tb.Upsert(keys[i&(len(keys)-1)], int64(i))
				*v++
				i++
			}
		})
	}
}

// TestHashPairSpreads checks what New asks of a hash, for HashPair: keys
// that differ in a few low bits (a run of IPv4 addresses, or of VLANs)
// spread over the top bits, where an index takes a key's place from.
func TestHashPairSpreads(t *testing.T) {
	const bits, keys = 12, 1 << 12
	for _, c := range []struct {
		name string
		key  func(i int) (uint64, uint64)
	}{
		{"IPv4 run on one VLAN", func(i int) (uint64, uint64) { return 0x0a000000 + uint64(i), 100 }},
		{"one address on many VLANs", func(i int) (uint64, uint64) { return 0x0a000001, uint64(i) }},
		{"MACs 02:bf:0a:80:x:y", func(i int) (uint64, uint64) { return 0x02bf0a800000 + uint64(i), 0 }},
	} {
		used := map[uint64]bool{}
		for i := range keys {
			used[HashPair(c.key(i))>>(64-bits)] = true
		}
		// Random placement would fill 1-1/e of the places (63%).
		if len(used) < keys/2 {
			t.Errorf("%s: %d keys fill %d of %d places", c.name, keys, len(used), 1<<bits)
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
