package capture

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Batch is a run of consecutive packets from a FileSource, for readers that
// hand packets to another goroutine: one channel operation per batch of
// thousands of packets instead of one per packet.
//
// A Batch owns its buffer. NextBatch fills it, overwriting what it held;
// between two calls the packets and their Data are the caller's, and may
// be read from another goroutine. Recycling batches (a pool of a few passed
// back and forth through channels) keeps reading free of allocations.
type Batch struct {
	// Packets are the packets in order; the data of Packets[i] is
	// Data(i).
	Packets []BatchPacket
	// FirstFrame is the Frame of Packets[0]; the others follow on, unless
	// a filter left gaps (then Frame says).
	FirstFrame uint64

	buf []byte
	// frames are the Frames of the packets when a filter removed some.
	frames   []uint64
	filtered bool

	// Edges are the first and last time stamps of inputs that NextBatch
	// came to while it filled the batch, with several inputs: what
	// FileSource.TakeEdges returns.
	Edges []InputEdge
}

// BatchPacket is one packet of a Batch: a Packet without its
// Info.InterfaceIndex.
type BatchPacket struct {
	// Time is the capture time stamp in nanoseconds since the Unix epoch:
	// time.Time.UnixNano of Packet.Info.Timestamp, which like it wraps for
	// times outside the years 1678-2262 (only pcapng can hold those).
	Time int64
	// Offset and CaptureLength locate the captured bytes in the batch.
	Offset, CaptureLength uint32
	// Length is the frame's length on the wire (Packet.Info.Length).
	Length   uint32
	LinkType layers.LinkType
	// Input is Packet.Input: the index of the input it came from (there
	// are at most MaxInputs).
	Input uint16
}

// Data returns the captured bytes of Packets[i]. They are valid until the
// batch is passed to NextBatch again.
func (b *Batch) Data(i int) []byte {
	p := &b.Packets[i]
	return b.buf[p.Offset : p.Offset+p.CaptureLength : p.Offset+p.CaptureLength]
}

// Frame returns the Frame number of Packets[i].
func (b *Batch) Frame(i int) uint64 {
	if b.filtered {
		return b.frames[i]
	}
	return b.FirstFrame + uint64(i)
}

// Len returns the number of packets.
func (b *Batch) Len() int { return len(b.Packets) }

// batchBytes is the size of a batch's buffer when the packets are copied
// into it (merged or pcapng inputs), and the least a batch holds.
const batchBytes = 1 << 20

// NextBatch fills b with the next packets, in the order and with the frame
// numbers Next would give them, and returns io.EOF when there are none. A
// batch that NextBatch fills without an error holds at least one packet.
// Errors are those of Next.
//
// A single classic pcap file (the usual multi-gigabyte capture) is read
// without copying a packet: the reader reads the file straight into the
// batch's buffer, and the packets are an index into it. Other inputs
// (several files merged, pcapng) are copied into the buffer packet by
// packet from Next.
//
// NextBatch and Next may be mixed; neither may be called concurrently with
// another call on the source.
func (s *FileSource) NextBatch(b *Batch) error {
	b.Edges = b.Edges[:0]
	if s.filter == nil {
		b.filtered = false
		return s.nextBatch(b)
	}
	if s.maxFrames != 0 && s.passed >= s.maxFrames {
		b.Packets = b.Packets[:0]
		return io.EOF
	}
	for {
		b.filtered = false
		if err := s.nextBatch(b); err != nil {
			return err
		}
		if n := s.filterBatch(b); n > 0 {
			if rest := s.maxFrames - s.passed; s.maxFrames != 0 && uint64(n) > rest {
				// The last batch of -c COUNT.
				b.Packets, b.frames = b.Packets[:rest], b.frames[:rest]
			}
			s.passed += uint64(len(b.Packets))
			return nil
		}
	}
}

// filterBatch keeps the packets of b that pass the filter, with their
// frame numbers, and returns how many it kept. The data stays where it
// is in the buffer.
func (s *FileSource) filterBatch(b *Batch) int {
	b.frames = b.frames[:0]
	kept := b.Packets[:0]
	for i := range b.Packets {
		p := &b.Packets[i]
		if s.filter.Match(b.Data(i), p.LinkType) {
			kept = append(kept, *p)
			b.frames = append(b.frames, b.FirstFrame+uint64(i))
		}
	}
	b.Packets = kept
	b.filtered = true
	if len(kept) > 0 {
		b.FirstFrame = b.frames[0]
	}
	return len(kept)
}

// nextBatch is NextBatch without the filter.
func (s *FileSource) nextBatch(b *Batch) error {
	b.Packets = b.Packets[:0]
	if s.err != nil {
		return s.err
	}
	if s.maxFrames != 0 && s.filter == nil && s.frame >= s.maxFrames {
		return io.EOF
	}
	var err error
	if in := s.inputs[0]; len(s.inputs) == 1 && in.fast != nil && (!in.ended || in.pending) {
		err = s.pcapBatch(in, b)
	} else {
		err = s.copyBatch(b)
		b.Edges = s.TakeEdges(b.Edges)
	}
	s.framesDone.Store(s.frame)
	return err
}

