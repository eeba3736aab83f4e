package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// record is one packet as a reader returns it. data points into the
// reader's buffer and is valid until the reader's next call.
type record struct {
	data     []byte
	ci       gopacket.CaptureInfo
	linkType layers.LinkType
	// The time stamp again, split for cheap comparisons in the merge, with
	// nsec in [0, 1e9); noTime for a record without one (a pcapng simple
	// packet block), whose ci.Timestamp is the zero Time.
	sec    int64
	nsec   int32
	noTime bool
}

// setTimeKey fills the comparison key of rec from rec.ci.Timestamp.
func (rec *record) setTimeKey() {
	ts := rec.ci.Timestamp
	rec.noTime = ts.IsZero()
	rec.sec, rec.nsec = ts.Unix(), int32(ts.Nanosecond())
}

// recordReader reads the records of one file format.
type recordReader interface {
	// next fills rec with the next record. It returns io.EOF at a clean
	// end; an error wrapping io.ErrUnexpectedEOF when the data stops inside
	// a record; any other error for data that makes no sense.
	next(rec *record) error
	// describe fills the format-specific fields of info: LinkTypes and
	// Snaplen.
	describe(info *InputInfo)
}

// input is one file of a FileSource, with its pending packet.
type input struct {
	idx  int
	info InputInfo
	size int64

	file io.Closer // the file, closed by close
	disk *countingReader
	gz   *gzipReader // nil unless the file is gzip-compressed
	rd   recordReader

	rec     record
	pending bool // rec holds a packet not yet returned
	ended   bool
	// fast is rd when it is a *pcapReader: a direct call on the path
	// every frame takes.
	fast    *pcapReader
	bufSize int
	// before is what the readers that came before rd described: a pcap
	// file that goes on with a pcapng section changes readers.
	before *InputInfo

	firstSec, lastSec   int64
	firstNsec, lastNsec int32

	// edges, with several inputs, is where the source collects the first
	// and last time stamps of its inputs (FileSource.TakeEdges).
	edges *[]InputEdge
}

// Errors of openPath and newInput that are not the operating system's.
var (
	errIsDir     = errors.New("is a directory, not a capture file")
	errEmptyFile = errors.New("empty file (0 bytes), not a pcap or pcapng file")
)

const gzipReadBuffer = 256 << 10

// openPath opens a file and checks that it can be a capture file. size is
// 0 for what is not a regular file (a pipe).
func openPath(path string) (f *os.File, size int64, err error) {
	f, err = os.Open(path)
	if err != nil {
		// os.Open says "open PATH: ..." itself; keep only its cause so the
		// message names the path once. errors.Is(err, fs.ErrNotExist) and
		// os.ErrPermission still see through it.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, errIsDir
	}
	if st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, nil
}

// newInput recognises the format of the stream r (named path, size bytes
// long if known) and sets up its reader. r is closed by input.close; on an
// error the caller closes it.
func newInput(idx int, path string, r io.ReadCloser, size int64, bufSize int, done *atomic.Int64, opt openOptions) (*input, error) {
	fail := func(err error) (*input, error) {
		return nil, fmt.Errorf("capture: open %s: %w", path, err)
	}
	in := &input{idx: idx, file: r, size: size, info: InputInfo{Path: path}, bufSize: bufSize}
	in.disk = &countingReader{r: r, done: done}

	// Look at the first bytes, then hand the readers a stream that starts
	// with them again: this works on pipes as well as files.
	var head [16]byte
	n, err := io.ReadFull(in.disk, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fail(err)
	}
	if n == 0 {
		return fail(errEmptyFile)
	}
	var stream io.Reader = io.MultiReader(bytes.NewReader(slices.Clone(head[:n])), in.disk)
	gzipped := n >= 2 && head[0] == 0x1f && head[1] == 0x8b
	if gzipped {
		zr, err := gzip.NewReader(bufio.NewReaderSize(stream, gzipReadBuffer))
		if err != nil {
			if in.disk.err != nil {
				return fail(in.disk.err)
			}
			return fail(fmt.Errorf("gzip header: %w", err))
		}
		in.gz = &gzipReader{r: zr}
		n, err = io.ReadFull(in.gz, head[:])
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			if in.disk.err != nil {
				return fail(in.disk.err)
			}
			return fail(fmt.Errorf("gzip: %w", err))
		}
		if n == 0 {
			return fail(errors.New("gzip-compressed empty file, not a pcap or pcapng file"))
		}
		stream = io.MultiReader(bytes.NewReader(slices.Clone(head[:n])), in.gz)
	}
	if n < 4 {
		return fail(fmt.Errorf("%d bytes long, too short for a pcap or pcapng file", n))
	}

	switch magic := binary.BigEndian.Uint32(head[:4]); {
	case magic == pcapngMagic:
		in.info.Format = "pcapng"
		in.rd, err = newNgReader(stream, bufSize)
	case isPcapMagic(magic):
		in.info.Format = "pcap"
		newPcap := opt.newPcap
		if newPcap == nil {
			newPcap = newPcapReader
		}
		in.rd, err = newPcap(stream, bufSize)
	default:
		err = notCapture(path, head[:n], gzipped)
	}
	if err != nil {
		if in.disk.err != nil {
			err = in.disk.err
		}
		return fail(err)
	}
	if gzipped {
		in.info.Format += "+gzip"
	}
	in.fast, _ = in.rd.(*pcapReader)
	if in.fast != nil && size == 0 {
		in.fast.stream = true
	}
	return in, nil
}

