package capture

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Packet is one frame from a Source. Data is valid only until the next call of Next.
type Packet struct {
	Data     []byte
	Info     gopacket.CaptureInfo // Timestamp, CaptureLength, Length, InterfaceIndex
	LinkType layers.LinkType
	Frame    uint64 // 1-based, across all inputs, in the order Next returns packets
	Input    int    // index of the input (file) it came from
}

// Source yields packets. Next fills p and returns io.EOF at the end.
type Source interface {
	Next(p *Packet) error
	Close() error
}

var _ Source = (*FileSource)(nil)

// MaxInputs is the most inputs OpenFiles reads together.
const MaxInputs = 1 << 16

// InputEdge is the first or the last time stamp of an input, which the
// merge of several inputs comes to in time order: when each input was
// capturing, for the analysis to judge a silence only where one was
// (analyze.Engine.InputStart, InputEnd).
type InputEdge struct {
	// Input is the index of the input.
	Input int
	// Time is the time stamp of the input's first packet, or with End
	// its last: it has no packet after it.
	Time time.Time
	End  bool
}

// InputInfo describes one input file of a FileSource and what reading it has
// found so far.
type InputInfo struct {
	// Path is the path as given to OpenFiles.
	Path string
	// Format is "pcap" or "pcapng", with "+gzip" appended when the file is
	// gzip-compressed.
	Format string
	// LinkTypes are the link types of the file: those of its pcap headers,
	// or of the pcapng interfaces described so far, in order of first
	// appearance and without repeats.
	LinkTypes []layers.LinkType
	// Snaplen is the largest snapshot length of the pcap headers, or of the
	// pcapng interfaces described so far; 0 when a pcapng interface
	// declares no limit.
	Snaplen uint32
	// Sections counts the file headers read so far (pcap headers and
	// pcapng section header blocks): 1, or more in a file made by
	// concatenating captures (`cat a.pcap b.pcap`), whose parts are read
	// one after the other.
	Sections int
	// Frames is the number of packets read from this input: those Next
	// has returned and the Duplicates it dropped.
	Frames uint64
	// Duplicates counts the packets of this input dropped as copies of
	// packets of another input (FileOptions.DedupWindow): they have no
	// Frame number.
	Duplicates uint64
	// First and Last are the earliest and the latest time stamps of those
	// packets (capinfos' "earliest/latest packet time"); zero before the
	// first packet. Packets without a time stamp (pcapng simple packet
	// blocks) do not count.
	First, Last time.Time
	// LastFrame is the Frame of the last packet returned from this input,
	// 0 if none: the evidence to cite for a problem at the input's end.
	LastFrame uint64

	// TruncatedAtEnd says the file ends in the middle of a record: a
	// capture killed hard, or a copy taken while it was being written. The
	// packets before the cut were all returned.
	TruncatedAtEnd bool
	// Damaged says a record inside the file is corrupt (an absurd length, a
	// block that makes no sense, a bad gzip stream): reading this input
	// stopped there, the packets before it were returned and the other
	// inputs go on.
	Damaged bool
	// BadRecord is the 1-based number, counting in this file alone, of the
	// record that was cut or damaged (Frames+1), 0 when the input is clean.
	BadRecord uint64
	// Err says what went wrong when TruncatedAtEnd or Damaged is set.
	Err string
}

// FileSource reads one or more capture files and returns their packets
// merged in time-stamp order. It is a Source; make one with OpenFiles.
//
// Next, Inputs and Close must be called from one goroutine at a time;
// Progress may be called from any goroutine at any time.
type FileSource struct {
	inputs []*input
	// heap holds the inputs that have a pending packet, ordered by
	// mergeBefore: heap[0] is the one Next returns next.
	heap []*input
	// last is the input whose packet Next returned last. It is advanced at
	// the start of the next call, not before, because advancing a reader
	// reuses the buffer that packet's Data points into.
	last   *input
	frame  uint64
	closed bool
	err    error // sticky fatal error (an I/O error reading a file)

	done  atomic.Int64 // bytes of the files on disk consumed (or skipped)
	total int64        // sum of the sizes of the files, 0 if one is unknown

	// filter, when set, passes only the packets Next and NextBatch return.
	filter *Filter

	// dedup drops copies of frames across inputs; nil with one input or
	// without a window. redeliver says the packet at heap[0] was checked
	// already (unread gives it back).
	dedup     *dedupTable
	redeliver bool

	// maxFrames is FileOptions.MaxFrames: without a filter it counts the
	// frames read (frame), with one those that pass it (passed).
	maxFrames, passed uint64
	// framesDone is frame for other goroutines (FramesRead), stored per
	// batch and every few thousand packets.
	framesDone atomic.Uint64

	// edges are the InputEdges not yet taken (TakeEdges); only kept with
	// several inputs.
	edges []InputEdge
}

