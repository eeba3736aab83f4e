package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progressEvery is the redraw period: at most five times a second, which
// looks live and costs nothing next to reading the files.
const progressEvery = 200 * time.Millisecond

// progress draws a one-line progress bar for reading capture files on a
// terminal, from its own goroutine: percent, megabytes read of the total,
// speed and time left; frames and megabytes read when the total is not
// known (standard input). It draws nothing when its writer is not a terminal
// (a pipe, a file, a CI log), so output stays clean there.
//
// Nothing else may write to the same terminal between newProgress and
// Stop, or the line is mixed with that output; call Stop first.
type progress struct {
	w    io.Writer
	src  interface{ Progress() (int64, int64) }
	stop chan struct{} // nil when inactive
	done chan struct{}
}

// newProgress starts a progress line on w for src, whose Progress returns
// the bytes done and the total (0 when unknown), if w is a terminal.
func newProgress(w io.Writer, src interface{ Progress() (int64, int64) }) *progress {
	if !isTerminal(w) {
		return &progress{}
	}
	return startProgress(w, src, progressEvery)
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress draws the line on w every interval until Stop.
func startProgress(w io.Writer, src interface{ Progress() (int64, int64) }, interval time.Duration) *progress {
	p := &progress{w: w, src: src, stop: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				done, total := src.Progress()
				frames := int64(-1)
				if f, ok := src.(interface{ FramesRead() uint64 }); ok {
					frames = int64(f.FramesRead())
				}
				// \r back to the start of the line, \x1b[K erase what a
				// longer previous line left.
				fmt.Fprintf(w, "\r%s\x1b[K", renderProgress(done, total, frames, time.Since(start)))
			}
		}
	}()
	return p
}

// Stop stops drawing and erases the line. It may be called more than once.
func (p *progress) Stop() {
	if p.stop == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.stop = nil
	fmt.Fprint(p.w, "\r\x1b[K")
}

// renderProgress formats the progress line for done of total bytes after
// elapsed, e.g. " 41% [########            ] 123.4/293.9 MB  61.7 MB/s  ETA 0:03".
// total 0 means unknown (a pipe, standard input): then the frames read
// (frames, when not negative), the bytes and the speed, with no percent
// or time left to guess.
func renderProgress(done, total, frames int64, elapsed time.Duration) string {
	const mb = 1e6
	speed := 0.0
	if elapsed > 0 {
		speed = float64(done) / elapsed.Seconds()
	}
	if total <= 0 {
		if frames >= 0 {
			return fmt.Sprintf("%d frames  %.1f MB  %.1f MB/s", frames, float64(done)/mb, speed/mb)
		}
		return fmt.Sprintf("%.1f MB  %.1f MB/s", float64(done)/mb, speed/mb)
	}
	done = min(max(done, 0), total)
	const width = 20
	filled := int(done * width / total)
	eta := "--:--"
	if speed > 0 {
		eta = formatETA(time.Duration(float64(total-done) / speed * float64(time.Second)))
	}
	return fmt.Sprintf("%3d%% [%s%s] %.1f/%.1f MB  %.1f MB/s  ETA %s",
		done*100/total, strings.Repeat("#", filled), strings.Repeat(" ", width-filled),
		float64(done)/mb, float64(total)/mb, speed/mb, eta)
}

// formatETA writes d rounded up to the second as m:ss or h:mm:ss.
func formatETA(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