// advance reads the next packet of the input into rec. A problem in the
// data ends the input and is recorded in info; only an operating system
// error reading the file is returned.
func (in *input) advance() error {
	in.pending = false
	if in.ended {
		return nil
	}
	var err error
	if in.fast != nil {
		err = in.fast.next(&in.rec)
	} else {
		err = in.rd.next(&in.rec)
	}
	if err == errPcapngSection {
		if err = in.switchToPcapng(); err == nil {
			err = in.rd.next(&in.rec)
		}
	}
	if err == nil {
		in.pending = true
		return nil
	}
	return in.end(err)
}

// switchToPcapng hands the rest of a pcap stream, which goes on with a
// pcapng section (`cat a.pcap b.pcapng`), to a pcapng reader.
func (in *input) switchToPcapng() error {
	old := in.fast
	before := &InputInfo{}
	old.describe(before)
	rd, err := newNgReader(old.rest(), in.bufSize)
	in.rd, in.fast = nil, nil
	if err != nil {
		// The input ends here: what the pcap part declared stays.
		in.info.LinkTypes, in.info.Snaplen, in.info.Sections = before.LinkTypes, before.Snaplen, before.Sections
		return err
	}
	in.rd, in.before = rd, before
	return nil
}

// mergeBefore adds to info what in.before holds: the link types, snaplen
// and sections of the readers before the current one. It may be applied
// again to its result.
func (in *input) mergeBefore(info *InputInfo) {
	b := in.before
	if b == nil {
		return
	}
	lts := slices.Clone(b.LinkTypes)
	for _, lt := range info.LinkTypes {
		if !slices.Contains(lts, lt) {
			lts = append(lts, lt)
		}
	}
	info.LinkTypes = lts
	if info.Snaplen != 0 {
		info.Snaplen = max(info.Snaplen, b.Snaplen)
	}
	info.Sections += b.Sections
}

// end ends the input after its reader returned err: the error is recorded
// in info, the buffers and the file released. Only an operating system
// error reading the file is returned.
func (in *input) end(err error) error {
	in.pending = false
	in.ended = true
	in.rec = record{}
	if in.disk.err != nil {
		return in.disk.err
	}
	// What is left of the file will not be read: count it as done so that
	// progress reaches its total.
	in.disk.skipRest(in.size)
	in.recordEnd(err)
	in.release()
	return nil
}

// recordEnd records in info why the input ended, given the format
// reader's error.
func (in *input) recordEnd(err error) {
	// When the gzip stream broke (cut or corrupt), say so, unless the
	// format reader found a bad record first: readers read ahead, so the
	// gzip error may be seen before that record is parsed.
	if in.gz != nil && in.gz.err != nil && (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, in.gz.err)) {
		err = fmt.Errorf("compressed stream: %w", in.gz.err)
	}
	if err == io.EOF {
		return
	}
	in.info.BadRecord = in.info.Frames + 1
	if errors.Is(err, io.ErrUnexpectedEOF) {
		in.info.TruncatedAtEnd = true
		in.info.Err = fmt.Sprintf("file ends inside record %d: %v", in.info.BadRecord, err)
		return
	}
	in.info.Damaged = true
	in.info.Err = fmt.Sprintf("record %d is damaged, stopped reading there: %v", in.info.BadRecord, err)
}

// delivered updates the counts once Next returns the pending packet as
// frame.
func (in *input) delivered(frame uint64) {
	in.info.LastFrame = frame
	in.counted()
}

// dropped updates the counts when Next drops the pending packet as a copy
// of another input's.
func (in *input) dropped() {
	in.info.Duplicates++
	in.counted()
}

// counted counts the pending packet as read: Frames and the time range.
func (in *input) counted() {
	in.info.Frames++
	rec := &in.rec
	if rec.noTime {
		return
	}
	if in.info.First.IsZero() || rec.sec < in.firstSec || rec.sec == in.firstSec && rec.nsec < in.firstNsec {
		in.info.First = rec.ci.Timestamp
		in.firstSec, in.firstNsec = rec.sec, rec.nsec
		if in.edges != nil {
			*in.edges = append(*in.edges, InputEdge{Input: in.idx, Time: rec.ci.Timestamp})
		}
	}
	if in.info.Last.IsZero() || rec.sec > in.lastSec || rec.sec == in.lastSec && rec.nsec > in.lastNsec {
		in.info.Last = rec.ci.Timestamp
		in.lastSec, in.lastNsec = rec.sec, rec.nsec
	}
}

