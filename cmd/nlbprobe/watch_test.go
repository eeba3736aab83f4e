package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/report"
	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// scenarioReport runs a fixture scenario through an engine and returns the
// engine, ready for Finish, Report or Snapshot.
func scenarioEngine(t *testing.T, name string, opts analyze.Options) *analyze.Engine {
	t.Helper()
	sc, ok := fixtures.Lookup(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	c, _ := sc.Build()
	e := analyze.New(opts)
	for i, r := range c.Records() {
		e.Packet(r.Frame, analyze.Meta{Frame: uint64(i + 1), Time: c.Start.Add(r.At), Length: len(r.Frame), LinkType: c.LinkType})
	}
	return e
}

func TestWatchUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no interface", []string{"watch"}, "give the interface to capture on with -i IFACE (there are: "},
		{"both JSON forms", []string{"watch", "-i", "lo", "--json", "--json-stream"}, "--json and --json-stream exclude each other"},
		{"--write-all alone", []string{"watch", "-i", "lo", "--write-all"}, "--write-all needs --write FILE"},
		{"bad ring size", []string{"watch", "-i", "lo", "--ring-size", "lots"}, `--ring-size: "lots" is not a size`},
		{"bad vantage", []string{"watch", "-i", "lo", "--vantage", "roof"}, `--vantage "roof": want span or nonmember`},
		{"stray argument", []string{"watch", "-i", "lo", "eth1", "and"}, `"eth1 and" is not a capture filter (`},
		{"unknown flag", []string{"watch", "--bogus"}, "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.want, "capture filter") && os.Geteuid() != 0 {
				t.Skip("compiling a filter for an interface needs what a capture needs (root)")
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != exitUsage || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errb.String(), tt.want)
			}
		})
	}
}

func TestWatchHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"watch", "--help"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Usage: nlbprobe watch -i IFACE", "--json-stream", "--write-all", "--metrics-listen", "--snaplen", "--all", "--duration"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestWatchUnknownInterface needs no privilege: the interface is looked up
// before any socket is opened, and the message lists those there are.
func TestWatchUnknownInterface(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"watch", "-i", "nosuch0"}, &out, &errb)
	names := capture.InterfaceNames()
	if len(names) == 0 {
		t.Skip("cannot list interfaces on this platform")
	}
	if code != exitUsage || !strings.Contains(errb.String(), `no interface "nosuch0"; there are: `+strings.Join(names, ", ")) {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"100MB", 100_000_000, true}, {"64MiB", 64 << 20, true}, {"1G", 1 << 30, true}, {"4096", 4096, true},
		{"1.5GiB", 3 << 29, true}, {"0", 0, true}, {"512k", 512 << 10, true}, {"lots", 0, false}, {"-1MB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestWriteReportJSON checks that the streaming encoder writes the same
// bytes as json.Encoder does for the whole report, with the schema version
// first: indented (--json) and on one line with a type (the last line of
// --json-stream); and that both are valid by the contract's schemas.
//
// The encoder is encoding/json/v2 with the v1 options: the cases include
// what v2 writes differently by default (HTML characters, invalid UTF-8,
// zero times). Nil lists are the one deliberate difference: the contract
// writes them as [] (json.Encoder, null), so the reference is encoded from
// the report with its nil lists made empty.
func TestWriteReportJSON(t *testing.T) {
	// The one difference left: both replace invalid UTF-8 by U+FFFD, which
	// v1 writes escaped and v2 as it is (the same string once decoded).
	asV2 := func(v1 string) string { return strings.ReplaceAll(v1, `\ufffd`, "\ufffd") }
	scenario := func(name string) func(*testing.T) *analyze.Report {
		return func(t *testing.T) *analyze.Report { return scenarioEngine(t, name, analyze.Options{}).Finish() }
	}
	cases := []struct {
		name   string
		report func(*testing.T) *analyze.Report
	}{
		{"migration", scenario("migration")},
		{"two-vlans", scenario("two-vlans")},
		{"igmp-member-missing", scenario("igmp-member-missing")},
		{"no frames", func(*testing.T) *analyze.Report { return analyze.New(analyze.Options{}).Finish() }},
		{"odd strings", func(t *testing.T) *analyze.Report {
			r := scenarioEngine(t, "migration", analyze.Options{}).Finish()
			if len(r.Findings) == 0 {
				t.Fatal("the migration scenario has no findings to edit")
			}
			f := &r.Findings[0]
			f.Subject = "<script>&amp; \xff\xfe \u2028\u2029 \"quoted\"\t"
			f.Message = string([]byte{'a', 0xc3, 0x28, 'b', 0})
			f.Time = time.Time{}
			f.Evidence = nil
			return r
		}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.report(t)
			r.NLBProbeVersion = "(devel)"
			var indented, oneLine bytes.Buffer
			if err := report.WriteJSON(&indented, r, true, nil); err != nil {
				t.Fatal(err)
			}
			if err := report.WriteJSON(&oneLine, r, false, map[string]string{"type": "report"}); err != nil {
				t.Fatal(err)
			}
			checkContract(t, []string{"read", "--json"}, indented.String())
			checkContract(t, []string{"watch", "--json-stream"}, oneLine.String())

			emptyNilLists(reflect.ValueOf(r).Elem())
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			doc := struct {
				SchemaVersion int `json:"schema_version"`
				*analyze.Report
			}{report.SchemaVersion, r}
			if err := enc.Encode(doc); err != nil {
				t.Fatal(err)
			}
			if indented.String() != asV2(want.String()) {
				t.Errorf("indented report differs from json.Encoder's:\n%s\nwant:\n%s", indented.String(), want.String())
			}
			var line struct {
				Type          string `json:"type"`
				SchemaVersion int    `json:"schema_version"`
				*analyze.Report
			}
			line.Type, line.SchemaVersion, line.Report = "report", report.SchemaVersion, r
			b, _ := json.Marshal(line)
			if oneLine.String() != asV2(string(b))+"\n" {
				t.Errorf("stream report line differs:\n%s\nwant:\n%s", oneLine.String(), b)
			}
		})
	}
}

