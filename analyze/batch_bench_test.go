package analyze_test

import (
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze"
)

// BenchmarkBatchAdd measures the reader's side of the read pipeline:
// sorting a batch of the mix (8192 frames, about the 1 MiB of a read
// buffer, so that it stays in cache as a batch just read does). One op is
// one frame.
func BenchmarkBatchAdd(b *testing.B) {
	recs, err := mixedFrames()
	if err != nil {
		b.Fatal(err)
	}
	c := newContiguous(recs[:8192])
	bt := analyze.NewBatch()
	b.ReportAllocs()
	j := len(c.recs)
	for b.Loop() {
		if j == len(c.recs) {
			bt.Reset()
			j = 0
		}
		r := &c.recs[j]
		bt.Add(c.buf[c.off[j]:c.off[j+1]], uint64(j+1), c.times[j], r.WireLen, r.LinkType, 0)
		j++
	}
}
