package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Classic pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html)
// is read here rather than with pcapgo.Reader: measured on 1M 100-byte
// frames, pcapgo's reader costs about 44 ns a frame (two io.ReadFull
// calls through interfaces and a copy per frame), twice the whole budget of
// a pipeline meant to run at more than 20 million frames a second. This
// reader parses records in place from one large buffer, so Data points into
// it without a copy. It takes and rejects what pcapgo v1.7.7 does, except
// records whose captured length exceeds the original length (see next);
// the tests compare the two on every capture they have and in the fuzz
// target.

// The first four bytes of a file, read big-endian.
const (
	pcapMicroMagic        = 0xa1b2c3d4 // written in big-endian order
	pcapMicroMagicSwapped = 0xd4c3b2a1 // little-endian: the usual one
	pcapNanoMagic         = 0xa1b23c4d
	pcapNanoMagicSwapped  = 0x4d3cb2a1
	pcapngMagic           = 0x0a0d0d0a // section header block type, a palindrome
)

const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
	// pcapMaxCaplen is libpcap's MAXIMUM_SNAPLEN. Like pcapgo (and
	// tcpdump), a record longer than this and than the file's snaplen is
	// taken as corrupt.
	pcapMaxCaplen = 262144
)

func isPcapMagic(m uint32) bool {
	switch m {
	case pcapMicroMagic, pcapMicroMagicSwapped, pcapNanoMagic, pcapNanoMagicSwapped:
		return true
	}
	return false
}

// pcapReader reads classic pcap records from a large buffer.
//
// Layout of the file header (24 bytes, in the writer's byte order, which
// the magic tells): magic 4, version major 2, minor 2, thiszone 4,
// sigfigs 4, snaplen 4, link type 4. Each record: seconds 4, fraction 4
// (micro- or nanoseconds, by magic), captured length 4, original length 4,
// then the captured bytes.
type pcapReader struct {
	r   io.Reader
	buf []byte
	// hdr is the record header being parsed, kept here so peek fills it in
	// place.
	hdr pcapHeader
	// buf[start:end] holds the bytes read but not yet parsed.
	start, end int
	// lastStart is where the record parsed last starts, so that it can be
	// parsed again.
	lastStart int
	// err is the error the underlying reader returned, kept until the
	// buffered bytes run out.
	err error

	bigEndian bool
	// fracToNanos turns the fraction field into nanoseconds: 1000 or 1.
	fracToNanos uint32
	snaplen     uint32
	linkType    layers.LinkType
	maxCaplen   uint32

	// What the file headers read so far declared: a file made with
	// `cat a.pcap b.pcap` has one per part (sections). linkTypes are in
	// order of first appearance; maxSnaplen is the largest snaplen.
	sections   int
	linkTypes  []layers.LinkType
	maxSnaplen uint32

	// stream: the input is a pipe (standard input), which may be a live
	// capture: a batch takes what a read brings rather than wait for the
	// buffer to fill (top), so that frames and progress do not wait for
	// 200 KiB of a slow capture.
	stream bool
}

// errPcapngSection is what pcapReader returns, at a record boundary, when
// the stream goes on with a pcapng section header block (`cat a.pcap
// b.pcapng`): the rest of the stream is pcapng, for another reader.
var errPcapngSection = errors.New("a pcapng section starts here")

func newPcapReader(r io.Reader, bufSize int) (recordReader, error) {
	p := &pcapReader{r: r, buf: make([]byte, max(bufSize, 2*pcapFileHeaderLen))}
	if err := p.fill(pcapFileHeaderLen); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("pcap file header cut short: %d of %d bytes", p.end, pcapFileHeaderLen)
		}
		return nil, err
	}
	if err := p.setHeader(p.buf[:pcapFileHeaderLen]); err != nil {
		return nil, err
	}
	p.start = pcapFileHeaderLen
	return p, nil
}

