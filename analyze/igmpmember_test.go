package analyze_test

import (
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze"
)

// TestIGMPMemberState checks the word the text and HTML reports give a
// membership: a leave wins over activity, and a membership neither left
// nor reported within the timeout has expired.
func TestIGMPMemberState(t *testing.T) {
	for _, tt := range []struct {
		left, active bool
		want         string
	}{
		{false, true, "active"},
		{false, false, "expired"},
		{true, false, "left"},
		{true, true, "left"},
	} {
		m := analyze.IGMPMember{Left: tt.left, Active: tt.active}
		if got := m.State(); got != tt.want {
			t.Errorf("left %v, active %v: %q, want %q", tt.left, tt.active, got, tt.want)
		}
	}
}
