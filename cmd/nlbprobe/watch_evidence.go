package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
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
// nlbprobe frame number as the pcapng packet ID and a comment naming the
// finding. So the file holds what backs each finding, and what happened
// right after, without the bulk of a flood.
//
// The file is in capture-time order (issue 16 item 8: a finding raised
// later wrote its older evidence after frames already written, and tshark
// showed negative deltas). So a frame is not written when it is chosen,
// only marked in the ring; marked frames are written in ring order (the
// order they were captured) when they leave the ring, when they are
// evidenceDelay old, or at the end. A frame chosen after frames captured
// later were already written (evidence older than evidenceDelay, on a
// port so quiet that the ring still holds it) is left out and counted.
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
)

type ringFrame struct {
	n    uint64
	ci   gopacket.CaptureInfo
	data []byte
	// comment is set when the frame is to be written (marked): why.
	comment string
}

// subject is what a finding is about, for matching frames.
type subject struct {
	label  string // comment for the frames written for it
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
		ev.write(p.Info, p.Data, p.Frame, "")
		return
	}
	r := &ev.ring[ev.head]
	ev.head = (ev.head + 1) % len(ev.ring)
	if r.n > ev.emitted {
		ev.emit(r) // the oldest frame leaves the ring
	}
	data := p.Data[:min(len(p.Data), ringBytes)]
	r.n, r.ci, r.comment = p.Frame, p.Info, ""
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
	verb := "evidence of"
	if !isNew {
		verb = "update of"
	}
	ev.pending = append(ev.pending, subject{
		label: fmt.Sprintf("%s %s [%s]", verb, f.Kind, f.Subject),
		macs:  slices.Clone(f.MACs), ips: slices.Clone(f.IPs), budget: followBudget,
	})
	ev.evid = append(ev.evid, slices.Clone(f.Evidence))
}

// after runs after each frame (p) or idle poll (nil): it writes the
// evidence of the findings just raised, then the frame itself if it is
// about a followed subject.
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
	if slot.comment != "" || slot.n != p.Frame {
		return
	}
	for i := range ev.follow {
		s := &ev.follow[i]
		if s.budget > 0 && matches(slot.data, s) {
			s.budget--
			ev.mark(slot, "after "+s.label, false)
			return
		}
	}
}

// flushPending writes the evidence of the pending findings from the ring
// and starts following their subjects.
func (ev *evidenceWriter) flushPending() {
	for i, s := range ev.pending {
		want := map[uint64]bool{}
		for _, n := range ev.evid[i] {
			want[n] = true
		}
		// Oldest first: the evidence frames, and the latest frames about
		// the subject.
		var about []int
		for k := range ev.ring {
			j := (ev.head + k) % len(ev.ring)
			r := &ev.ring[j]
			if r.n == 0 || r.comment != "" {
				continue
			}
			if want[r.n] {
				ev.mark(r, s.label, true)
				continue
			}
			if r.n > ev.emitted && (len(s.macs) > 0 || len(s.ips) > 0) && matches(r.data, &s) {
				about = append(about, j)
			}
		}
		if len(about) > contextFrames {
			about = about[len(about)-contextFrames:]
		}
		for _, j := range about {
			if r := &ev.ring[j]; r.comment == "" {
				ev.mark(r, "before "+s.label, false)
			}
		}
		if len(s.macs) > 0 || len(s.ips) > 0 {
			if len(ev.follow) >= followMax {
				ev.follow = ev.follow[1:]
			}
			ev.follow = append(ev.follow, s)
		}
	}
	ev.pending, ev.evid = ev.pending[:0], ev.evid[:0]
	// Drop the subjects whose budget is spent.
	ev.follow = slices.DeleteFunc(ev.follow, func(s subject) bool { return s.budget <= 0 })
}

// mark chooses the frame in r to be written, with comment, unless frames
// captured after it are already in the file; evidence that cannot be
// written counts as late.
func (ev *evidenceWriter) mark(r *ringFrame, comment string, evidence bool) {
	if r.n <= ev.emitted {
		if evidence {
			ev.late++
		}
		return
	}
	r.comment = comment
}

// emit passes the frame in r, the oldest not yet passed, to the file:
// written if it was marked.
func (ev *evidenceWriter) emit(r *ringFrame) {
	if r.comment != "" {
		ev.write(r.ci, r.data, r.n, r.comment)
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

func (ev *evidenceWriter) write(ci gopacket.CaptureInfo, data []byte, n uint64, comment string) {
	if ev.err != nil {
		return
	}
	ev.err = ev.w.Write(ci, data, n, comment)
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
