package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"

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
const (
	ringFrames    = 4096     // recent frames kept
	ringBytes     = 16 << 10 // bytes kept of each frame in the ring
	contextFrames = 32       // frames about a finding's addresses written from the ring
	followMax     = 256      // subjects followed at once
	followBudget  = 64       // later frames written per finding raised or updated
)

type ringFrame struct {
	n       uint64
	ci      gopacket.CaptureInfo
	data    []byte
	written bool
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
	data := p.Data[:min(len(p.Data), ringBytes)]
	r.n, r.ci, r.written = p.Frame, p.Info, false
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
	if slot.written || slot.n != p.Frame {
		return
	}
	for i := range ev.follow {
		s := &ev.follow[i]
		if s.budget > 0 && matches(slot.data, s) {
			s.budget--
			ev.writeSlot(slot, "after "+s.label)
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
			if r.n == 0 || r.written {
				continue
			}
			if want[r.n] {
				ev.writeSlot(r, s.label)
				continue
			}
			if (len(s.macs) > 0 || len(s.ips) > 0) && matches(r.data, &s) {
				about = append(about, j)
			}
		}
		if len(about) > contextFrames {
			about = about[len(about)-contextFrames:]
		}
		for _, j := range about {
			if r := &ev.ring[j]; !r.written {
				ev.writeSlot(r, "before "+s.label)
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

func (ev *evidenceWriter) writeSlot(r *ringFrame, comment string) {
	r.written = true
	ev.write(r.ci, r.data, r.n, comment)
}

func (ev *evidenceWriter) write(ci gopacket.CaptureInfo, data []byte, n uint64, comment string) {
	if ev.err != nil {
		return
	}
	ev.err = ev.w.Write(ci, data, n, comment)
}

// flush makes the files readable as they are; a write error is reported
// once, and writing stops.
func (ev *evidenceWriter) flush(stderr io.Writer) {
	if ev.err == nil {
		ev.err = ev.w.Flush()
		if ev.err != nil {
			fmt.Fprintf(stderr, "nlbprobe watch: --write stopped: %v\n", ev.err)
		}
	}
}

func (ev *evidenceWriter) close(stats *capture.LiveStats) error {
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