// ending records the input's last time stamp as an edge, when the merge
// finds it has no further packet.
func (in *input) ending() {
	if in.edges != nil && !in.info.Last.IsZero() {
		*in.edges = append(*in.edges, InputEdge{Input: in.idx, Time: in.info.Last, End: true})
	}
}

func (in *input) describe() InputInfo {
	info := in.info
	if in.rd != nil {
		in.rd.describe(&info)
		in.mergeBefore(&info)
	}
	info.LinkTypes = slices.Clone(info.LinkTypes)
	return info
}

// release frees what an input that has ended holds: its buffers (1 MiB or
// more each, with the gzip state) and its file descriptor, which matters
// when a long ring of files is merged. The description is kept.
func (in *input) release() {
	if in.rd != nil {
		in.rd.describe(&in.info)
		in.mergeBefore(&in.info)
	}
	in.rd, in.fast, in.gz, in.before = nil, nil, nil, nil
	if in.file != nil {
		// A read-only file has nothing to flush: its Close error says
		// nothing about the data read.
		in.file.Close()
		in.file = nil
	}
}

func (in *input) close() error {
	in.ended, in.pending = true, false
	if in.file == nil {
		return nil
	}
	err := in.file.Close()
	in.file = nil
	return err
}

// countingReader counts the bytes read from a file into a counter that
// Progress reads from any goroutine. It costs one atomic add per read of a
// whole buffer, not per frame. It keeps the file's first error, so that an
// I/O error is told apart from bad data.
type countingReader struct {
	r    io.Reader
	done *atomic.Int64
	read int64
	err  error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.read += int64(n)
		c.done.Add(int64(n))
	}
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// skipRest counts the unread rest of a file of the given size as done.
func (c *countingReader) skipRest(size int64) {
	if rest := size - c.read; rest > 0 {
		c.read += rest
		c.done.Add(rest)
	}
}

// gzipReader keeps the first error of the gzip stream (a cut stream, a bad
// checksum), which the format readers may pass on without wrapping.
type gzipReader struct {
	r   *gzip.Reader
	err error
}

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF && g.err == nil {
		g.err = err
	}
	return n, err
}

// notCapture explains what a file that is neither pcap nor pcapng starts
// with, and guesses what it is when the bytes say so.
func notCapture(path string, head []byte, gzipped bool) error {
	var hexBytes strings.Builder
	for i, b := range head[:min(len(head), 4)] {
		if i > 0 {
			hexBytes.WriteByte(' ')
		}
		fmt.Fprintf(&hexBytes, "%02x", b)
	}
	what := "not a pcap or pcapng file"
	if gzipped {
		what = "gzip-compressed, but not a pcap or pcapng file inside"
	}
	if guess := guessFormat(path, head); guess != "" {
		return fmt.Errorf("%s (starts with %s: %s)", what, hexBytes.String(), guess)
	}
	return fmt.Errorf("%s (starts with %s)", what, hexBytes.String())
}

// guessFormat names common things people pass instead of a capture.
func guessFormat(path string, head []byte) string {
	has := func(prefix string) bool { return bytes.HasPrefix(head, []byte(prefix)) }
	lower := bytes.ToLower(head)
	switch {
	case bytes.HasPrefix(lower, []byte("<!doctype")), bytes.HasPrefix(lower, []byte("<html")), has("<!--"):
		return "HTML?"
	case has("<?xml"):
		return "XML?"
	case has("{"), has("["):
		return "JSON?"
	case has("GMBU"):
		return "a Microsoft Network Monitor capture? save it as pcapng with Wireshark first"
	case has("\x34\xcd\xb2\xa1"), has("\xa1\xb2\xcd\x34"):
		return "a pcap from a patched libpcap (magic a1b2cd34), not supported: convert it with editcap -F pcap"
	case has("snoop\x00"):
		return "a snoop capture? convert it with editcap -F pcapng"
	case has("PK\x03\x04"):
		return "a zip archive? unzip it first"
	case has("BZh"):
		return "bzip2-compressed? decompress it first"
	case has("\xfd7zXZ"):
		return "xz-compressed? decompress it first"
	case has("\x28\xb5\x2f\xfd"):
		return "zstd-compressed? decompress it first"
	case has("\x7fELF"):
		return "a program?"
	case strings.HasSuffix(strings.ToLower(path), ".etl"):
		return "a pktmon or netsh trace? convert it with pktmon etl2pcap"
	case isText(head):
		return "text?"
	}
	return ""
}

func isText(b []byte) bool {
	for _, c := range b {
		if c != '\t' && c != '\n' && c != '\r' && (c < 0x20 || c > 0x7e) {
			return false
		}
	}
	return len(b) > 0
}
