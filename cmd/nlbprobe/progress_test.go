package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRenderProgress(t *testing.T) {
	tests := []struct {
		name        string
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{"start", 0, 293_900_000, 0, "  0% [                    ] 0.0/293.9 MB  0.0 MB/s  ETA --:--"},
		{"percent rounded down", 123_400_000, 293_900_000, 2 * time.Second, " 41% [########            ] 123.4/293.9 MB  61.7 MB/s  ETA 0:03"},
		{"half", 500_000_000, 1_000_000_000, 5 * time.Second, " 50% [##########          ] 500.0/1000.0 MB  100.0 MB/s  ETA 0:05"},
		{"hours left", 1_000_000, 10_000_000_000, time.Second, "  0% [                    ] 1.0/10000.0 MB  1.0 MB/s  ETA 2:46:39"},
		{"done", 2_000_000, 2_000_000, time.Second, "100% [####################] 2.0/2.0 MB  2.0 MB/s  ETA 0:00"},
		{"more than the total", 3_000_000, 2_000_000, time.Second, "100% [####################] 2.0/2.0 MB  3.0 MB/s  ETA 0:00"},
		{"unknown total (a pipe)", 52_500_000, 0, 500 * time.Millisecond, "123456 frames  52.5 MB  105.0 MB/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderProgress(tt.done, tt.total, 123456, tt.elapsed); got != tt.want {
				t.Errorf("renderProgress(%d, %d, %v)\n got %q\nwant %q", tt.done, tt.total, tt.elapsed, got, tt.want)
			}
		})
	}
}

// fakeProgress returns done of total, growing by step at each call, and
// tells calls about every call.
type fakeProgress struct {
	done, total, step int64
	calls             chan struct{}
}

func (f *fakeProgress) Progress() (int64, int64) {
	d := f.done
	f.done += f.step
	select {
	case f.calls <- struct{}{}:
	default:
	}
	return d, f.total
}

func TestProgressSilentWhenNotATerminal(t *testing.T) {
	file, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r, pipe, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pipe.Close()
	var buf bytes.Buffer
	for name, w := range map[string]interface {
		Write([]byte) (int, error)
	}{"buffer": &buf, "file": file, "pipe": pipe} {
		t.Run(name, func(t *testing.T) {
			src := &fakeProgress{total: 100, step: 10, calls: make(chan struct{}, 1)}
			p := newProgress(w, src)
			p.Stop() // would erase the line if one had been started
			p.Stop()
			select {
			case <-src.calls:
				t.Error("Progress was called")
			default:
			}
		})
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q to a buffer", buf.String())
	}
	if st, _ := file.Stat(); st.Size() != 0 {
		t.Errorf("wrote %d bytes to a file", st.Size())
	}
	pipe.Close()
	if b, _ := io.ReadAll(r); len(b) != 0 {
		t.Errorf("wrote %q to a pipe", b)
	}
}

func TestProgressDrawsAndErases(t *testing.T) {
	var buf bytes.Buffer
	src := &fakeProgress{total: 4_000_000, step: 1_000_000, calls: make(chan struct{})}
	p := startProgress(&buf, src, time.Millisecond)
	for range 3 {
		<-src.calls
	}
	p.Stop()
	p.Stop()
	out := buf.String()
	// Each redraw: back to the line's start, the line, erase the rest.
	redraw := regexp.MustCompile(`^\r(  0| 25| 50)% \[[# ]{20}\] \d+\.\d/4\.0 MB  \d+\.\d MB/s  ETA \S+\x1b\[K$`)
	parts := strings.SplitAfter(out, "\x1b[K")
	if len(parts) < 4 || parts[len(parts)-1] != "" || parts[len(parts)-2] != "\r\x1b[K" {
		t.Fatalf("output %q: want redraws then an erased line", out)
	}
	for i, line := range parts[:3] {
		if !redraw.MatchString(line) {
			t.Errorf("redraw %d: %q", i, line)
		}
	}
	if !strings.Contains(parts[0], " 0% [ ") || !strings.Contains(parts[1], " 25% [#####     ") {
		t.Errorf("first redraws %q, %q: want 0%% then 25%%", parts[0], parts[1])
	}
}