// setHeader takes the file header h (24 bytes): the byte order and the
// time stamp resolution of the records after it, their snaplen and link
// type.
func (p *pcapReader) setHeader(h []byte) error {
	var order binary.ByteOrder = binary.LittleEndian
	switch binary.BigEndian.Uint32(h) {
	case pcapMicroMagic:
		p.bigEndian, p.fracToNanos = true, 1000
	case pcapMicroMagicSwapped:
		p.bigEndian, p.fracToNanos = false, 1000
	case pcapNanoMagic:
		p.bigEndian, p.fracToNanos = true, 1
	case pcapNanoMagicSwapped:
		p.bigEndian, p.fracToNanos = false, 1
	default:
		return fmt.Errorf("unknown pcap magic %x", h[:4])
	}
	if p.bigEndian {
		order = binary.BigEndian
	}
	if major, minor := order.Uint16(h[4:]), order.Uint16(h[6:]); major != 2 || minor != 4 {
		return fmt.Errorf("pcap version %d.%d not supported (only 2.4)", major, minor)
	}
	p.snaplen = order.Uint32(h[16:])
	p.linkType = layers.LinkType(order.Uint32(h[20:]))
	p.maxCaplen = max(p.snaplen, pcapMaxCaplen)
	p.sections++
	p.maxSnaplen = max(p.maxSnaplen, p.snaplen)
	if !slices.Contains(p.linkTypes, p.linkType) {
		p.linkTypes = append(p.linkTypes, p.linkType)
	}
	return nil
}

func (p *pcapReader) describe(info *InputInfo) {
	info.LinkTypes = append(info.LinkTypes[:0], p.linkTypes...)
	info.Snaplen = p.maxSnaplen
	info.Sections = p.sections
}

// A file header in the middle of the stream is recognised by its first
// four bytes where a record header would start: a record's seconds that
// equal a pcap magic (read in the byte order of the records before it)
// would date it 1975 (pcapng), 2011, 2055 or 2083. The rest of the header
// (the version, or pcapng's byte-order magic) must agree before it is
// taken as one; otherwise the record is read as a record.
func isHeaderSec(sec uint32) bool {
	switch sec {
	case pcapMicroMagic, pcapMicroMagicSwapped, pcapNanoMagic, pcapNanoMagicSwapped, pcapngMagic:
		return true
	}
	return false
}

// headerAt reports what file header starts buf, which holds at least 12
// bytes: a classic pcap header (its magic and version 2.4), a pcapng
// section header block (its byte-order magic in either order), or none.
func headerAt(buf []byte) (pcapHeader, pcapngHeader bool) {
	magic := binary.BigEndian.Uint32(buf)
	if magic == pcapngMagic {
		bom := binary.BigEndian.Uint32(buf[8:])
		return false, bom == 0x1a2b3c4d || bom == 0x4d3c2b1a
	}
	if !isPcapMagic(magic) {
		return false, false
	}
	var order binary.ByteOrder = binary.LittleEndian
	if magic == pcapMicroMagic || magic == pcapNanoMagic {
		order = binary.BigEndian
	}
	return order.Uint16(buf[4:]) == 2 && order.Uint16(buf[6:]) == 4, false
}

// takeHeader handles the file header that may start at p.start, where a
// record header whose seconds isHeaderSec holds is buffered (16 bytes,
// enough for headerAt): a pcap header is taken (setHeader) and skipped, a
// pcapng section header gives errPcapngSection; anything else is a record
// (skipped false). A pcap header needs pcapFileHeaderLen bytes, read when
// mayRead (ok false when it may not).
func (p *pcapReader) takeHeader(mayRead bool) (skipped, ok bool, err error) {
	pcap, pcapng := headerAt(p.buf[p.start:p.end])
	switch {
	case pcapng:
		return false, false, errPcapngSection
	case !pcap:
		return false, true, nil
	}
	if p.end-p.start < pcapFileHeaderLen {
		if !mayRead {
			return false, false, nil
		}
		if err := p.fill(pcapFileHeaderLen); err != nil {
			if err == io.ErrUnexpectedEOF {
				return false, false, fmt.Errorf("pcap file header of the next part: %d of %d bytes: %w",
					p.end-p.start, pcapFileHeaderLen, err)
			}
			return false, false, err
		}
	}
	if err := p.setHeader(p.buf[p.start : p.start+pcapFileHeaderLen]); err != nil {
		return false, false, err
	}
	p.start += pcapFileHeaderLen
	return true, true, nil
}