// emptyNilLists replaces every nil slice reachable from v by an empty one.
func emptyNilLists(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			emptyNilLists(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				emptyNilLists(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
		for i := 0; i < v.Len(); i++ {
			emptyNilLists(v.Index(i))
		}
	}
}

func TestStreamerLines(t *testing.T) {
	f := &finding.Finding{Kind: finding.HeartbeatGap, Severity: finding.Warning, Subject: "cluster 10.0.0.5 vlan untagged host 2",
		Time: time.Date(2026, 3, 1, 12, 0, 7, 250e6, time.UTC), Message: "host 2 went quiet", Remedy: "check it", Count: 1}
	st := statusLine{Type: "status", Time: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC), Interface: "eth1", Frames: 120,
		FramesPerSecond: 12.5, ClusterMACFrames: 30, Clusters: 1, Hosts: 2, Findings: 1, Worst: "warning"}

	raised, updated := f.Time, f.Time.Add(1500*time.Millisecond)
	var out, errb bytes.Buffer
	s := newStreamer(&out, &errb, false, false, "test")
	s.finding(f, true, raised)
	s.finding(f, false, updated)
	s.status(st)
	// The update's line carries its own time, so the log stays in capture
	// order, and says when the finding was first raised.
	want := "12:00:07.250 WARNING heartbeat-gap [cluster 10.0.0.5 vlan untagged host 2]: host 2 went quiet\n" +
		"    what to do: check it\n" +
		"12:00:08.750 updated warning heartbeat-gap [cluster 10.0.0.5 vlan untagged host 2] (first raised 12:00:07.250): host 2 went quiet\n" +
		"12:00:10.000 status eth1: 120 frames (12.5/s), 30 to cluster MACs; 1 cluster, 2 hosts; 1 finding, worst warning; kernel drops 0\n"
	if out.String() != want || errb.Len() != 0 {
		t.Errorf("text stream:\n%s\nwant:\n%s", out.String(), want)
	}

	// --json: the lines go to stderr, stdout keeps the document alone.
	out.Reset()
	errb.Reset()
	s = newStreamer(&out, &errb, true, false, "test")
	s.finding(f, true, raised)
	if out.Len() != 0 || !strings.Contains(errb.String(), "WARNING heartbeat-gap") {
		t.Errorf("--json: stdout %q, stderr %q", out.String(), errb.String())
	}

	out.Reset()
	s = newStreamer(&out, &errb, false, true, "test")
	s.finding(f, true, raised)
	s.finding(f, false, updated)
	s.status(st)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("--json-stream: %d lines:\n%s", len(lines), out.String())
	}
	for i, want := range []string{`"event_time":"2026-03-01T12:00:07.25Z"}`, `"event_time":"2026-03-01T12:00:08.75Z"}`} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d: %s\nwant suffix %s", i+1, lines[i], want)
		}
	}
	for i, want := range []string{
		`{"type":"finding","schema_version":2,"nlbprobe_version":"test","event":"raised","kind":"heartbeat-gap","severity":"warning"`,
		`{"type":"finding","schema_version":2,"nlbprobe_version":"test","event":"updated","kind":"heartbeat-gap"`,
		`{"type":"status","schema_version":2,"nlbprobe_version":"test","time":"2026-03-01T12:00:10Z","interface":"eth1","frames":120`} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d: %s\nwant prefix %s", i+1, lines[i], want)
		}
	}
	checkContract(t, []string{"watch", "--json-stream"}, out.String())
}

