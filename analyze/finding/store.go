package finding

import (
	"net/netip"
	"slices"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

// Key identifies one finding, so that more evidence for the same thing
// updates the finding instead of adding another. It is a fixed-size value:
// building one allocates nothing, which keeps Touch free for the per-frame
// path. Fields a kind does not need stay zero.
type Key struct {
	Kind Kind
	// VLAN is a frame.VLAN: the VLAN, the outer QinQ tag and the
	// remote-span session.
	VLAN    uint64
	IP, IP2 netip.Addr
	MAC     addr.MAC
	MAC2    addr.MAC
	// N and M discriminate further: a host priority, a gap's start, a
	// reason code.
	N, M int64
}

// Store collects findings, deduplicated by Key and bounded in number. It is
// not safe for concurrent use.
type Store struct {
	index    map[Key]int
	items    []item
	limit    int
	overflow uint64
	// OnChange, when set, is called with each finding as it is raised (isNew)
	// and each time Update says a raised one changed (a gap that ended). The
	// pointer is valid only during the call.
	OnChange func(f *Finding, isNew bool)
}

type item struct {
	key       Key
	f         Finding
	withdrawn bool
}

// NewStore returns a Store that keeps at most limit findings; further new
// findings are counted in Overflow and otherwise dropped.
func NewStore(limit int) *Store {
	return &Store{index: make(map[Key]int), limit: limit}
}

// Raise adds f under k, or, when k is known, counts one more occurrence and
// adds f's first evidence frame. It returns the stored finding, valid until
// the next Raise, and whether it was new. f.Count may be left zero: a new
// finding counts at least one.
func (s *Store) Raise(k Key, f Finding) (*Finding, bool) {
	if i, ok := s.index[k]; ok {
		it := &s.items[i]
		it.f.Count++
		if len(f.Evidence) > 0 {
			addEvidence(&it.f, f.Evidence[0])
		}
		return &it.f, false
	}
	if len(s.items) >= s.limit {
		s.overflow++
		return nil, false
	}
	if f.Count == 0 {
		f.Count = 1
	}
	f.Kind = k.Kind
	f.SVLAN = frame.VLAN(k.VLAN).Outer()
	if f.RemoteSpan == nil {
		f.RemoteSpan = RemoteSpanOf(frame.VLAN(k.VLAN))
	}
	ev := make([]uint64, 0, MaxEvidence)
	for _, n := range f.Evidence {
		if len(ev) == MaxEvidence {
			break
		}
		ev = append(ev, n)
	}
	f.Evidence = ev
	s.items = append(s.items, item{key: k, f: f})
	s.index[k] = len(s.items) - 1
	it := &s.items[len(s.items)-1]
	if s.OnChange != nil {
		s.OnChange(&it.f, true)
	}
	return &it.f, true
}

// Touch counts one more occurrence of the finding under k, with frame as
// evidence, and reports whether k was known. It allocates nothing.
func (s *Store) Touch(k Key, frame uint64) bool {
	i, ok := s.index[k]
	if !ok {
		return false
	}
	it := &s.items[i]
	it.f.Count++
	addEvidence(&it.f, frame)
	return true
}

func addEvidence(f *Finding, frame uint64) {
	if frame == 0 || len(f.Evidence) >= MaxEvidence {
		return
	}
	if n := len(f.Evidence); n > 0 && f.Evidence[n-1] == frame {
		return
	}
	f.Evidence = append(f.Evidence, frame)
}

// Get returns the finding under k, valid until the next Raise.
func (s *Store) Get(k Key) (*Finding, bool) {
	i, ok := s.index[k]
	if !ok || s.items[i].withdrawn {
		return nil, false
	}
	return &s.items[i].f, true
}

// Update tells the store that the finding under k was changed in place
// through Get, so that OnChange streams it again.
func (s *Store) Update(k Key) {
	if f, ok := s.Get(k); ok && s.OnChange != nil {
		s.OnChange(f, false)
	}
}

// Withdraw removes the finding under k from the report, when a later,
// better explanation superseded it (a mac-change that turned out to be a
// flip-flop). The key stays known, so the finding is not raised again.
func (s *Store) Withdraw(k Key) {
	if i, ok := s.index[k]; ok {
		s.items[i].withdrawn = true
	}
}

// MaxEpisodes bounds the episodes Episode keeps of one finding.
const MaxEpisodes = 16

// Episode finds the current episode of a state that holds for a while,
// ends (the finding's End is set) and may hold again later, such as a
// host missing from its IGMP group: its episodes are keyed k with M = 0,
// 1, ... (k.M is ignored). It returns the key and finding of the latest
// episode when it is still open (End zero); when none is open, the key a
// new episode takes and nil. After MaxEpisodes episodes it returns the
// last one, ended, for the caller to reopen: a state that comes and goes
// all day keeps a bounded number of findings. Withdrawn episodes count as
// taken.
func (s *Store) Episode(k Key) (Key, *Finding) {
	for m := range int64(MaxEpisodes) {
		k.M = m
		i, ok := s.index[k]
		if !ok {
			return k, nil
		}
		it := &s.items[i]
		if it.withdrawn {
			continue
		}
		if it.f.End.IsZero() || m == MaxEpisodes-1 {
			return k, &it.f
		}
	}
	// Every slot is withdrawn: the last one stays taken.
	return k, nil
}

// Len returns the number of findings held, withdrawn ones included.
func (s *Store) Len() int { return len(s.items) }

// Overflow returns how many new findings were dropped because the store was
// full.
func (s *Store) Overflow() uint64 { return s.overflow }

// Findings returns a sorted copy of the findings that were not withdrawn.
func (s *Store) Findings() []Finding {
	out := make([]Finding, 0, len(s.items))
	for i := range s.items {
		if !s.items[i].withdrawn {
			f := s.items[i].f
			f.Evidence = slices.Clone(f.Evidence)
			out = append(out, f)
		}
	}
	Sort(out)
	return out
}

// Worst returns the highest severity among the findings held, and false
// when there are none.
func (s *Store) Worst() (Severity, bool) {
	var worst Severity
	found := false
	for i := range s.items {
		if s.items[i].withdrawn {
			continue
		}
		if !found || s.items[i].f.Severity > worst {
			worst = s.items[i].f.Severity
			found = true
		}
	}
	return worst, found
}
