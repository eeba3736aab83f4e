package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// sortAll makes the pipeline's reader sort every frame; sortHalf the first
// half of each batch (the analyzer sorts the rest).
func sortAll(int, int) bool { return true }

func sortHalf(sorted, total int) bool { return sorted < total/2 }

// jsonReport reads paths with read and returns the JSON report, inputs
// included, as runRead builds it.
func jsonReport(t *testing.T, paths []string, read func(*capture.FileSource, *analyze.Engine) (bool, error)) []byte {
	t.Helper()
	src, err := capture.OpenFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	e := analyze.New(analyze.Options{})
	if interrupted, err := read(src, e); interrupted || err != nil {
		t.Fatalf("interrupted %v, error %v", interrupted, err)
	}
	noteInputs(e, src.Inputs())
	r := e.Finish()
	r.Inputs = reportInputs(src.Inputs())
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPipelineSplitIsFeed runs the pipeline with every frame sorted by the
// reader, with the first half of each batch sorted, and as nlbprobe read
// runs it, on the 60,000-frame mixed capture and on every fixture capture
// (VLAN tags, snaplen cuts, malformed frames, Linux cooked captures,
// pcapng, gzip): the JSON report must be byte for byte the one of feed,
// packet by packet on one goroutine.
func TestPipelineSplitIsFeed(t *testing.T) {
	mixedPath := filepath.Join(t.TempDir(), "mixed.pcap")
	if err := fixtures.WriteMixedFile(mixedPath, 60000, 3); err != nil {
		t.Fatal(err)
	}
	captures, err := filepath.Glob(filepath.Join(moduleRoot(), "fixtures", "captures", "*.pcap*"))
	if err != nil || len(captures) == 0 {
		t.Fatalf("no fixture captures: %v", err)
	}
	ctx := context.Background()
	for _, path := range append([]string{mixedPath}, captures...) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := jsonReport(t, []string{path}, func(s *capture.FileSource, e *analyze.Engine) (bool, error) { return feed(ctx, s, e) })
			for _, p := range []struct {
				name string
				sort sortPolicy
			}{{"all sorted", sortAll}, {"half sorted", sortHalf}, {"sorted while the analyzer is busy", nil}} {
				got := jsonReport(t, []string{path}, func(s *capture.FileSource, e *analyze.Engine) (bool, error) {
					return pipeline(ctx, s, e, p.sort)
				})
				if !bytes.Equal(got, want) {
					t.Errorf("%s: the report differs from feed's", p.name)
				}
			}
		})
	}
}

// TestReceive checks the pipeline's polling receive: values in order, the
// close seen, and a value sent after the polling has given up (the
// goroutine then blocks) still received.
func TestReceive(t *testing.T) {
	c := make(chan int, 2)
	c <- 1
	c <- 2
	for want := 1; want <= 2; want++ {
		if v, ok := receive(c); !ok || v != want {
			t.Fatalf("receive = %d, %v; want %d, true", v, ok, want)
		}
	}
	late := 20 * spinWait
	go func() {
		time.Sleep(late)
		c <- 3
		close(c)
	}()
	start := time.Now()
	if v, ok := receive(c); !ok || v != 3 {
		t.Fatalf("receive of a late value = %d, %v; want 3, true", v, ok)
	}
	if waited := time.Since(start); waited < late {
		t.Errorf("receive returned after %v, before the value was sent (%v)", waited, late)
	}
	if v, ok := receive(c); ok {
		t.Errorf("receive on a closed channel = %d, true", v)
	}
}