// evidenceHarness feeds numbered frames to an evidenceWriter as the capture
// loop does, with findings raised by the test in between.
type evidenceHarness struct {
	ev   *evidenceWriter
	path string
	n    uint64
}

func newEvidenceHarness(t *testing.T) *evidenceHarness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ev.pcapng")
	w, err := capture.CreateWriter(capture.WriterConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return &evidenceHarness{ev: newEvidenceWriter(w, false), path: path}
}

func (h *evidenceHarness) frame(data []byte, raise func()) uint64 {
	h.n++
	p := capture.Packet{Data: data, Frame: h.n, LinkType: layers.LinkTypeEthernet,
		Info: gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(h.n)*1e6), CaptureLength: len(data), Length: len(data)}}
	h.ev.keep(&p)
	if raise != nil {
		raise() // what the engine's OnFinding does during Packet
	}
	h.ev.after(&p)
	return h.n
}

// written reads the file back: frame numbers (packet IDs) in file order
// and their comments.
func (h *evidenceHarness) written(t *testing.T) (ids []uint64) {
	t.Helper()
	if err := h.ev.close(nil); err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFiles([]string{h.path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var p capture.Packet
	for {
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// The test frames carry their number in the last 8 bytes.
		ids = append(ids, uint64(p.Data[len(p.Data)-1])|uint64(p.Data[len(p.Data)-2])<<8)
	}
	return ids
}

func TestEvidenceWriter(t *testing.T) {
	h := newEvidenceHarness(t)
	subjectMAC := addr.MAC{0x01, 0x00, 0x5e, 0x7f, 0x03, 0xe8}
	other := addr.MAC{0x00, 0x15, 0x5d, 0, 0, 9}
	client := fixtures.Client{SrcIP: netip.MustParseAddr("172.31.3.50"), DstIP: netip.MustParseAddr("172.31.3.232"), SrcPort: 1, DstPort: 7, Proto: fixtures.ClientUDP, Length: 100}
	plain := fixtures.Client{SrcIP: netip.MustParseAddr("172.31.3.50"), DstIP: netip.MustParseAddr("172.31.3.9"), SrcPort: 1, DstPort: 7, Proto: fixtures.ClientUDP, Length: 100}
	numbered := func(f []byte, n uint64) []byte {
		f = append([]byte(nil), f...)
		f[len(f)-2], f[len(f)-1] = byte(n>>8), byte(n)
		return f
	}
	// Frames 1..200: every third to the subject MAC, the rest elsewhere.
	for i := uint64(1); i <= 200; i++ {
		if i%3 == 0 {
			h.frame(numbered(client.Frame(other, subjectMAC), i), nil)
		} else {
			h.frame(numbered(plain.Frame(other, other), i), nil)
		}
	}
	// Frame 201 raises a finding about the subject MAC whose evidence is
	// frames 3, 50 (not about the subject) and 201.
	evidence := map[uint64]bool{3: true, 50: true, 201: true}
	h.frame(numbered(client.Frame(other, subjectMAC), 201), func() {
		h.ev.noteFinding(&finding.Finding{Kind: finding.MulticastFlooding, Subject: "x", Evidence: []uint64{3, 50, 201}, MACs: []addr.MAC{subjectMAC}}, true)
	})
	// Then 300 more frames to the subject.
	for i := uint64(202); i <= 501; i++ {
		h.frame(numbered(client.Frame(other, subjectMAC), i), nil)
	}
	ids := h.written(t)
	seen := map[uint64]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("frame %d written twice: %v", id, ids)
		}
		seen[id] = true
	}
	var before, after []uint64
	for n := uint64(1); n <= 501; n++ {
		switch {
		case evidence[n]:
			if !seen[n] {
				t.Errorf("evidence frame %d not written", n)
			}
		case seen[n] && n < 201:
			before = append(before, n)
		case seen[n]:
			after = append(after, n)
		}
	}
	// Before: the latest contextFrames frames about the subject (every
	// third frame up to 198).
	var wantBefore []uint64
	for n := uint64(198); len(wantBefore) < contextFrames; n -= 3 {
		wantBefore = append([]uint64{n}, wantBefore...)
	}
	if fmt.Sprint(before) != fmt.Sprint(wantBefore) {
		t.Errorf("written from before the finding: %v\nwant the latest %d about the subject: %v", before, contextFrames, wantBefore)
	}
	// After: the next followBudget frames about the subject.
	if len(after) != followBudget || after[0] != 202 || after[len(after)-1] != 201+followBudget {
		t.Errorf("written after the finding: %v, want frames 202..%d", after, 201+followBudget)
	}
}

