package finding

import "testing"

func TestPlural(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Plural(0, "frame", "frames"), "0 frames"},
		{Plural(1, "frame", "frames"), "1 frame"},
		{Plural(2, "frame", "frames"), "2 frames"},
		{Plural(uint64(1), "entry", "entries"), "1 entry"},
		{Plural(uint64(18446744073709551615), "entry", "entries"), "18446744073709551615 entries"},
		{Plural(int64(-1), "second", "seconds"), "-1 seconds"},
		{Plural(uint16(1), "info", "info"), "1 info"},
		{Verb(1, "was", "were"), "was"},
		{Verb(uint64(3), "was", "were"), "were"},
		{Verb(0, "was", "were"), "were"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: %q, want %q", i, tt.got, tt.want)
		}
	}
}
