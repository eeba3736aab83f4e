package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/report"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// benchFrames is the size of the mixed capture the read benchmarks use.
const benchFrames = 1_000_000

// benchPath returns the mixed capture of a benchmark: written into the
// benchmark's temporary directory (removed after it), or the existing
// capture NLBBENCH_FILE names (the 5M-frame one of nlbbench).
func benchPath(b *testing.B) string {
	if path := os.Getenv("NLBBENCH_FILE"); path != "" {
		return path
	}
	path := filepath.Join(b.TempDir(), "mixed.pcap")
	if err := fixtures.WriteMixedFile(path, benchFrames, 1); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkRead runs `nlbprobe read --json` end to end on the mixed
// capture: reading, analysis, the report and its JSON. One op is one run;
// frames/s is reported.
func BenchmarkRead(b *testing.B) {
	path := benchPath(b)
	frames := countFrames(b, path)
	b.ReportAllocs()
	for b.Loop() {
		if code := run(context.Background(), []string{"read", "--json", "--fail-on", "none", path}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkFeed is the analysis part of BenchmarkRead alone (reading and
// the engine, no report), on one goroutine and as the two-goroutine
// pipeline of reader and analyzer. One op is one frame.
func BenchmarkFeed(b *testing.B) {
	path := benchPath(b)
	frames := countFrames(b, path)
	for _, c := range []struct {
		name      string
		pipelined bool
	}{{"one-goroutine", false}, {"pipeline", true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			// CPU time per frame, both goroutines together: what the
			// pipeline can at best halve with two cores, and steadier
			// than the time per op on a shared machine.
			if cpuStart, ok := cpuTime(b); ok {
				defer func() {
					cpuEnd, _ := cpuTime(b)
					b.ReportMetric(float64(cpuEnd-cpuStart)/float64(b.N), "cpu-ns/frame")
				}()
			}
			for done := 0; done < b.N; done += int(frames) {
				src, err := capture.OpenFiles([]string{path})
				if err != nil {
					b.Fatal(err)
				}
				e := analyze.New(analyze.Options{})
				if _, err := feedFiles(context.Background(), src, e, c.pipelined); err != nil {
					b.Fatal(err)
				}
				src.Close()
			}
		})
	}
}

// countFrames reads the capture once to count its frames.
func countFrames(b *testing.B, path string) uint64 {
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var batch capture.Batch
	n := uint64(0)
	for src.NextBatch(&batch) == nil {
		n += uint64(batch.Len())
	}
	return n
}

// BenchmarkReportJSON measures writing the report of the mixed capture as
// read --json does (the indented JSON, to io.Discard). One op is one
// report.
func BenchmarkReportJSON(b *testing.B) {
	path := benchPath(b)
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	e := analyze.New(analyze.Options{})
	if _, err := feedFiles(context.Background(), src, e, true); err != nil {
		b.Fatal(err)
	}
	r := e.Finish()
	b.ReportAllocs()
	for b.Loop() {
		if err := report.WriteJSON(io.Discard, r, true, nil); err != nil {
			b.Fatal(err)
		}
	}
}