// FileOptions configure OpenFilesWith.
type FileOptions struct {
	// DedupWindow: with several inputs, a packet with the same bytes and
	// length as a packet of another input at most this far apart in time
	// is a copy of it, dropped and counted in InputInfo.Duplicates (see
	// DefaultDedupWindow). 0 keeps every packet.
	DedupWindow time.Duration
	// MaxFrames, when not 0, ends the source after that many packets (as
	// tcpdump -c), counting with a filter (SetFilter) those that pass it:
	// Next and NextBatch return io.EOF from then on.
	MaxFrames uint64
	// Stdin is what the path "-" reads (as tcpdump -r - does): os.Stdin
	// when nil.
	Stdin io.Reader
	// Done, when it closes, makes a read of standard input that waits on a
	// pipe (a live tcpdump -w - whose writer goes on) fail at once, so that
	// the caller can stop (Ctrl-C); the source then reports an error, as
	// for an I/O error.
	Done <-chan struct{}
}

// StdinPath is the path that names standard input.
const StdinPath = "-"

// SetFilter makes Next and NextBatch return only the packets that pass f
// (nil: all). Filtered-out packets keep their frame numbers: the Frame of
// a packet is its number in the (merged) files, as tcpdump -# and Wireshark
// number it, so the report's evidence can be found there. InputInfo counts
// every packet read, filtered out or not.
func (s *FileSource) SetFilter(f *Filter) { s.filter = f }

// ErrNoInputs is returned by OpenFiles when it is given no paths.
var ErrNoInputs = errors.New("capture: no capture files given")

// OpenFiles opens capture files for reading. Each may be pcap (micro- or
// nanosecond time stamps, either byte order) or pcapng, optionally gzip
// compressed; the format is recognised from the first bytes, not the name.
// Several files are merged in time-stamp order as mergecap merges them, so
// Frame numbers are those of `mergecap -w merged FILES`.
//
// Packets are returned as the file has them. In particular a record whose
// captured length exceeds its original length (Info.CaptureLength >
// Info.Length, found in damaged and crafted files) is returned as it is,
// as libpcap and Wireshark do.
//
// A path that cannot be opened or is not a capture file makes OpenFiles fail
// with an error naming it, and close what it had opened. Problems inside a
// file (a cut at the end, a corrupt record) do not: reading that file stops
// there, and InputInfo says what happened.
//
// Packets of one input that repeat packets of another (overlapping
// captures) are dropped as DefaultDedupWindow says; OpenFilesWith sets
// another window.
func OpenFiles(paths []string) (*FileSource, error) {
	return OpenFilesWith(paths, FileOptions{DedupWindow: DefaultDedupWindow})
}

// OpenFilesWith is OpenFiles with options.
func OpenFilesWith(paths []string, opts FileOptions) (*FileSource, error) {
	return openFiles(paths, openOptions{FileOptions: opts})
}

// openOptions are FileOptions and seams for tests: a different reader for
// classic pcap (pcapgo's, to compare with) and a smaller read buffer.
type openOptions struct {
	FileOptions
	newPcap    func(r io.Reader, bufSize int) (recordReader, error)
	bufferSize int
}