// TestEvidenceWriterTimeOrder checks the evidence file is in capture-time
// order when a finding raised later cites frames older than ones already
// chosen (issue 16 item 8: they were written after them, and tshark showed
// negative deltas), and that evidence older than what the file already
// holds is left out and counted rather than written out of order.
func TestEvidenceWriterTimeOrder(t *testing.T) {
	h := newEvidenceHarness(t)
	macA := addr.MAC{0x03, 0xbf, 0, 0, 0, 1}
	macB := addr.MAC{0x03, 0xbf, 0, 0, 0, 2}
	other := addr.MAC{0x00, 0x15, 0x5d, 0, 0, 9}
	frameTo := func(dst addr.MAC, n uint64) []byte {
		f := fixtures.Client{SrcIP: netip.MustParseAddr("172.31.3.50"), DstIP: netip.MustParseAddr("172.31.3.9"),
			SrcPort: 1, DstPort: 7, Proto: fixtures.ClientUDP, Length: 100}.Frame(other, dst)
		f[len(f)-2], f[len(f)-1] = byte(n>>8), byte(n)
		return f
	}
	for i := uint64(1); i <= 100; i++ {
		dst := macB
		if i%2 == 0 {
			dst = macA
		}
		var raise func()
		switch i {
		case 60: // finding A about macA: its later frames are followed
			raise = func() {
				h.ev.noteFinding(&finding.Finding{Kind: finding.MulticastFlooding, Subject: "a", Evidence: []uint64{60}, MACs: []addr.MAC{macA}}, true)
			}
		case 90: // finding B cites frame 15, older than A's frames
			raise = func() {
				h.ev.noteFinding(&finding.Finding{Kind: finding.MulticastFlooding, Subject: "b", Evidence: []uint64{15, 90}}, true)
			}
		}
		h.frame(frameTo(dst, i), raise)
	}
	// Everything up to now leaves the ring for the file; then a finding
	// citing frame 21 comes too late for it.
	h.ev.flush(time.Unix(1700000000, 0).Add(time.Hour), io.Discard)
	h.frame(frameTo(macB, 101), func() {
		h.ev.noteFinding(&finding.Finding{Kind: finding.MulticastFlooding, Subject: "c", Evidence: []uint64{21, 101}}, true)
	})
	ids := h.written(t)
	if !slices.IsSorted(ids) {
		t.Errorf("frames written out of order: %v", ids)
	}
	for _, want := range []uint64{15, 60, 62, 90, 101} {
		if !slices.Contains(ids, want) {
			t.Errorf("frame %d not written: %v", want, ids)
		}
	}
	if slices.Contains(ids, 21) || h.ev.late != 1 {
		t.Errorf("frame 21 (older than the file's frames) written: %v, or not counted late (%d)", ids, h.ev.late)
	}
	// And the time stamps in the file never go back.
	src, err := capture.OpenFiles([]string{h.path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var p capture.Packet
	var last time.Time
	for src.Next(&p) == nil {
		if p.Info.Timestamp.Before(last) {
			t.Errorf("frame at %v after one at %v", p.Info.Timestamp, last)
		}
		last = p.Info.Timestamp
	}
}

// comments reads the evidence file back with pcapgo's reader (the one
// capture's pcapng reader wraps): the frame numbers (packet IDs) in file
// order and each frame's comments.
func (h *evidenceHarness) comments(t *testing.T) (ids []uint64, comments map[uint64][]string) {
	t.Helper()
	if err := h.ev.close(nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	comments = map[uint64][]string{}
	for {
		_, _, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			return ids, comments
		}
		if err != nil {
			t.Fatal(err)
		}
		if opts.PacketID == nil {
			t.Fatal("a frame without its packet ID")
		}
		ids = append(ids, *opts.PacketID)
		comments[*opts.PacketID] = opts.Comments
	}
}

// TestEvidenceWriterCommentsEveryFinding checks a frame that backs several
// findings carries the comment of each (it carried only the first one's,
// and tshark's frame.comment did not find it under the others): evidence
// comments first, one per finding however often it is updated, at most
// maxComments and then a count; and that a finding raised after a frame
// was written, which cannot comment it any more, is counted.
func TestEvidenceWriterCommentsEveryFinding(t *testing.T) {
	h := newEvidenceHarness(t)
	macA := addr.MAC{0x03, 0xbf, 0, 0, 0, 1}
	other := addr.MAC{0x00, 0x15, 0x5d, 0, 0, 9}
	frameTo := func(dst addr.MAC, n uint64) []byte {
		f := fixtures.Client{SrcIP: netip.MustParseAddr("172.31.3.50"), DstIP: netip.MustParseAddr("172.31.3.9"),
			SrcPort: 1, DstPort: 7, Proto: fixtures.ClientUDP, Length: 100}.Frame(other, dst)
		f[len(f)-2], f[len(f)-1] = byte(n>>8), byte(n)
		return f
	}
	note := func(kind finding.Kind, subject string, isNew bool, macs []addr.MAC, evidence ...uint64) func() {
		return func() {
			h.ev.noteFinding(&finding.Finding{Kind: kind, Subject: subject, Evidence: evidence, MACs: macs}, isNew)
		}
	}
	floodA := []addr.MAC{macA}
	raise := map[uint64]func(){
		// A is about macA: frame 20 follows it.
		10: note(finding.MulticastFlooding, "a", true, floodA, 5, 10),
		// B cites frame 5 too.
		20: note(finding.HeartbeatGap, "b", true, nil, 5, 20),
		// A's update cites frame 5 again and has frames 10 and 20 as
		// context: none gets a second comment of A.
		30: note(finding.MulticastFlooding, "a", false, floodA, 5, 30),
		40: func() {
			for i := range maxComments + 2 {
				note(finding.HeartbeatGap, fmt.Sprintf("host %d", i), true, nil, 40)()
			}
		},
	}
	for i := uint64(1); i <= 40; i++ {
		dst := other
		if i%10 == 0 {
			dst = macA
		}
		if i == 40 {
			dst = other
		}
		h.frame(frameTo(dst, i), raise[i])
	}
	// Everything leaves the ring for the file; then C cites frame 5
	// (written, for A and B) and frame 6 (not written), and B's update
	// cites frame 5, which already carries B's comment.
	h.ev.flush(time.Unix(1700000000, 0).Add(time.Hour), io.Discard)
	h.frame(frameTo(other, 41), func() {
		note(finding.UnicastFlooding, "c", true, nil, 5, 6, 41)()
		note(finding.HeartbeatGap, "b", false, nil, 5)()
	})
	ids, comments := h.comments(t)

	var host []string
	for i := range maxComments {
		host = append(host, fmt.Sprintf("evidence of heartbeat-gap [host %d]", i))
	}
	want := map[uint64][]string{
		5:  {"evidence of multicast-flooding [a]", "evidence of heartbeat-gap [b]"},
		10: {"evidence of multicast-flooding [a]"},
		20: {"evidence of heartbeat-gap [b]", "after evidence of multicast-flooding [a]"},
		30: {"update of multicast-flooding [a]"},
		40: append(host, "+2 more findings"),
		41: {"evidence of unicast-flooding [c]"},
	}
	if fmt.Sprint(ids) != "[5 10 20 30 40 41]" {
		t.Errorf("frames written %v, want 5 10 20 30 40 41", ids)
	}
	for n, w := range want {
		if !slices.Equal(comments[n], w) {
			t.Errorf("frame %d comments %q\nwant %q", n, comments[n], w)
		}
	}
	if h.ev.late != 1 || h.ev.lateComments != 1 {
		t.Errorf("late: %d frames left out, %d without a comment; want 1 (frame 6), 1 (frame 5 for c)", h.ev.late, h.ev.lateComments)
	}
	var stderr strings.Builder
	h.ev.summary(&stderr)
	for _, w := range []string{"wrote 6 frames to " + h.path, "1 evidence frame was left out of the file",
		"1 evidence frame is in the file without the comment of a finding raised after it was written"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, stderr.String())
		}
	}

	// What an admin runs: tshark finds a frame under each of its findings.
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: tshark is needed")
		}
		t.Log("tshark not installed: its half of the check is skipped")
		return
	}
	for filter, want := range map[string]string{
		`frame.comment contains "heartbeat-gap"`:      "5 20 40",
		`frame.comment contains "multicast-flooding"`: "5 10 20 30",
	} {
		out, err := exec.Command("tshark", "-r", h.path, "-Y", filter, "-T", "fields", "-e", "frame.packet_id").Output()
		if err != nil {
			t.Fatalf("tshark -Y %s: %v", filter, err)
		}
		if got := strings.Join(strings.Fields(string(out)), " "); got != want {
			t.Errorf("tshark -Y '%s' finds frames %q, want %q", filter, got, want)
		}
	}
}

