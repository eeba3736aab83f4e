package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/capture"
)

// Evidence writing (watch --write without --write-all). A finding names the
// frames that prove it (its evidence frame numbers) and the addresses it is
// about (MACs, IPs). The writer keeps the most recent frames in a ring;
// when a finding is raised or updated it writes, from the ring, the
// finding's evidence frames and the latest frames about its addresses, and
// then follows the addresses: the next followBudget frames that carry one
// of them are written as they arrive. Each frame is written once, with its
// nlbprobe frame number as the pcapng packet ID and a comment for each
// finding it was chosen for (one per finding: an update of a finding adds
// none to a frame chosen for it before; at most maxComments, then "+K
// more"), so that Wireshark's frame.comment finds a frame under every
// finding it backs. So the file holds what backs each finding, and what
// happened right after, without the bulk of a flood.
//
// The file is in capture-time order (issue 16 item 8: a finding raised
// later wrote its older evidence after frames already written, and tshark
// showed negative deltas). So a frame is not written when it is chosen,
// only marked in the ring; marked frames are written in ring order (the
// order they were captured) when they leave the ring, when they are
// evidenceDelay old, or at the end. A frame chosen after frames captured
// later were already written (evidence older than evidenceDelay, on a
// port so quiet that the ring still holds it) is left out and counted.
// Likewise a frame already written cannot take the comment of a finding
// raised later: that is counted too (lateComments).
const (
	ringFrames    = 4096     // recent frames kept
	ringBytes     = 16 << 10 // bytes kept of each frame in the ring
	contextFrames = 32       // frames about a finding's addresses written from the ring
	followMax     = 256      // subjects followed at once
	followBudget  = 64       // later frames written per finding raised or updated
	// evidenceDelay is how long a frame stays in the ring before it is
	// written, so that a finding raised a little later can still add it
	// in order: the file lags this much behind the capture.
	evidenceDelay = 10 * time.Second
	// maxComments is how many findings' comments a frame is written with;
	// the others are counted in a last comment "+K more findings".
	maxComments = 8
	// maxNotes is how many findings a frame remembers, so that one noting
	// it again (an update) is not counted twice; beyond it they are only
	// counted.
	maxNotes = 64
)

type ringFrame struct {
	n    uint64
	ci   gopacket.CaptureInfo
	data []byte
	// notes are the findings the frame was chosen for, in the order they
	// chose it: a frame with notes is written (marked). They stay after
	// the frame is passed to the file, until the slot is reused, to tell
	// what the file has of it.
	notes []note
	// unnoted counts the findings that chose the frame beyond maxNotes.
	unnoted int
}

// note is one finding's comment on a frame.
type note struct {
	key      string // the finding: "KIND [SUBJECT]"
	text     string // the comment
	evidence bool   // the frame is the finding's evidence, not context
}

// subject is what a finding is about, for matching frames.
type subject struct {
	key    string // the finding: "KIND [SUBJECT]", the same for its updates
	label  string // comment for its evidence frames
	before string // comment for the frames about it before it was raised
	after  string // comment for the frames about it after it was raised
	macs   []addr.MAC
	ips    []netip.Addr
	budget int // frames still to follow
}

// evidenceWriter writes evidence (or, with all, every frame) to a
// PcapngWriter. It belongs to the capture loop.
type evidenceWriter struct {
	w    *capture.PcapngWriter
	all  bool
	ring []ringFrame
	head int // next slot
	// pending are the findings raised or updated during the last call
	// into the engine, written by after.
	pending []subject
	evid    [][]uint64
	follow  []subject
	err     error
	// emitted is the frame number of the newest frame the ring has
	// passed to the file (written or not): a frame up to it can no longer
	// be written in order.
	emitted uint64
	// late counts evidence frames left out because frames captured after
	// them were already in the file.
	late uint64
	// lateComments counts evidence frames in the file without the comment
	// of a finding that chose them after they were written.
	lateComments uint64
	// comments is emit's buffer for a frame's comments.
	comments []string
}

func newEvidenceWriter(w *capture.PcapngWriter, all bool) *evidenceWriter {
	ev := &evidenceWriter{w: w, all: all}
	if !all {
		ev.ring = make([]ringFrame, ringFrames)
	}
	return ev
}

// keep remembers the frame (before the engine sees it, so that a finding
// it raises can cite it) or, with all, writes it.
func (ev *evidenceWriter) keep(p *capture.Packet) {
	if ev.all {
		ev.write(p.Info, p.Data, p.Frame)
		return
	}
	r := &ev.ring[ev.head]
	ev.head = (ev.head + 1) % len(ev.ring)
	if r.n > ev.emitted {
		ev.emit(r) // the oldest frame leaves the ring
	}
	data := p.Data[:min(len(p.Data), ringBytes)]
	r.n, r.ci, r.notes, r.unnoted = p.Frame, p.Info, r.notes[:0], 0
	r.ci.CaptureLength = len(data)
	r.ci.AncillaryData = nil
	r.data = append(r.data[:0], data...)
}

