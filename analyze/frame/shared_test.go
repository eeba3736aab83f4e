package frame_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
)

type record struct {
	data    []byte
	wireLen int
	link    layers.LinkType
}

func toRecords(recs []testcapture.Record) []record {
	out := make([]record, len(recs))
	for i, r := range recs {
		out[i] = record{r.Data, r.WireLen, r.LinkType}
	}
	return out
}

// readCapture returns the frames of a file of the shared corpus, skipping
// the test when the corpus is absent.
func readCapture(t testing.TB, name string) []record {
	t.Helper()
	return toRecords(testcapture.MustRead(t, filepath.Join(testcapture.SharedPcaps(t), name)))
}

// readCaptureLenient returns the frames of a capture file up to its first
// error, for seeding fuzzers and corpus tests.
func readCaptureLenient(path string) []record {
	recs, _ := testcapture.Read(path)
	return toRecords(recs)
}

// corpusPath returns the path of a file of the shared corpus, which may be
// absent (readCaptureLenient then reads nothing).
func corpusPath(name string) string {
	return filepath.Join(testcapture.ModuleRoot(), "..", "shared", "pcaps", "tcpdump-tests", name)
}

// forEachCorpusFrame calls fn with every frame of every classic pcap file
// of the shared corpus, named "FILE frame N", skipping the test when the
// corpus is absent.
func forEachCorpusFrame(t testing.TB, fn func(name string, r record)) {
	t.Helper()
	dir := testcapture.SharedPcaps(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pcap") {
			continue
		}
		for i, r := range readCaptureLenient(filepath.Join(dir, e.Name())) {
			fn(e.Name()+" frame "+strconv.Itoa(i+1), r)
		}
	}
}
