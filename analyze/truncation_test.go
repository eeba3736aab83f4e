package analyze_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// cutRecord is a frame as a capture holds it: the first captured bytes of
// data, of len(data) on the wire (0: all of it).
type cutRecord struct {
	data     []byte
	captured int
}

// kept is what the capture holds of the frame.
func (r cutRecord) kept() []byte {
	if r.captured > 0 {
		return r.data[:r.captured]
	}
	return r.data
}

// truncationFrames builds the frames of TestTruncationCause: heartbeats of
// a cluster on VLAN 70, seen directly or mirrored by an ERSPAN session,
// whole or cut by the mirroring switch (T bit) to mirrorCut bytes.
type truncationFrames struct {
	hb      []byte
	erspans map[uint16]*fixtures.ERSPAN
}

func newTruncationFrames() *truncationFrames {
	vip := netip.MustParseAddr("10.70.0.100")
	hb := fixtures.Heartbeat{Priority: 1, Cluster: vip, Dedicated: netip.MustParseAddr("10.70.0.101"), PortRules: []uint32{1}}.
		Frame(addr.MAC{0x00, 0x15, 0x5d, 0x46, 0, 0x65}, addr.MAC{0x03, 0xbf, 10, 70, 0, 100}, 70)
	return &truncationFrames{hb: hb, erspans: map[uint16]*fixtures.ERSPAN{}}
}

// direct is the heartbeat seen directly, captured to captured bytes.
func (tf *truncationFrames) direct(captured int) cutRecord { return cutRecord{tf.hb, captured} }

// mirrored is the heartbeat mirrored by ERSPAN session (type II, type III
// for odd sessions), cut by the switch to mirrorCut bytes when positive,
// the record captured to captured bytes (0: whole).
func (tf *truncationFrames) mirrored(session uint16, mirrorCut, captured int) cutRecord {
	e := tf.erspans[session]
	if e == nil {
		e = &fixtures.ERSPAN{Type: 2 + int(session%2), Session: session, VLAN: 70, Encap: fixtures.ERSPANTagKept,
			Switch: netip.MustParseAddr("192.0.2.1"), Collector: netip.MustParseAddr("192.0.2.10"),
			SwitchMAC: addr.MAC{0x00, 0x1b, 0x54, 0xc0, 0x02, 0xfe}, CollectorMAC: addr.MAC{0x00, 0x15, 0x5d, 0xc0, 0x02, 0x0a}}
		tf.erspans[session] = e
	}
	if mirrorCut > 0 {
		return cutRecord{e.Wrap(tf.hb[:mirrorCut], true), captured}
	}
	return cutRecord{e.Wrap(tf.hb, false), captured}
}

// wantCut is a capture-truncated finding a case expects.
type wantCut struct {
	count      uint64
	remoteSpan *finding.RemoteSpan
	says       []string // in the message or the remedy
	saysNot    []string
}

