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