// rest returns the bytes of the stream from p.start on, for the reader
// that takes over after errPcapngSection: the buffered ones, then the
// rest of the underlying stream.
func (p *pcapReader) rest() io.Reader {
	// A copy: the buffer may be a Batch's, which is written again soon.
	buffered := bytes.NewReader(slices.Clone(p.buf[p.start:p.end]))
	if p.err != nil {
		if p.err == io.EOF {
			return buffered
		}
		return io.MultiReader(buffered, errReader{p.err})
	}
	return io.MultiReader(buffered, p.r)
}

// errReader returns err on every read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (p *pcapReader) next(rec *record) error {
	h := &p.hdr
	_, err := p.peek(true, h)
	if err != nil {
		return err
	}
	// The capacity is cut at the record's end: appending to Data must not
	// overwrite the next record.
	rec.data = p.buf[p.start+pcapRecordHeaderLen : p.start+h.size : p.start+h.size]
	p.lastStart = p.start
	p.start += h.size
	rec.ci.Timestamp = time.Unix(h.sec, h.nsec).UTC()
	rec.sec, rec.nsec, rec.noTime = h.sec, int32(h.nsec), false
	rec.ci.CaptureLength = int(h.caplen)
	rec.ci.Length = int(h.length)
	rec.ci.InterfaceIndex = 0
	rec.linkType = p.linkType
	return nil
}

// index appends the record at p.start to b without copying it, unless it
// is not whole in the buffer and b holds records already: ok is then false,
// and the record starts the next batch.
func (p *pcapReader) index(b *Batch) (ok bool, err error) {
	h := &p.hdr
	if ok, err := p.peek(len(b.Packets) == 0, h); !ok || err != nil {
		return false, err
	}
	p.appendPacket(b, h.sec*1e9+h.nsec, p.start, h.caplen, h.length)
	p.lastStart = p.start
	p.start += h.size
	return true, nil
}

// appendPacket appends to b the record whose header is at off, captured at
// t (nanoseconds since the epoch). It fills the packet field by field in
// place: building it as a literal and copying it (and returning the header
// by value) stalled on store forwarding, measured at a sixth of the
// reader's time.
func (p *pcapReader) appendPacket(b *Batch, t int64, off int, caplen, length uint32) {
	b.Packets = append(b.Packets, BatchPacket{})
	bp := &b.Packets[len(b.Packets)-1]
	bp.Time = t
	bp.Offset = uint32(off + pcapRecordHeaderLen)
	bp.CaptureLength = caplen
	bp.Length = length
	bp.LinkType = p.linkType
}

// recordHeader returns the fields of the record header at off, which must
// be in the buffer: seconds, fraction of a second, captured and original
// lengths.
func (p *pcapReader) recordHeader(off int) (sec, frac, caplen, length uint32) {
	hdr := p.buf[off : off+pcapRecordHeaderLen]
	if p.bigEndian {
		return binary.BigEndian.Uint32(hdr[0:]), binary.BigEndian.Uint32(hdr[4:]),
			binary.BigEndian.Uint32(hdr[8:]), binary.BigEndian.Uint32(hdr[12:])
	}
	return binary.LittleEndian.Uint32(hdr[0:]), binary.LittleEndian.Uint32(hdr[4:]),
		binary.LittleEndian.Uint32(hdr[8:]), binary.LittleEndian.Uint32(hdr[12:])
}

// indexWhole appends to b every record that lies whole in the buffer from
// p.start on, as index would one by one, and stops at the first that does
// not or whose length is invalid: index then reads on or reports it. It is
// index's loop for a buffer just read, in one function: calling index and
// peek for a record, each filling a header in memory, cost about as much
// as the indexing itself (BenchmarkFileSourceBatch/pcap: 22-23 -> 19-22
// ns a frame).
func (p *pcapReader) indexWhole(b *Batch) {
	start, lastStart := p.start, p.lastStart
	for p.end-start >= pcapRecordHeaderLen {
		sec, frac, caplen, length := p.recordHeader(start)
		if isHeaderSec(sec) {
			break // perhaps a file header: peek decides
		}
		// peek's check, though a record over maxCaplen cannot lie whole
		// in the buffer, which grows only to fit a record under it.
		size := pcapRecordHeaderLen + int(caplen)
		if caplen > p.maxCaplen || p.end-start < size {
			break
		}
		// The fraction is a uint32 product, as in peek; that peek
		// normalises it below a second changes nothing in nanoseconds
		// since the epoch.
		p.appendPacket(b, int64(sec)*1e9+int64(frac*p.fracToNanos), start, caplen, length)
		lastStart = start
		start += size
	}
	p.start, p.lastStart = start, lastStart
}