// noteFinding is called from the engine's OnFinding: the finding pointer
// is only valid during the call, so what is needed is copied.
func (ev *evidenceWriter) noteFinding(f *finding.Finding, isNew bool) {
	if ev.all {
		return
	}
	verb := "evidence of "
	if !isNew {
		verb = "update of "
	}
	key := fmt.Sprintf("%s [%s]", f.Kind, f.Subject)
	label := verb + key
	ev.pending = append(ev.pending, subject{
		key: key, label: label, before: "before " + label, after: "after " + label,
		macs: slices.Clone(f.MACs), ips: slices.Clone(f.IPs), budget: followBudget,
	})
	ev.evid = append(ev.evid, slices.Clone(f.Evidence))
}

// after runs after each frame (p) or idle poll (nil): it writes the
// evidence of the findings just raised, then the frame itself if it is
// about followed subjects, with a comment for each (a subject's budget is
// spent on the frames it adds a comment to).
func (ev *evidenceWriter) after(p *capture.Packet) {
	if ev.all {
		return
	}
	if len(ev.pending) > 0 {
		ev.flushPending()
	}
	if p == nil || len(ev.follow) == 0 {
		return
	}
	slot := &ev.ring[(ev.head+len(ev.ring)-1)%len(ev.ring)]
	if slot.n != p.Frame {
		return
	}
	for i := range ev.follow {
		s := &ev.follow[i]
		if s.budget > 0 && matches(slot.data, s) && ev.mark(slot, s, s.after, false) {
			s.budget--
		}
	}
}

// flushPending writes the evidence of the pending findings from the ring
// and starts following their subjects.
func (ev *evidenceWriter) flushPending() {
	for i := range ev.pending {
		s := &ev.pending[i]
		want := map[uint64]bool{}
		for _, n := range ev.evid[i] {
			want[n] = true
		}
		// Oldest first: the evidence frames, and the latest frames about
		// the subject (whatever other findings chose them for).
		var about []int
		for k := range ev.ring {
			j := (ev.head + k) % len(ev.ring)
			r := &ev.ring[j]
			if r.n == 0 {
				continue
			}
			if want[r.n] {
				ev.mark(r, s, s.label, true)
				continue
			}
			if r.n > ev.emitted && (len(s.macs) > 0 || len(s.ips) > 0) && matches(r.data, s) {
				about = append(about, j)
			}
		}
		if len(about) > contextFrames {
			about = about[len(about)-contextFrames:]
		}
		for _, j := range about {
			ev.mark(&ev.ring[j], s, s.before, false)
		}
		if len(s.macs) > 0 || len(s.ips) > 0 {
			// An update follows anew what its finding followed.
			ev.follow = slices.DeleteFunc(ev.follow, func(f subject) bool { return f.key == s.key })
			if len(ev.follow) >= followMax {
				ev.follow = ev.follow[1:]
			}
			ev.follow = append(ev.follow, *s)
		}
	}
	ev.pending, ev.evid = ev.pending[:0], ev.evid[:0]
	// Drop the subjects whose budget is spent.
	ev.follow = slices.DeleteFunc(ev.follow, func(s subject) bool { return s.budget <= 0 })
}

// mark chooses the frame in r to be written with the comment text for
// finding s, and reports whether it added the comment: not when s already
// chose the frame (an evidence comment replaces a context one), nor when
// frames captured after it are already in the file. Evidence that came too
// late counts: as left out when the file lacks the frame, as without its
// comment when the frame was written for other findings.
func (ev *evidenceWriter) mark(r *ringFrame, s *subject, text string, evidence bool) bool {
	i := slices.IndexFunc(r.notes, func(n note) bool { return n.key == s.key })
	if r.n <= ev.emitted {
		switch {
		case !evidence || i >= 0: // nothing lost: the file names the finding with the frame
		case len(r.notes) > 0:
			ev.lateComments++
		default:
			ev.late++
		}
		return false
	}
	switch {
	case i >= 0:
		if evidence && !r.notes[i].evidence {
			r.notes[i] = note{key: s.key, text: text, evidence: true}
		}
		return false
	case len(r.notes) < maxNotes:
		r.notes = append(r.notes, note{key: s.key, text: text, evidence: evidence})
	default:
		r.unnoted++
	}
	return true
}

