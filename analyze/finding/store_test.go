package finding_test

import (
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/finding"
)

func TestStore(t *testing.T) {
	var streamed []string
	s := finding.NewStore(3)
	s.OnChange = func(f *finding.Finding, isNew bool) {
		state := "update"
		if isNew {
			state = "new"
		}
		streamed = append(streamed, string(f.Kind)+" "+state)
	}
	t0 := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	dup := finding.Key{Kind: finding.DuplicateIP, N: 1}
	s.Raise(dup, finding.Finding{Severity: finding.Error, Time: t0, Evidence: []uint64{1}})
	for n := uint64(2); n <= 30; n++ {
		if !s.Touch(dup, n) {
			t.Fatal("Touch of a known key said unknown")
		}
	}
	if s.Touch(finding.Key{Kind: finding.MACChange}, 1) {
		t.Fatal("Touch of an unknown key said known")
	}
	mc := finding.Key{Kind: finding.MACChange}
	s.Raise(mc, finding.Finding{Severity: finding.Warning, Time: t0})
	s.Withdraw(mc)
	if _, isNew := s.Raise(mc, finding.Finding{}); isNew {
		t.Fatal("a withdrawn finding was raised again")
	}
	gap := finding.Key{Kind: finding.HeartbeatGap}
	s.Raise(gap, finding.Finding{Severity: finding.Info, Time: t0.Add(time.Second)})
	f, _ := s.Get(gap)
	f.End = t0.Add(2 * time.Second)
	s.Update(gap)
	if _, isNew := s.Raise(finding.Key{Kind: finding.MalformedFrame}, finding.Finding{}); isNew || s.Overflow() != 1 {
		t.Fatalf("store over its limit: overflow %d", s.Overflow())
	}

	got := s.Findings()
	if len(got) != 2 || got[0].Kind != finding.DuplicateIP || got[1].Kind != finding.HeartbeatGap {
		t.Fatalf("findings %+v", got)
	}
	if got[0].Count != 30 || len(got[0].Evidence) != finding.MaxEvidence || got[0].Evidence[15] != 16 {
		t.Errorf("count %d evidence %v", got[0].Count, got[0].Evidence)
	}
	want := []string{"duplicate-ip new", "mac-change new", "heartbeat-gap new", "heartbeat-gap update"}
	if len(streamed) != len(want) {
		t.Fatalf("streamed %v", streamed)
	}
	for i := range want {
		if streamed[i] != want[i] {
			t.Errorf("streamed %v, want %v", streamed, want)
		}
	}
	if sev, ok := s.Worst(); !ok || sev != finding.Error {
		t.Errorf("worst %v %v", sev, ok)
	}
}

func TestTouchAllocs(t *testing.T) {
	s := finding.NewStore(10)
	k := finding.Key{Kind: finding.MalformedFrame, N: 3}
	s.Raise(k, finding.Finding{})
	n := uint64(0)
	if a := testing.AllocsPerRun(1000, func() { n++; s.Touch(k, n) }); a != 0 {
		t.Fatalf("%.1f allocs per Touch", a)
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range []string{"info", "warning", "error", "ERROR"} {
		if _, err := finding.ParseSeverity(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := finding.ParseSeverity("fatal"); err == nil {
		t.Error("fatal accepted")
	}
}

// TestStoreEpisodes: a state that comes and goes takes one finding per
// episode (M = 0, 1, ...), skips withdrawn ones, and past MaxEpisodes
// hands back the last one to reopen.
func TestStoreEpisodes(t *testing.T) {
	s := finding.NewStore(100)
	t0 := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	base := finding.Key{Kind: finding.IGMPMemberMissing, N: 2, M: 7} // M is ignored
	k, f := s.Episode(base)
	if f != nil || k.M != 0 {
		t.Fatalf("empty store: episode %d, %v", k.M, f)
	}
	s.Raise(k, finding.Finding{Severity: finding.Warning, Start: t0})
	if k2, f := s.Episode(base); f == nil || k2 != k {
		t.Fatalf("the open episode is not found: %d, %v", k2.M, f)
	}
	f, _ = s.Get(k)
	f.End = t0.Add(time.Minute)
	k, f = s.Episode(base)
	if f != nil || k.M != 1 {
		t.Fatalf("after an ended episode: %d, %v", k.M, f)
	}
	s.Raise(k, finding.Finding{Severity: finding.Info})
	s.Withdraw(k)
	if k, f = s.Episode(base); f != nil || k.M != 2 {
		t.Fatalf("after a withdrawn episode: %d, %v", k.M, f)
	}
	for m := int64(2); m < finding.MaxEpisodes; m++ {
		k.M = m
		s.Raise(k, finding.Finding{Severity: finding.Warning, Start: t0, End: t0.Add(time.Second)})
	}
	k, f = s.Episode(base)
	if f == nil || k.M != finding.MaxEpisodes-1 || f.End.IsZero() {
		t.Fatalf("past MaxEpisodes: episode %d, %+v, want the last one, ended", k.M, f)
	}
	if s.Len() != finding.MaxEpisodes {
		t.Errorf("%d findings, want %d", s.Len(), finding.MaxEpisodes)
	}
}
