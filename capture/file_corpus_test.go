package capture_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nlbprobe/nlbprobe/capture"
)

// sharedPcapsDir returns <module root>/../shared/pcaps/tcpdump-tests, or
// an error when it is absent (a fresh clone has no ../shared).
func sharedPcapsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
	pcaps := filepath.Join(dir, "..", "shared", "pcaps", "tcpdump-tests")
	if _, err := os.Stat(pcaps); err != nil {
		return "", err
	}
	return pcaps, nil
}

// sharedPcaps returns the corpus directory or skips the test.
func sharedPcaps(tb testing.TB) string {
	tb.Helper()
	dir, err := sharedPcapsDir()
	if err != nil {
		tb.Skip("../shared/pcaps not present")
	}
	return dir
}

// corpusFiles lists the capture files of the corpus (not tcpdump's
// expected outputs or the licence).
func corpusFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".out") && e.Name() != "LICENSE" {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files
}

// corpusFrameLimit bounds every file: the corpus holds no file with more
// frames, so reaching it would mean a reader that loops.
const corpusFrameLimit = 100000

// TestRealCaptures reads every capture of tcpdump's test suite: real
// traffic of hundreds of protocols and link types, many files deliberately
// malformed. Each must open and read to its end, or fail to open with an
// error naming it; never panic or loop. Classic pcap files are also read
// with pcapgo's Reader, and both readers must agree packet for packet.
func TestRealCaptures(t *testing.T) {
	dir := sharedPcaps(t)
	files := corpusFiles(t, dir)
	if len(files) < 100 {
		t.Fatalf("only %d files in %s", len(files), dir)
	}
	var opened, refused, cut, damaged, frames int
	for _, path := range files {
		src, err := capture.OpenFiles([]string{path})
		ref, refErr := capture.OpenFilesPcapgo([]string{path})
		if err != nil {
			refused++
			if prefix := "capture: open " + path + ": "; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("%s: error %q does not start with %q", path, err, prefix)
			}
			if refErr == nil {
				ref.Close()
				t.Errorf("%s: we refuse it (%v), pcapgo opens it", path, err)
			}
			continue
		}
		if refErr != nil {
			t.Errorf("%s: pcapgo refuses it (%v), we open it", path, refErr)
			src.Close()
			continue
		}
		opened++
		got, err := readAll(t, src, corpusFrameLimit)
		if err != nil || len(got) == corpusFrameLimit {
			t.Errorf("%s: read %d frames, error %v", path, len(got), err)
		}
		want, err := readAll(t, ref, corpusFrameLimit)
		if err != nil {
			t.Errorf("%s: pcapgo: %v", path, err)
		}
		if d := diffPackets(got, want); d != "" {
			t.Errorf("%s: differs from pcapgo's reading: %s", path, d)
		}
		info, refInfo := src.Inputs()[0], ref.Inputs()[0]
		if d := diffVerdict(info, refInfo); d != "" {
			t.Errorf("%s: InputInfo differs from pcapgo's reading: %s", path, d)
		}
		if info.Frames != uint64(len(got)) {
			t.Errorf("%s: Inputs()[0].Frames = %d, read %d", path, info.Frames, len(got))
		}
		frames += len(got)
		if info.TruncatedAtEnd {
			cut++
		}
		if info.Damaged {
			damaged++
		}
		if testing.Verbose() && info.Err != "" {
			t.Logf("%s: %d frames, %s", filepath.Base(path), len(got), info.Err)
		}
		src.Close()
		ref.Close()
	}
	t.Logf("%d files: %d opened (%d frames; %d cut at the end, %d damaged), %d refused", len(files), opened, frames, cut, damaged, refused)
}

// diffVerdict compares what two readers found in one input; the wording
// of Err may differ, not whether there is one.
func diffVerdict(got, want capture.InputInfo) string {
	if (got.Err == "") != (want.Err == "") {
		return fmt.Sprintf("Err %q, want %q", got.Err, want.Err)
	}
	want.Err = got.Err
	return diffInfo(got, want)
}

// TestRealCapturesFrameCounts compares the frame count of every capture of
// the corpus with Wireshark's capinfos, run once over all of them. Files
// capinfos cannot read (link types it does not know) are left out.
func TestRealCapturesFrameCounts(t *testing.T) {
	dir := sharedPcaps(t)
	capinfos, err := exec.LookPath("capinfos")
	if err != nil {
		t.Skip("capinfos not installed (Debian package wireshark-common)")
	}
	files := corpusFiles(t, dir)
	// -T -r: one line per file, "path<TAB>count", no header.
	cmd := exec.Command(capinfos, append([]string{"-c", "-M", "-T", "-r"}, files...)...)
	out, _ := cmd.Output() // exits non-zero when some file is unreadable
	counts := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		path, n, ok := strings.Cut(line, "\t")
		if c, err := strconv.Atoi(strings.TrimSpace(n)); ok && err == nil {
			counts[path] = c
		}
	}
	if len(counts) < len(files)/2 {
		t.Fatalf("capinfos counted %d of %d files:\n%s", len(counts), len(files), out)
	}
	for _, name := range []string{"msnlb.pcap", "msnlb2.pcapng"} {
		if _, ok := counts[filepath.Join(dir, name)]; !ok {
			t.Errorf("capinfos did not count %s", name)
		}
	}
	for path, want := range counts {
		src, err := capture.OpenFiles([]string{path})
		if err != nil {
			t.Errorf("capinfos counts %d frames in %s, we cannot open it: %v", want, path, err)
			continue
		}
		got, err := readAll(t, src, corpusFrameLimit)
		src.Close()
		if err != nil || len(got) != want {
			t.Errorf("%s: read %d frames (error %v), capinfos counts %d", path, len(got), err, want)
		}
	}
	t.Logf("%d of %d files have the frame count capinfos gives", len(counts), len(files))
}
