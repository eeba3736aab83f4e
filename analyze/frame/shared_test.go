package frame_test

import (
	"path/filepath"
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