// copyBatch fills b from Next, copying each packet's data.
func (s *FileSource) copyBatch(b *Batch) error {
	if cap(b.buf) < batchBytes {
		b.buf = make([]byte, batchBytes)
	}
	buf := b.buf[:cap(b.buf)]
	used := 0
	var p Packet
	for {
		if err := s.next(&p); err != nil {
			// Deliver the packets read so far: the end (io.EOF) and the
			// errors of Next, which stick, come again at the next call.
			if len(b.Packets) > 0 {
				return nil
			}
			return err
		}
		if len(b.Packets) == 0 {
			b.FirstFrame = p.Frame
		}
		if used+len(p.Data) > len(buf) {
			if len(b.Packets) > 0 {
				// Full: give this packet back, to start the next batch.
				s.unread()
				return nil
			}
			buf = make([]byte, len(p.Data))
			b.buf = buf
		}
		n := copy(buf[used:], p.Data)
		b.Packets = append(b.Packets, BatchPacket{
			Time: p.Info.Timestamp.UnixNano(), Offset: uint32(used), CaptureLength: uint32(n),
			Length: uint32(p.Info.Length), LinkType: p.LinkType, Input: uint16(p.Input),
		})
		used += n
	}
}

// unread makes the packet Next returned last the one it returns next.
func (s *FileSource) unread() {
	in := s.last
	s.last = nil
	s.frame--
	in.info.Frames--
	s.redeliver = true // checked for a copy already, and remembered
	// LastFrame and the time range keep the packet: it is delivered again
	// with the same frame number and time stamp, so they end up the same.
}

// pcapBatch fills b from the single classic pcap input in, without copying
// packets: the reader's buffer becomes the batch's, and the next read goes
// into the buffer b held before (or a new one).
func (s *FileSource) pcapBatch(in *input, b *Batch) error {
	p := in.fast
	switch {
	case s.last == in:
		// The packet Next returned last (or the last batch) was
		// delivered: the batch starts after it, where the reader stands.
		s.last = nil
	case in.pending:
		// Read by advance but not delivered (the first packet, read by
		// OpenFiles): read it again, into the batch.
		p.start = p.lastStart
	}
	in.pending = false
	// Move the bytes not yet indexed (a record cut by the end of the last
	// read) to the front of b's buffer, and read on into it. When b holds
	// the reader's current buffer (a pool of one), copy moves them in
	// place.
	if cap(b.buf) < len(p.buf) {
		b.buf = make([]byte, len(p.buf))
	}
	fresh := b.buf[:cap(b.buf)]
	p.end = copy(fresh, p.buf[p.start:p.end])
	p.start = 0
	p.buf = fresh

	// Fill most of the buffer before indexing, so that batches stay large
	// on streams whose reads return less than asked (gzip), but not from a
	// pipe, which may be a live capture (p.stream).
	if p.end < len(p.buf)*3/4 && p.err == nil && !p.stream {
		p.top(len(p.buf) * 3 / 4)
	}
	var err error
	for {
		// index takes the record indexWhole stops at: it reads on for the
		// batch's first, reports an invalid one, or ends the batch.
		p.indexWhole(b)
		var ok bool
		if ok, err = p.index(b); err != nil || !ok {
			break
		}
	}
	b.buf = p.buf // fill grows it for a record larger than it
	if s.maxFrames != 0 && s.filter == nil && uint64(len(b.Packets)) > s.maxFrames-s.frame {
		// The last batch of -c COUNT: the source ends after it.
		b.Packets = b.Packets[:s.maxFrames-s.frame]
	}
	if n := len(b.Packets); n > 0 {
		// The end of the input, or a damaged record after good ones, is
		// found again by the next call, which then has nothing to deliver
		// before it.
		b.FirstFrame = s.frame + 1
		s.frame += uint64(n)
		in.deliveredBatch(b, s.frame)
		s.last = in // Next advances from where the batch stopped
		return nil
	}
	if err == errPcapngSection {
		// The file goes on as pcapng (`cat a.pcap b.pcapng`): advance
		// hands the rest to a pcapng reader and reads its first packet,
		// and the batches are copied from then on.
		if osErr := in.advance(); osErr != nil {
			s.err = fmt.Errorf("capture: read %s: %w", in.info.Path, osErr)
			return s.err
		}
		if !in.pending {
			s.pop()
		}
		return s.copyBatch(b)
	}
	if err == nil {
		err = io.EOF
	}
	// The input ends here: as advance ends it, so that Inputs reports the
	// same.
	if osErr := in.end(err); osErr != nil {
		s.err = fmt.Errorf("capture: read %s: %w", in.info.Path, osErr)
		return s.err
	}
	s.pop()
	return io.EOF
}

// deliveredBatch is delivered for the packets of a batch, last being the
// Frame of the last one.
func (in *input) deliveredBatch(b *Batch, last uint64) {
	in.info.Frames += uint64(len(b.Packets))
	in.info.LastFrame = last
	lo, hi := b.Packets[0].Time, b.Packets[0].Time
	for i := range b.Packets {
		t := b.Packets[i].Time
		lo, hi = min(lo, t), max(hi, t)
	}
	// Classic pcap times are at most 2^32 s, so nanoseconds do not
	// overflow and split back exactly.
	if sec, nsec := lo/1e9, int32(lo%1e9); in.info.First.IsZero() || sec < in.firstSec || sec == in.firstSec && nsec < in.firstNsec {
		in.firstSec, in.firstNsec = sec, nsec
		in.info.First = time.Unix(sec, int64(nsec)).UTC()
	}
	if sec, nsec := hi/1e9, int32(hi%1e9); in.info.Last.IsZero() || sec > in.lastSec || sec == in.lastSec && nsec > in.lastNsec {
		in.lastSec, in.lastNsec = sec, nsec
		in.info.Last = time.Unix(sec, int64(nsec)).UTC()
	}
}