// TestTruncationCause: capture-truncated says what cut the frames: the
// capture's snaplen (one finding for the capture) or the switch that
// mirrored them (ERSPAN's T bit: one finding per session, with its
// remote_span, whose remedy is the session's MTU, not a snaplen), each
// with its own count when both happen, also in one frame.
func TestTruncationCause(t *testing.T) {
	tf := newTruncationFrames()
	snaplen := []string{"cut by the capture's snaplen", "tcpdump -s 0"}
	mirror := []string{"by the switch that mirrored them", "T bit", "`show monitor session all`",
		"`monitor session <monitor session> type erspan-source`", "`destination`", "`mtu 9000`", "IP MTU of 1554"}
	erspan := func(id uint32) *finding.RemoteSpan { return &finding.RemoteSpan{Kind: "erspan", ID: id} }
	tests := []struct {
		name      string
		records   []cutRecord
		truncated uint64 // Stats.Truncated: cut by the snaplen
		want      map[string]wantCut
	}{
		{
			name:      "snaplen only",
			records:   []cutRecord{tf.direct(200), tf.direct(0), tf.direct(200), tf.direct(300)},
			truncated: 3,
			want: map[string]wantCut{"capture": {count: 3, says: append([]string{"3 of 4 frames were cut", "at most 300 bytes kept",
				"3 NLB heartbeats were truncated"}, snaplen...), saysNot: []string{"mirror", "ERSPAN"}}},
		},
		{
			name:    "the mirror only",
			records: []cutRecord{tf.mirrored(7, 300, 0), tf.mirrored(7, 300, 0), tf.mirrored(7, 0, 0), tf.mirrored(7, 256, 0)},
			want: map[string]wantCut{"erspan session 7": {count: 3, remoteSpan: erspan(7),
				says: append([]string{"3 frames of ERSPAN session 7 were cut to at most 300 bytes", "`erspan-id 7`",
					"3 NLB heartbeats were truncated, the shortest to 238 of 1496 payload bytes"}, mirror...),
				saysNot: []string{"snaplen", "tcpdump", "pktmon"}}},
		},
		{
			name: "the snaplen and two sessions' switches, apart",
			records: []cutRecord{tf.direct(200), tf.mirrored(7, 300, 0), tf.mirrored(9, 128, 0), tf.direct(200),
				tf.mirrored(7, 300, 0), tf.mirrored(7, 300, 0), tf.mirrored(9, 0, 0), tf.direct(0)},
			truncated: 2,
			want: map[string]wantCut{
				"capture":          {count: 2, says: append([]string{"2 of 8 frames were cut"}, snaplen...), saysNot: []string{"ERSPAN"}},
				"erspan session 7": {count: 3, remoteSpan: erspan(7), says: append([]string{"3 frames of ERSPAN session 7", "`erspan-id 7`"}, mirror...)},
				"erspan session 9": {count: 1, remoteSpan: erspan(9), says: append([]string{"1 frame of ERSPAN session 9 was cut to at most 128 bytes", "`erspan-id 9`"}, mirror...)},
			},
		},
		{
			// The switch cut it, and the capture kept less than the
			// switch sent: both findings count it, and the mirror's does
			// not claim a size it did not see.
			name:      "one frame cut by both",
			records:   []cutRecord{tf.mirrored(7, 600, 200)},
			truncated: 1,
			want: map[string]wantCut{
				"capture":          {count: 1, says: append([]string{"1 of 1 frame was cut", "at most 200 bytes kept"}, snaplen...)},
				"erspan session 7": {count: 1, remoteSpan: erspan(7), says: append([]string{"1 frame of ERSPAN session 7 was cut by the switch", "; 1 of them was also cut by the capture's snaplen"}, mirror...), saysNot: []string{"at most"}},
			},
		},
		{
			// No T bit: the switch sent it whole, the snaplen cut it.
			name:      "a mirrored frame cut by the snaplen alone",
			records:   []cutRecord{tf.mirrored(7, 0, 300), tf.mirrored(7, 0, 0)},
			truncated: 1,
			want:      map[string]wantCut{"capture": {count: 1, says: snaplen, saysNot: []string{"ERSPAN"}}},
		},
	}
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := analyze.New(analyze.Options{})
			for i, r := range tt.records {
				e.Packet(r.kept(), analyze.Meta{Frame: uint64(i + 1), Time: base.Add(time.Duration(i) * 100 * time.Millisecond),
					Length: len(r.data), LinkType: layers.LinkTypeEthernet})
			}
			r := e.Finish()
			if r.Stats.Truncated != tt.truncated {
				t.Errorf("stats: %d frames cut by the snaplen, want %d", r.Stats.Truncated, tt.truncated)
			}
			got := map[string]finding.Finding{}
			for _, f := range r.Findings {
				if f.Kind == finding.CaptureTruncated {
					got[f.Subject] = f
				}
			}
			for subject, w := range tt.want {
				f, ok := got[subject]
				if !ok {
					t.Errorf("no capture-truncated %q among %v", subject, keys(got))
					continue
				}
				text := f.Message + "\n" + f.Remedy
				if f.Count != w.count || !equalSpan(f.RemoteSpan, w.remoteSpan) {
					t.Errorf("%q: count %d, remote span %v; want %d, %v", subject, f.Count, f.RemoteSpan, w.count, w.remoteSpan)
				}
				for _, s := range w.says {
					if !strings.Contains(text, s) {
						t.Errorf("%q does not say %q:\n%s", subject, s, text)
					}
				}
				for _, s := range w.saysNot {
					if strings.Contains(text, s) {
						t.Errorf("%q says %q:\n%s", subject, s, text)
					}
				}
				if _, n := checkRemedy(t, "truncation "+tt.name, f); w.remoteSpan != nil && n == 0 {
					t.Errorf("%q: no command in the remedy: %s", subject, f.Remedy)
				}
			}
			for subject := range got {
				if _, ok := tt.want[subject]; !ok {
					t.Errorf("unexpected capture-truncated %q: %s", subject, got[subject].Message)
				}
			}
		})
	}
}

func keys(m map[string]finding.Finding) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func equalSpan(a, b *finding.RemoteSpan) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