// pcapHeader is a record header, parsed.
type pcapHeader struct {
	sec, nsec      int64 // nsec in [0, 1e9)
	caplen, length uint32
	size           int // header and captured bytes
}

// peek parses the record at p.start and makes sure it is whole in the
// buffer, reading more when mayRead; without it, a record that is not
// whole gives ok false. It does not move past the record.
func (p *pcapReader) peek(mayRead bool, h *pcapHeader) (ok bool, err error) {
	var sec, frac uint32
	for {
		if p.end-p.start < pcapRecordHeaderLen {
			if !mayRead {
				return false, nil
			}
			if err := p.fill(pcapRecordHeaderLen); err != nil {
				if err == io.ErrUnexpectedEOF {
					return false, fmt.Errorf("record header: %d of %d bytes: %w", p.end-p.start, pcapRecordHeaderLen, err)
				}
				return false, err
			}
		}
		sec, frac, h.caplen, h.length = p.recordHeader(p.start)
		if !isHeaderSec(sec) {
			break
		}
		skipped, ok, err := p.takeHeader(mayRead)
		if !ok || err != nil {
			return false, err
		}
		if !skipped {
			break
		}
	}
	if h.caplen > p.maxCaplen {
		return false, fmt.Errorf("captured length %d exceeds the snaplen %d", h.caplen, p.snaplen)
	}
	// A captured length above the original length is not rejected, unlike
	// pcapgo does: libpcap (so tcpdump) and Wireshark take such records as
	// they are, and frame numbers must stay those of Wireshark. Crafted
	// files in tcpdump's tests have them.
	h.size = pcapRecordHeaderLen + int(h.caplen)
	if p.end-p.start < h.size {
		if !mayRead {
			return false, nil
		}
		if err := p.fill(h.size); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return false, fmt.Errorf("%d of %d captured bytes: %w", p.end-p.start-pcapRecordHeaderLen, h.caplen, io.ErrUnexpectedEOF)
			}
			return false, err
		}
	}
	// frac*fracToNanos is a uint32 product, as in pcapgo: both readers give
	// the same (meaningless) time for a corrupt fraction of a second.
	h.sec, h.nsec = int64(sec), int64(frac*p.fracToNanos)
	if h.nsec >= 1e9 {
		h.sec, h.nsec = h.sec+h.nsec/1e9, h.nsec%1e9 // as time.Unix normalises it
	}
	return true, nil
}

// fill makes at least need bytes available in buf[start:end]. It moves the
// unparsed bytes to the front of buf (invalidating the data of the record
// returned before, which Next allows) and grows buf when a record is larger
// than it. It returns io.EOF when the stream ends with no byte buffered,
// io.ErrUnexpectedEOF when it ends with fewer than need, or the stream's
// error.
func (p *pcapReader) fill(need int) error {
	if len(p.buf)-p.start < need {
		p.end = copy(p.buf, p.buf[p.start:p.end])
		p.start = 0
	}
	for p.end-p.start < need {
		if p.err != nil {
			if p.err != io.EOF {
				return p.err
			}
			if p.end == p.start {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		if p.end == len(p.buf) {
			// A record larger than the buffer, possible only when the file
			// declares a snaplen above it. Grow by doubling as the bytes
			// arrive rather than trusting the length: a corrupt header in a
			// small file must not allocate gigabytes.
			grown := make([]byte, min(need, 2*len(p.buf)))
			p.end = copy(grown, p.buf[p.start:p.end])
			p.start = 0
			p.buf = grown
		}
		n, err := p.r.Read(p.buf[p.end:])
		p.end += n
		if err != nil {
			p.err = err
		}
	}
	return nil
}

// top reads until the buffer holds n bytes (at most its size) or the
// stream ends or fails, keeping the error for fill to report.
func (p *pcapReader) top(n int) {
	n = min(n, len(p.buf))
	for p.end < n && p.err == nil {
		m, err := p.r.Read(p.buf[p.end:])
		p.end += m
		if err != nil {
			p.err = err
		}
	}
}
