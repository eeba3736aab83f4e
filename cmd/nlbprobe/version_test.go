package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
)

// TestVersion checks both spellings print the version line with the Go
// version, and that arguments are refused.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-V"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errb.String())
		}
		line := out.String()
		if !strings.HasPrefix(line, "nlbprobe ") || !strings.Contains(line, runtime.Version()) || !strings.Contains(line, " commit ") {
			t.Errorf("%v: %q, want \"nlbprobe VERSION commit REV, %s\"", args, line, runtime.Version())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version", "extra"}, &out, &errb); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
}
