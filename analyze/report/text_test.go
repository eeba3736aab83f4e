package report_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/report"
)

// TestTextSingular checks that counts of one read as English in the text
// report ("1 frame", not "1 frames"): a capture of a single frame.
func TestTextSingular(t *testing.T) {
	e := analyze.New(analyze.Options{})
	frame := make([]byte, 60)
	frame[12], frame[13] = 0x08, 0x06 // ARP, cut short: a malformed frame
	e.PacketAt(frame, 1, time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC).UnixNano(), len(frame), layers.LinkTypeEthernet, 0)
	r := e.Finish()
	r.Inputs = []analyze.Input{{Path: "one.pcap", Format: "pcap", LinkTypes: []string{"Ethernet"}, Frames: 1}}
	var b bytes.Buffer
	if err := report.WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"one.pcap (pcap, Ethernet): 1 frame\n", "capture  1 frame from", "  1 frame, ", "IGMP (0 groups, 0 queriers)"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`\b1 (frames|errors|warnings|groups|queriers|heartbeats|findings)\b`).FindString(out); m != "" {
		t.Errorf("%q in:\n%s", m, out)
	}
}
