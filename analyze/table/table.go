// Package table provides the bounded, allocation-free-in-steady-state map
// that every nlbprobe analyzer keeps its state in, so that a flood of random
// MACs or IPs cannot grow memory without limit: when a table is full it
// evicts the entries seen least recently, in batches, and counts them.
package table

import (
	"encoding/binary"
	"iter"
	"net/netip"
	"slices"
)

// Table maps keys to values held in one slice, with a limit on the number
// of entries. Values are addressed by pointer for in-place updates; a
// pointer is valid until the next Upsert (which may grow or evict).
//
// Lookups of known keys allocate nothing; inserting allocates only while
// the table grows towards its limit. A Table is not safe for concurrent use.
type Table[K comparable, V any] struct {
	index   map[K]int32
	slots   []slot[K, V]
	free    []int32
	limit   int
	evicted uint64
	scratch []int64

	// hash and recent are the optional cache of NewHashed: recent[h(k)]
	// is the slot of a key recently looked up whose hash is h(k), or -1.
	hash   func(K) uint64
	recent []int32
}

type slot[K comparable, V any] struct {
	key  K
	last int64 // when the entry was last touched, for eviction
	used bool
	val  V
}

// New returns a Table holding at most limit entries (at least 16).
func New[K comparable, V any](limit int) *Table[K, V] {
	limit = max(limit, 16)
	initial := min(limit, 256)
	return &Table[K, V]{
		index: make(map[K]int32, initial),
		slots: make([]slot[K, V], 0, initial),
		limit: limit,
	}
}

// recentSize is the number of entries of a NewHashed table's cache: 16
// KiB of slot numbers, which keeps a few hundred busy keys apart.
const (
	recentBits = 12
	recentSize = 1 << recentBits
)

// HashPair is a hash for NewHashed made of two words of a key (an IPv4
// address or a MAC, and a VLAN): a multiplicative mix of both, of which it
// keeps the top bits, the best mixed, as many as the cache has entries.
func HashPair(a, b uint64) uint64 {
	return (a*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f) >> (64 - recentBits)
}

// HashAddr is HashPair of an address, by its last four bytes (the whole of
// an IPv4 address), and a VLAN: the hash of the tables keyed by both (ARP
// bindings, NLB clusters), whose keys hold IPv4 addresses only. A
// netip.Addr is hashed by the map field by field; this costs a multiply.
func HashAddr(ip netip.Addr, vlan uint64) uint64 {
	b := ip.As16()
	return HashPair(uint64(binary.BigEndian.Uint32(b[12:])), vlan)
}

// NewHashed returns a Table like New with, in front of its map, a
// direct-mapped cache of the slots of recently used keys, indexed by hash.
// For tables looked up on nearly every frame with a few hot keys (the
// cluster MACs of the flood counter), a hit costs the hash and one compare
// instead of the map's hashing and probing of a struct key. hash must be
// cheap and spread its keys over the low 12 bits, as HashPair does; it
// need not be collision-free (a collision only costs a map lookup).
func NewHashed[K comparable, V any](limit int, hash func(K) uint64) *Table[K, V] {
	t := New[K, V](limit)
	t.hash = hash
	t.recent = make([]int32, recentSize)
	for i := range t.recent {
		t.recent[i] = -1
	}
	return t
}

// lookup returns k's slot, or -1.
func (t *Table[K, V]) lookup(k K) int32 {
	if t.recent == nil {
		if i, ok := t.index[k]; ok {
			return i
		}
		return -1
	}
	h := t.hash(k) & (recentSize - 1)
	// A cached slot may since have been evicted or reused: it is a hit
	// only if it still holds k.
	if i := t.recent[h]; i >= 0 {
		if s := &t.slots[i]; s.used && s.key == k {
			return i
		}
	}
	i, ok := t.index[k]
	if !ok {
		return -1
	}
	t.recent[h] = i
	return i
}

// Get returns the value under k, or nil.
func (t *Table[K, V]) Get(k K) *V {
	if i := t.lookup(k); i >= 0 {
		return &t.slots[i].val
	}
	return nil
}

// Upsert returns the value under k, creating a zero value when k is new,
// and marks the entry as seen at now (any monotonic unit: nlbprobe passes
// packet time in nanoseconds). created reports whether k was new. When the
// table is full, the least recently seen eighth of it is evicted first.
func (t *Table[K, V]) Upsert(k K, now int64) (v *V, created bool) {
	if i := t.lookup(k); i >= 0 {
		s := &t.slots[i]
		if now > s.last {
			s.last = now
		}
		return &s.val, false
	}
	if len(t.index) >= t.limit {
		t.evict()
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.slots = append(t.slots, slot[K, V]{})
		i = int32(len(t.slots) - 1)
	}
	s := &t.slots[i]
	*s = slot[K, V]{key: k, last: now, used: true}
	t.index[k] = i
	if t.recent != nil {
		t.recent[t.hash(k)&(recentSize-1)] = i
	}
	return &s.val, true
}

// evict drops the least recently seen entries, an eighth of the limit, so
// that the cost of finding them (a sort of the last-seen times) is spread
// over many inserts.
func (t *Table[K, V]) evict() {
	t.scratch = t.scratch[:0]
	for i := range t.slots {
		if t.slots[i].used {
			t.scratch = append(t.scratch, t.slots[i].last)
		}
	}
	slices.Sort(t.scratch)
	n := max(len(t.scratch)/8, 1)
	cutoff := t.scratch[n-1]
	dropped := 0
	for i := range t.slots {
		s := &t.slots[i]
		if !s.used || s.last > cutoff || dropped >= n {
			continue
		}
		delete(t.index, s.key)
		*s = slot[K, V]{}
		t.free = append(t.free, int32(i))
		dropped++
	}
	t.evicted += uint64(dropped)
}

// Len returns the number of entries.
func (t *Table[K, V]) Len() int { return len(t.index) }

// Limit returns the most entries the table holds.
func (t *Table[K, V]) Limit() int { return t.limit }

// Evicted returns how many entries were evicted to make room.
func (t *Table[K, V]) Evicted() uint64 { return t.evicted }

// All yields every key and a pointer to its value, in slot order (which is
// deterministic for a given sequence of calls). The table must not be
// changed during the iteration.
func (t *Table[K, V]) All() iter.Seq2[K, *V] {
	return func(yield func(K, *V) bool) {
		for i := range t.slots {
			s := &t.slots[i]
			if s.used && !yield(s.key, &s.val) {
				return
			}
		}
	}
}
