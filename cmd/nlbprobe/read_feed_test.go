package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// TestFeedFilesIsFeed reads captures packet by packet (feed) and in
// batches, on one goroutine and as the reader-analyzer pipeline: the
// reports and what the source says of its inputs must be the same.
func TestFeedFilesIsFeed(t *testing.T) {
	dir := t.TempDir()
	var mixed bytes.Buffer
	if err := fixtures.WriteMixed(&mixed, 60000, 3); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "mixed.pcap")
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(whole, mixed.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut, mixed.Bytes()[:mixed.Len()-50], 0o644); err != nil {
		t.Fatal(err)
	}
	report := jsonReport
	ctx := context.Background()
	for _, paths := range [][]string{{whole}, {cut}, {whole, cut}} {
		want := report(t, paths, func(s *capture.FileSource, e *analyze.Engine) (bool, error) { return feed(ctx, s, e) })
		for _, pipelined := range []bool{false, true} {
			got := report(t, paths, func(s *capture.FileSource, e *analyze.Engine) (bool, error) {
				return feedFiles(ctx, s, e, pipelined)
			})
			if !bytes.Equal(got, want) {
				t.Errorf("%d files, pipelined %v: the report differs from feed's", len(paths), pipelined)
			}
		}
	}
}

// TestFeedFilesInterrupted cancels the context: the pipeline stops with
// interrupted set, its reader stopped (the source can be used again). The
// frames already read when it stops are analyzed (the batch in hand: on a
// live pipe, the frames that came before Ctrl-C), nothing after them.
func TestFeedFilesInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	if err := fixtures.WriteMixedFile(path, 200000, 1); err != nil { // far more than the pipeline reads ahead
		t.Fatal(err)
	}
	// The frames of the first batch: the most analyzed after the cancel.
	first, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var fb capture.Batch
	if err := first.NextBatch(&fb); err != nil {
		t.Fatal(err)
	}
	batch := uint64(fb.Len())
	first.Close()
	for _, pipelined := range []bool{false, true} {
		src, err := capture.OpenFiles([]string{path})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e := analyze.New(analyze.Options{})
		interrupted, err := feedFiles(ctx, src, e, pipelined)
		if !interrupted || err != nil {
			t.Errorf("pipelined %v: interrupted %v, error %v", pipelined, interrupted, err)
		}
		if n := e.Stats().Frames; n > batch {
			t.Errorf("pipelined %v: %d frames analyzed after the cancel, more than the batch in hand (%d)", pipelined, n, batch)
		}
		// The reader has stopped: reading on from this goroutine is safe
		// (the race detector would see it otherwise).
		var b capture.Batch
		if err := src.NextBatch(&b); err != nil {
			t.Errorf("pipelined %v: reading after the pipeline: %v", pipelined, err)
		}
		src.Close()
	}
}