// TestEvidenceWriterAllocs: a frame that is no evidence costs the evidence
// writer no allocation, while findings' subjects are followed.
func TestEvidenceWriterAllocs(t *testing.T) {
	h := newEvidenceHarness(t)
	macA := addr.MAC{0x03, 0xbf, 0, 0, 0, 1}
	other := addr.MAC{0x00, 0x15, 0x5d, 0, 0, 9}
	client := fixtures.Client{SrcIP: netip.MustParseAddr("172.31.3.50"), DstIP: netip.MustParseAddr("172.31.3.9"),
		SrcPort: 1, DstPort: 7, Proto: fixtures.ClientUDP, Length: 100}
	h.frame(client.Frame(other, macA), func() {
		h.ev.noteFinding(&finding.Finding{Kind: finding.MulticastFlooding, Subject: "a", Evidence: []uint64{1},
			MACs: []addr.MAC{macA}, IPs: []netip.Addr{netip.MustParseAddr("172.31.3.232")}}, true)
	})
	data := client.Frame(other, other)
	// Once round the ring, so that the evidence frame has left it.
	for range ringFrames {
		h.frame(data, nil)
	}
	if len(h.ev.follow) != 1 {
		t.Fatalf("following %d subjects, want 1", len(h.ev.follow))
	}
	p := capture.Packet{Data: data, LinkType: layers.LinkTypeEthernet,
		Info: gopacket.CaptureInfo{Timestamp: time.Unix(1700001000, 0), CaptureLength: len(data), Length: len(data)}}
	if allocs := testing.AllocsPerRun(5000, func() {
		h.n++
		p.Frame = h.n
		h.ev.keep(&p)
		h.ev.after(&p)
	}); allocs != 0 {
		t.Errorf("%v allocations per frame that is no evidence, want 0", allocs)
	}
}
