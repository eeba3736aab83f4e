package capture

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// OpenFilesPcapgo is OpenFiles with pcapgo's Reader for classic pcap
// instead of pcapReader: the oracle the fast reader is compared with, and
// the baseline of the benchmark.
func OpenFilesPcapgo(paths []string) (*FileSource, error) {
	return openFiles(paths, openOptions{newPcap: newPcapgoReader})
}

// OpenBytes opens in-memory captures, named "input0", "input1"... With
// usePcapgo, classic pcap is read by pcapgo's Reader. bufSize, when not 0,
// overrides the read buffer size, so that small buffers make records
// straddle buffer boundaries.
func OpenBytes(files [][]byte, usePcapgo bool, bufSize int) (*FileSource, error) {
	return OpenBytesDedup(files, usePcapgo, bufSize, 0)
}

// OpenBytesDedup is OpenBytes dropping copies across inputs within window
// (FileOptions.DedupWindow).
func OpenBytesDedup(files [][]byte, usePcapgo bool, bufSize int, window time.Duration) (*FileSource, error) {
	opt := openOptions{bufferSize: bufSize}
	if usePcapgo {
		opt.newPcap = newPcapgoReader
	}
	if len(files) == 0 {
		return nil, ErrNoInputs
	}
	if opt.bufferSize == 0 {
		opt.bufferSize = readBufferSize(len(files))
	}
	s := &FileSource{}
	for i, data := range files {
		name := fmt.Sprintf("input%d", i)
		in, err := newInput(i, name, io.NopCloser(bytes.NewReader(data)), int64(len(data)), opt.bufferSize, &s.done, opt)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.inputs = append(s.inputs, in)
		s.total += int64(len(data))
	}
	s.setDedup(window)
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenReaders is OpenBytes for streams: a test reader can fail the way a
// disk does.
func OpenReaders(streams []io.Reader, bufSize int) (*FileSource, error) {
	s := &FileSource{}
	for i, r := range streams {
		in, err := newInput(i, fmt.Sprintf("input%d", i), io.NopCloser(r), 0, bufSize, &s.done, openOptions{})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.inputs = append(s.inputs, in)
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// pcapgoReader reads classic pcap with pcapgo.Reader, made as lenient as
// libpcap in one point: a record whose captured length exceeds its
// original length is read, not an error.
type pcapgoReader struct {
	r  *pcapgo.Reader
	br *bufio.Reader // the stream pcapgo reads from
}

func newPcapgoReader(stream io.Reader, bufSize int) (recordReader, error) {
	// pcapgo.NewReader reads from a *bufio.Reader of at least 4 KiB as it
	// is, so br is where its next record starts.
	br := bufio.NewReaderSize(stream, max(bufSize, 4096))
	r, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, err
	}
	return &pcapgoReader{r: r, br: br}, nil
}

func (g *pcapgoReader) next(rec *record) error {
	data, ci, err := g.r.ZeroCopyReadPacketData()
	if err != nil && ci.CaptureLength > ci.Length && ci.CaptureLength <= max(int(g.r.Snaplen()), pcapMaxCaplen) {
		// pcapgo refused the record after its header: read its data,
		// growing the buffer only with the bytes that are there.
		var buf bytes.Buffer
		if _, err = io.CopyN(&buf, g.br, int64(ci.CaptureLength)); err != nil {
			return io.ErrUnexpectedEOF
		}
		data = buf.Bytes()
	}
	if err != nil {
		// pcapgo returns a bare io.EOF when a record header is complete
		// but not one byte of its data follows: that is a cut file.
		if err == io.EOF && ci.CaptureLength > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	rec.data, rec.ci, rec.linkType = data, ci, g.r.LinkType()
	rec.setTimeKey()
	return nil
}

func (g *pcapgoReader) describe(info *InputInfo) {
	info.LinkTypes = append(info.LinkTypes[:0], g.r.LinkType())
	info.Snaplen = g.r.Snaplen()
}

// SetTcpdumpDirs replaces the directories searched for tcpdump beyond
// PATH for the test's duration.
func SetTcpdumpDirs(t testing.TB, dirs []string) {
	old := tcpdumpDirs
	tcpdumpDirs = dirs
	t.Cleanup(func() { tcpdumpDirs = old })
}

// AndPrograms is andPrograms, for tests.
var AndPrograms = andPrograms

// Size is the bytes the writer counts in its current file, what rotation
// goes by.
func (w *PcapngWriter) Size() int64 { return w.size }
