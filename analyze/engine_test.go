package analyze_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
)

// analyzeFile runs the engine over a capture file of the shared corpus.
func analyzeFile(t *testing.T, name string, opts analyze.Options) *analyze.Report {
	t.Helper()
	recs := testcapture.MustRead(t, filepath.Join(testcapture.SharedPcaps(t), name))
	e := analyze.New(opts)
	for i, r := range recs {
		e.Packet(r.Data, analyze.Meta{Frame: uint64(i + 1), Time: r.Time, Length: r.WireLen, LinkType: r.LinkType})
	}
	return e.Finish()
}

func TestDebugText(t *testing.T) {
	for _, name := range []string{"msnlb.pcap", "msnlb2.pcapng", "IGMP_V2.pcap", "igmpv3-queries.pcap"} {
		r := analyzeFile(t, name, analyze.Options{})
		var b bytes.Buffer
		r.WriteText(&b)
		t.Logf("%s\n%s", name, b.String())
	}
}
