package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/fixtures"
)

// htmlBenchFrames is the size of the mixed capture of BenchmarkHTMLMix: the
// 5M-frame mix of nlbbench and issue 18.
const htmlBenchFrames = 5_000_000

// BenchmarkHTMLMix measures the HTML report of the 5M-frame mix
// (fixtures.WriteMixedFile, or the capture NLBBENCH_FILE names): each op
// runs `read --json` and `read --json --html` in turn, and the benchmark
// reports what issue 18 bounds:
//
//   - page-bytes: the page's size (must stay under 2 MB);
//   - html-overhead-%: how much --html adds to read --json's time
//     (medians; must stay under 10%);
//   - chromium-ms: how long headless Chromium takes to load and lay out
//     the page, less its time for an empty page (must stay under 2 s).
//
// Run it alone: go test ./cmd/nlbprobe -run '^$' -bench HTMLMix -benchtime 5x
func BenchmarkHTMLMix(b *testing.B) {
	path := os.Getenv("NLBBENCH_FILE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "mixed.pcap")
		if err := fixtures.WriteMixedFile(path, htmlBenchFrames, 1); err != nil {
			b.Fatal(err)
		}
	}
	page := filepath.Join(b.TempDir(), "mix.html")
	timed := func(args ...string) time.Duration {
		start := time.Now()
		if code := run(context.Background(), args, io.Discard, io.Discard); code != exitOK {
			b.Fatalf("%v: exit %d", args, code)
		}
		return time.Since(start)
	}
	var plain, withHTML []time.Duration
	for b.Loop() {
		plain = append(plain, timed("read", "--json", "--fail-on", "none", path))
		withHTML = append(withHTML, timed("read", "--json", "--fail-on", "none", "--html", page, path))
	}
	b.StopTimer()
	fi, err := os.Stat(page)
	if err != nil {
		b.Fatal(err)
	}
	overhead := 100 * (median(withHTML).Seconds()/median(plain).Seconds() - 1)
	b.ReportMetric(float64(fi.Size()), "page-bytes")
	b.ReportMetric(overhead, "html-overhead-%")
	if fi.Size() >= 2<<20 {
		b.Errorf("the page of the mix is %d bytes, want under 2 MB", fi.Size())
	}

	browser := requireChromium(b)
	empty := filepath.Join(b.TempDir(), "empty.html")
	if err := os.WriteFile(empty, []byte("<!DOCTYPE html><title>empty</title>"), 0o644); err != nil {
		b.Fatal(err)
	}
	var load, base []time.Duration
	for range 3 {
		base = append(base, loadInChromium(b, browser, empty, "empty.png").took)
		p := loadInChromium(b, browser, page, "mix.png")
		if len(p.console) > 0 {
			b.Errorf("console messages: %v", p.console)
		}
		load = append(load, p.took)
	}
	render := median(load) - median(base)
	b.ReportMetric(float64(render.Milliseconds()), "chromium-ms")
	b.Logf("page %d bytes; read --json %v, with --html %v (+%.1f%%); Chromium %v for the page, %v for an empty one",
		fi.Size(), median(plain), median(withHTML), overhead, median(load), median(base))
	if render >= 2*time.Second {
		b.Errorf("Chromium took %v to render the page, want under 2 s", render)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