// emit passes the frame in r, the oldest not yet passed, to the file:
// written if it was marked, with its evidence comments first, at most
// maxComments of them and then one counting the others.
func (ev *evidenceWriter) emit(r *ringFrame) {
	if len(r.notes) > 0 {
		ev.comments = ev.comments[:0]
		for _, evidence := range []bool{true, false} {
			for _, n := range r.notes {
				if n.evidence == evidence && len(ev.comments) < maxComments {
					ev.comments = append(ev.comments, n.text)
				}
			}
		}
		if more := len(r.notes) + r.unnoted - len(ev.comments); more > 0 {
			ev.comments = append(ev.comments, fmt.Sprintf("+%d more findings", more))
		}
		ev.write(r.ci, r.data, r.n, ev.comments...)
	}
	ev.emitted = r.n
}

// emitUntil passes the frames captured up to t to the file, oldest first;
// a zero t passes them all.
func (ev *evidenceWriter) emitUntil(t time.Time) {
	if ev.all {
		return
	}
	for k := range ev.ring {
		r := &ev.ring[(ev.head+k)%len(ev.ring)]
		if r.n == 0 || r.n <= ev.emitted {
			continue
		}
		if !t.IsZero() && r.ci.Timestamp.After(t) {
			return
		}
		ev.emit(r)
	}
}

func (ev *evidenceWriter) write(ci gopacket.CaptureInfo, data []byte, n uint64, comments ...string) {
	if ev.err != nil {
		return
	}
	ev.err = ev.w.Write(ci, data, n, comments...)
}

// flush writes the marked frames captured evidenceDelay before now and
// makes the files readable as they are; a write error is reported once,
// and writing stops.
func (ev *evidenceWriter) flush(now time.Time, stderr io.Writer) {
	ev.emitUntil(now.Add(-evidenceDelay))
	if ev.err == nil {
		ev.err = ev.w.Flush()
		if ev.err != nil {
			fmt.Fprintf(stderr, "nlbprobe watch: --write stopped: %v\n", ev.err)
		}
	}
}

// close writes what is left and closes the files.
func (ev *evidenceWriter) close(stats *capture.LiveStats) error {
	ev.flushPending()
	ev.emitUntil(time.Time{})
	err := ev.w.Close(stats)
	if ev.err != nil {
		return ev.err
	}
	return err
}

// summary says on stderr what was written, and what evidence came too late
// for the file.
func (ev *evidenceWriter) summary(stderr io.Writer) {
	fmt.Fprintf(stderr, "nlbprobe watch: wrote %s to %s\n", finding.Plural(ev.w.Frames(), "frame", "frames"),
		strings.Join(ev.w.Files(), ", "))
	if ev.late > 0 {
		fmt.Fprintf(stderr, "nlbprobe watch: %s left out of the file: frames captured after them "+
			"were already written (the file stays in capture-time order)\n",
			finding.Plural(ev.late, "evidence frame was", "evidence frames were"))
	}
	if ev.lateComments > 0 {
		fmt.Fprintf(stderr, "nlbprobe watch: %s in the file without the comment of a finding raised after %s written\n",
			finding.Plural(ev.lateComments, "evidence frame is", "evidence frames are"), finding.Verb(ev.lateComments, "it was", "they were"))
	}
}

// matches reports whether an Ethernet frame (tags in place) carries one of
// the subject's MACs as source or destination, or one of its IPs as an ARP
// sender/target or IPv4 source/destination.
func matches(f []byte, s *subject) bool {
	if len(f) < 14 {
		return false
	}
	dst, src := addr.MACFrom(f[0:6]), addr.MACFrom(f[6:12])
	for _, m := range s.macs {
		if m == dst || m == src {
			return true
		}
	}
	if len(s.ips) == 0 {
		return false
	}
	off := 12
	et := binary.BigEndian.Uint16(f[off:])
	for tags := 0; tags < 2 && (et == 0x8100 || et == 0x88a8 || et == 0x9100) && len(f) >= off+6; tags++ {
		off += 4
		et = binary.BigEndian.Uint16(f[off:])
	}
	body := f[off+2:]
	var a, b []byte
	switch {
	case et == 0x0806 && len(body) >= 28: // ARP: sender IP at 14, target IP at 24
		a, b = body[14:18], body[24:28]
	case et == 0x0800 && len(body) >= 20:
		a, b = body[12:16], body[16:20]
	default:
		return false
	}
	for _, ip := range s.ips {
		if !ip.Is4() {
			continue
		}
		v := ip.As4()
		if string(v[:]) == string(a) || string(v[:]) == string(b) {
			return true
		}
	}
	return false
}
