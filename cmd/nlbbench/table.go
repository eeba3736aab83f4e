package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one run of one tool.
type result struct {
	tool    string
	frames  uint64        // frames the tool went through
	elapsed time.Duration // wall time
	maxRSS  int64         // peak resident set, bytes
	skipped string        // why the tool did not run, if it did not
	// estimated says that elapsed is extrapolated to frames from shorter
	// runs (extrapolate), not measured.
	estimated bool
	// reused says that the tool did not run in this round: the result is
	// the median of its runs in earlier rounds (medianRun).
	reused bool
}

// medianRun stands for runs (at least one) in a round that does not run
// the tool again: their median time and peak RSS, marked reused.
func medianRun(runs []result) result {
	var elapsed, rss []float64
	for _, r := range runs {
		elapsed = append(elapsed, float64(r.elapsed))
		rss = append(rss, float64(r.maxRSS))
	}
	m := runs[0]
	m.elapsed, m.maxRSS, m.reused = time.Duration(median(elapsed)), int64(median(rss)), true
	return m
}

// extrapolate estimates the wall time of a tool on frames frames from two
// runs on leading slices of the capture, startup on a few frames and slice
// on more: the tool's start-up (tshark's is about 0.4 s, its dissector
// tables) is paid once, so the time per frame is the slope between the
// two runs, not slice's mean, which would charge the start-up again for
// every slice's worth of frames. When noise makes the slope useless, the
// mean is taken (start-up included, the tool's favour).
func extrapolate(startup, slice result, frames uint64) result {
	est := slice
	est.frames, est.estimated = frames, true
	if frames <= slice.frames || slice.frames <= startup.frames {
		est.frames, est.estimated = slice.frames, false
		return est
	}
	perFrame := float64(slice.elapsed-startup.elapsed) / float64(slice.frames-startup.frames)
	if perFrame <= 0 {
		perFrame = float64(slice.elapsed) / float64(slice.frames)
	}
	est.elapsed = slice.elapsed + time.Duration(perFrame*float64(frames-slice.frames))
	return est
}

// fps returns frames per second.
func (r result) fps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.frames) / r.elapsed.Seconds()
}

// nsPerFrame returns the wall time per frame in nanoseconds.
func (r result) nsPerFrame() float64 {
	if r.frames == 0 {
		return 0
	}
	return float64(r.elapsed.Nanoseconds()) / float64(r.frames)
}

// ratio returns how many times a's frames/s is b's, and false when either
// did not run.
func ratio(a, b result) (float64, bool) {
	if a.skipped != "" || b.skipped != "" || b.fps() == 0 {
		return 0, false
	}
	return a.fps() / b.fps(), true
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// writeRound prints one round's results as a table.
func writeRound(w io.Writer, round int, results []result) {
	fmt.Fprintf(w, "round %d\n", round)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tframes\tseconds\tframes/s\tns/frame\tpeak RSS MiB\t")
	for _, r := range results {
		if r.skipped != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t  skipped: %s\n", r.tool, r.skipped)
			continue
		}
		note := ""
		switch {
		case r.reused:
			note = "  not run: the median of its runs above"
		case r.estimated:
			note = "  extrapolated"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%s\t%.1f\t%s\t%s\n", r.tool, r.frames, r.elapsed.Seconds(),
			humanRate(r.fps()), r.nsPerFrame(), mib(r.maxRSS), note)
	}
	tw.Flush()
}

// mib prints bytes in MiB, "-" for 0 (unknown).
func mib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}

// humanRate prints frames/s with thousands separators: 12,345,678.
func humanRate(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ratioRow is the ratio of nlbprobe to one other tool in every round.
type ratioRow struct {
	name   string    // "nlbprobe/tcpdump"
	rounds []float64 // per round; missing when a tool did not run
	ok     bool
}

// ratios computes nlbprobe/other for each other tool over the rounds.
// rounds[i] holds the results of round i, by tool name.
func ratios(rounds []map[string]result, others []string) []ratioRow {
	var rows []ratioRow
	for _, other := range others {
		row := ratioRow{name: toolNLBProbe + "/" + other, ok: true}
		for _, rs := range rounds {
			v, ok := ratio(rs[toolNLBProbe], rs[other])
			if !ok {
				row.ok = false
				break
			}
			row.rounds = append(row.rounds, v)
		}
		rows = append(rows, row)
	}
	return rows
}

// writeRatios prints the ratio table: one column per round and the median.
func writeRatios(w io.Writer, rows []ratioRow, nRounds int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "frames/s ratio\t"
	for i := range nRounds {
		head += fmt.Sprintf("round %d\t", i+1)
	}
	fmt.Fprintln(tw, head+"median\t")
	for _, r := range rows {
		line := r.name + "\t"
		if !r.ok {
			fmt.Fprintln(tw, line+strings.Repeat("-\t", nRounds)+"-\t  (a tool did not run)")
			continue
		}
		for _, v := range r.rounds {
			line += fmt.Sprintf("%.2fx\t", v)
		}
		fmt.Fprintln(tw, line+fmt.Sprintf("%.2fx\t", median(r.rounds)))
	}
	tw.Flush()
}

// writeMedians prints each tool's median over the rounds.
func writeMedians(w io.Writer, rounds []map[string]result, tools []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "median of rounds\tframes/s\tns/frame\tpeak RSS MiB\t")
	for _, tool := range tools {
		var fps, ns, rss []float64
		for _, rs := range rounds {
			if r, ok := rs[tool]; ok && r.skipped == "" && !r.reused {
				fps = append(fps, r.fps())
				ns = append(ns, r.nsPerFrame())
				if r.maxRSS > 0 {
					rss = append(rss, float64(r.maxRSS))
				}
			}
		}
		if len(fps) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t\n", tool)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t\n", tool, humanRate(median(fps)), median(ns), mib(int64(median(rss))))
	}
	tw.Flush()
}