func openFiles(paths []string, opt openOptions) (*FileSource, error) {
	if len(paths) == 0 {
		return nil, ErrNoInputs
	}
	s := &FileSource{inputs: make([]*input, 0, len(paths)), maxFrames: opt.MaxFrames}
	unknownSize := false
	bufSize := opt.bufferSize
	if bufSize == 0 {
		bufSize = readBufferSize(len(paths))
	}
	if n := slices.Index(paths, StdinPath); n >= 0 && slices.Contains(paths[n+1:], StdinPath) {
		return nil, fmt.Errorf("capture: open %s: %w", StdinPath, errStdinTwice)
	}
	if len(paths) > MaxInputs {
		return nil, fmt.Errorf("capture: %d files: at most %d can be read together", len(paths), MaxInputs)
	}
	for i, path := range paths {
		var f io.ReadCloser
		var size int64
		var err error
		if path == StdinPath {
			f, size, err = openStdin(opt.Stdin, opt.Done)
		} else {
			f, size, err = openPath(path)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("capture: open %s: %w", path, err)
		}
		in, err := newInput(i, path, f, size, bufSize, &s.done, opt)
		if err != nil {
			f.Close()
			s.Close()
			return nil, err
		}
		s.inputs = append(s.inputs, in)
		s.total += size
		if size == 0 { // not a regular file: a pipe
			unknownSize = true
		}
	}
	if unknownSize {
		s.total = 0
	}
	s.setDedup(opt.DedupWindow)
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// setDedup sets up the dropping of copies across inputs.
func (s *FileSource) setDedup(window time.Duration) {
	if len(s.inputs) > 1 && window > 0 {
		s.dedup = newDedupTable(window, len(s.inputs))
	}
}

// DedupEvicted counts the frames the table of recent frames forgot before
// their dedup window closed (it holds a bounded number): a copy of one of
// them arriving later was not recognised.
func (s *FileSource) DedupEvicted() uint64 {
	if s.dedup == nil {
		return 0
	}
	return s.dedup.evicted
}

// start reads the first packet of every input: the merge needs its time
// stamp, and an I/O error there belongs to the open.
func (s *FileSource) start() error {
	s.heap = make([]*input, 0, len(s.inputs))
	for _, in := range s.inputs {
		if len(s.inputs) > 1 {
			in.edges = &s.edges
		}
	}
	for _, in := range s.inputs {
		if err := in.advance(); err != nil {
			s.Close()
			return fmt.Errorf("capture: open %s: %w", in.info.Path, err)
		}
		if in.pending {
			s.push(in)
			if s.dedup != nil {
				s.dedup.pending(&in.rec, in.idx, true)
			}
		}
	}
	return nil
}

// readBufferSize is the read buffer of each input: 256 KiB keeps the read
// system calls out of the per-frame cost (one per ~2,000 frames of a span
// capture) while the batches the read pipeline keeps in flight, each a
// read buffer, stay in a core's L2 cache beside the analyzer's tables:
// measured against 1 MiB on the 5M mix (BenchmarkFeed/pipeline, 11 runs
// each, interleaved), ~8% less CPU per frame. With many files (a ring of
// tcpdump -C files) it shrinks so that the buffers stay below 64 MiB.
func readBufferSize(inputs int) int {
	const max, min, budget = 256 << 10, 64 << 10, 64 << 20
	size := budget / inputs
	if size > max {
		size = max
	}
	if size < min {
		size = min
	}
	return size
}

// Next fills p with the next packet in time-stamp order and returns io.EOF
// when every input is exhausted. p.Data points into a read buffer and is
// valid only until the next call of Next; copy what must outlive it.
//
// Next returns an error other than io.EOF only when reading a file fails at
// the operating system level (an I/O error), or after Close. Problems in the
// data end that one input and are reported by Inputs.
func (s *FileSource) Next(p *Packet) error {
	if s.filter == nil {
		return s.next(p) // which counts MaxFrames itself
	}
	if s.maxFrames != 0 && s.passed >= s.maxFrames {
		return io.EOF
	}
	for {
		if err := s.next(p); err != nil {
			return err
		}
		if s.filter.Match(p.Data, p.LinkType) {
			s.passed++
			return nil
		}
	}
}

// next is Next without the filter.
func (s *FileSource) next(p *Packet) error {
	if s.err != nil {
		return s.err
	}
	if s.maxFrames != 0 && s.filter == nil && s.frame >= s.maxFrames {
		return io.EOF
	}
	var in *input
	for {
		if in := s.last; in != nil {
			s.last = nil
			if err := in.advance(); err != nil {
				s.err = fmt.Errorf("capture: read %s: %w", in.info.Path, err)
				return s.err
			}
			if in.pending {
				if s.dedup != nil {
					s.dedup.pending(&in.rec, in.idx, false)
				}
				s.down(0)
			} else {
				if s.dedup != nil {
					s.dedup.end(in.idx)
				}
				in.ending()
				s.pop()
			}
		}
		if len(s.heap) == 0 {
			s.framesDone.Store(s.frame)
			return io.EOF
		}
		in = s.heap[0]
		if s.dedup == nil || s.redeliver || !s.dedup.duplicate(&in.rec, in.idx) {
			break
		}
		in.dropped()
		s.last = in // advance it, as after a delivery
	}
	s.redeliver = false
	s.frame++
	if s.frame&0xff == 0 {
		s.framesDone.Store(s.frame)
	}
	// Field by field: cheaper than copying the CaptureInfo with its
	// pointers whole, and AncillaryData stays nil.
	rec := &in.rec
	p.Data = rec.data
	p.Info.Timestamp = rec.ci.Timestamp
	p.Info.CaptureLength = rec.ci.CaptureLength
	p.Info.Length = rec.ci.Length
	p.Info.InterfaceIndex = rec.ci.InterfaceIndex
	if p.Info.AncillaryData != nil {
		p.Info.AncillaryData = nil
	}
	p.LinkType = rec.linkType
	p.Frame = s.frame
	p.Input = in.idx
	in.delivered(s.frame)
	s.last = in
	return nil
}

// TakeEdges appends to dst the first and last time stamps of inputs that
// Next and NextBatch came to since the last call (NextBatch puts them in
// Batch.Edges), and returns it. They come in the order the merge found
// them: an input's first packet when it is read (with the packets of
// other inputs before it still to be returned), its last when it has no
// further packet. With one input there are none.
func (s *FileSource) TakeEdges(dst []InputEdge) []InputEdge {
	dst = append(dst, s.edges...)
	s.edges = s.edges[:0]
	return dst
}

// FramesRead returns how many packets Next and NextBatch have returned,
// as of the last batch or the last 256 packets: for a progress line. It is safe to call from any goroutine.
func (s *FileSource) FramesRead() uint64 { return s.framesDone.Load() }

// Inputs describes the inputs, in the order given to OpenFiles, as far as
// they have been read. The result is a copy.
func (s *FileSource) Inputs() []InputInfo {
	out := make([]InputInfo, len(s.inputs))
	for i, in := range s.inputs {
		out[i] = in.describe()
	}
	return out
}

// Progress returns how many bytes of the files on disk have been consumed
// (compressed bytes for gzip files) and their total size. A file that ends
// early counts as fully consumed. Total is 0 when the size of an input is
// unknown (a pipe). It is cheap and safe to call from any goroutine.
func (s *FileSource) Progress() (done, total int64) {
	return s.done.Load(), s.total
}

// Close closes the files. Next returns an error after Close.
func (s *FileSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.err = fmt.Errorf("capture: read after close: %w", fs.ErrClosed)
	s.heap = s.heap[:0]
	s.last = nil
	var errs []error
	for _, in := range s.inputs {
		if err := in.close(); err != nil {
			errs = append(errs, fmt.Errorf("capture: close %s: %w", in.info.Path, err))
		}
	}
	return errors.Join(errs...)
}

// mergeBefore reports whether a's pending packet comes before b's. The order
// is mergecap's (Wireshark merge.c, merge_read_packet, verified against
// mergecap 4.0): a packet without a time stamp first, the lowest input
// first among those; then the earliest time stamp; among equal time stamps
// the input given LAST, because mergecap's scan keeps the last of equal
// candidates. Following it exactly is what makes Frame numbers those of
// the merged file in Wireshark.
func mergeBefore(a, b *input) bool {
	ra, rb := &a.rec, &b.rec
	if ra.noTime || rb.noTime {
		if ra.noTime && rb.noTime {
			return a.idx < b.idx
		}
		return ra.noTime
	}
	if ra.sec != rb.sec {
		return ra.sec < rb.sec
	}
	if ra.nsec != rb.nsec {
		return ra.nsec < rb.nsec
	}
	return a.idx > b.idx
}

// The heap is hand-written rather than container/heap: it saves an
// interface call per comparison on the path every frame takes.

func (s *FileSource) push(in *input) {
	s.heap = append(s.heap, in)
	i := len(s.heap) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !mergeBefore(s.heap[i], s.heap[parent]) {
			break
		}
		s.heap[i], s.heap[parent] = s.heap[parent], s.heap[i]
		i = parent
	}
}

func (s *FileSource) pop() {
	n := len(s.heap) - 1
	s.heap[0] = s.heap[n]
	s.heap[n] = nil
	s.heap = s.heap[:n]
	if n > 0 {
		s.down(0)
	}
}

func (s *FileSource) down(i int) {
	h := s.heap
	n := len(h)
	for {
		left := 2*i + 1
		if left >= n {
			return
		}
		least := left
		if right := left + 1; right < n && mergeBefore(h[right], h[left]) {
			least = right
		}
		if !mergeBefore(h[least], h[i]) {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}
