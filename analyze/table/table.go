// Package table provides the bounded, allocation-free-in-steady-state map
// that every nlbprobe analyzer keeps its state in, so that a flood of random
// MACs or IPs cannot grow memory without limit: when a table is full it
// evicts the entries seen least recently, in batches, and counts them.
package table

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"net/netip"
	"slices"
)

// Table maps keys to values held in one slice, with a limit on the number
// of entries. Values are addressed by pointer for in-place updates; a
// pointer is valid until the next Upsert (which may grow or evict).
//
// Keys are found through an open-addressed index of the slots (linear
// probing) rather than a Go map: the analyzers look their tables up on
// every ARP, IGMP and heartbeat frame, with thousands of keys (IGMP
// memberships, ARP bindings), and a probe of the index costs one compare
// of a word where the map hashes a 12- or 28-byte struct key and walks its
// groups.
//
// Lookups of known keys allocate nothing; inserting allocates only while
// the table grows towards its limit. A Table is not safe for concurrent use.
type Table[K comparable, V any] struct {
	slots   []slot[K, V]
	free    []int32
	limit   int
	evicted uint64
	scratch []int64

	hash func(K) uint64
	// index has a power-of-two size of at least twice the entries, so
	// that probe runs stay short. An entry is 0 when empty, else the
	// slot's number + 1 in its low 32 bits and the top 32 bits of the
	// key's hash in its high ones: a probe compares keys only when those
	// agree. A key's run starts at the top bits of its hash (shift).
	index []uint64
	shift uint
}

type slot[K comparable, V any] struct {
	key  K
	last int64 // when the entry was last touched, for eviction
	used bool
	val  V
}

// New returns a Table holding at most limit entries (at least 16), found
// through an index by hash. hash must be cheap and mix every
// part of a key into the top bits of its result, as HashPair does; it need
// not be collision-free (a collision only costs a compare of the keys).
func New[K comparable, V any](limit int, hash func(K) uint64) *Table[K, V] {
	limit = max(limit, 16)
	initial := min(limit, 256)
	t := &Table[K, V]{
		slots: make([]slot[K, V], 0, initial),
		limit: limit,
		hash:  hash,
	}
	// A power of two, as the index's probing needs (mask, shift).
	t.resize(1 << bits.Len(uint(2*initial-1)))
	return t
}

// HashPair is a hash for New made of two words of a key (an IPv4 address
// or a MAC, and a VLAN): a multiplicative mix of both, whose top bits are
// the best mixed, which is where the index takes a key's place from.
func HashPair(a, b uint64) uint64 {
	return a*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f
}

// HashAddr is HashPair of an address, by its last four bytes (the whole of
// an IPv4 address), and a VLAN: the hash of the tables keyed by both (ARP
// bindings, NLB clusters), whose keys hold IPv4 addresses only. A
// netip.Addr is hashed by a map field by field; this costs a multiply.
func HashAddr(ip netip.Addr, vlan uint64) uint64 {
	b := ip.As16()
	return HashPair(uint64(binary.BigEndian.Uint32(b[12:])), vlan)
}

// resize makes the index size entries, a power of two, and fills it with
// the slots in use.
func (t *Table[K, V]) resize(size int) {
	if cap(t.index) >= size {
		t.index = t.index[:size]
		clear(t.index)
	} else {
		t.index = make([]uint64, size)
	}
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for i := range t.slots {
		if s := &t.slots[i]; s.used {
			_, pos, tag := t.find(s.key)
			t.index[pos] = tag | uint64(i+1)
		}
	}
}

// find returns k's slot, or -1 with the empty index entry where k would
// go; tag is the high half of k's index entry.
func (t *Table[K, V]) find(k K) (i int32, pos int, tag uint64) {
	h := t.hash(k)
	tag = h &^ (1<<32 - 1)
	mask := len(t.index) - 1
	for pos = int(h >> t.shift); ; pos = (pos + 1) & mask {
		e := t.index[pos]
		if e == 0 {
			return -1, pos, tag
		}
		if e&^(1<<32-1) == tag {
			if i := int32(uint32(e)) - 1; t.slots[i].key == k {
				return i, pos, tag
			}
		}
	}
}

// Get returns the value under k, or nil.
func (t *Table[K, V]) Get(k K) *V {
	if i, _, _ := t.find(k); i >= 0 {
		return &t.slots[i].val
	}
	return nil
}

// Upsert returns the value under k, creating a zero value when k is new,
// and marks the entry as seen at now (any monotonic unit: nlbprobe passes
// packet time in nanoseconds). created reports whether k was new. When the
// table is full, the least recently seen eighth of it is evicted first.
func (t *Table[K, V]) Upsert(k K, now int64) (v *V, created bool) {
	i, pos, tag := t.find(k)
	if i >= 0 {
		s := &t.slots[i]
		if now > s.last {
			s.last = now
		}
		return &s.val, false
	}
	// Eviction and growth rebuild the index: k's place moves.
	if t.Len() >= t.limit {
		t.evict()
		_, pos, _ = t.find(k)
	} else if 2*(t.Len()+1) > len(t.index) {
		t.resize(2 * len(t.index))
		_, pos, _ = t.find(k)
	}
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.slots = append(t.slots, slot[K, V]{})
		i = int32(len(t.slots) - 1)
	}
	s := &t.slots[i]
	*s = slot[K, V]{key: k, last: now, used: true}
	t.index[pos] = tag | uint64(i+1)
	return &s.val, true
}

// evict drops the least recently seen entries, an eighth of the limit, so
// that the cost of finding them (a sort of the last-seen times) and of
// rebuilding the index after is spread over many inserts.
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
		*s = slot[K, V]{}
		t.free = append(t.free, int32(i))
		dropped++
	}
	t.evicted += uint64(dropped)
	t.resize(len(t.index))
}

// Len returns the number of entries: the slots not on the free list.
func (t *Table[K, V]) Len() int { return len(t.slots) - len(t.free) }

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
