package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WriterConfig configures a PcapngWriter.
type WriterConfig struct {
	// Path is the first file: NAME.pcapng (or any name). Rotated files
	// are NAME.1.pcapng, NAME.2.pcapng, ... next to it.
	Path string
	// MaxSize starts a new file once the current one holds about this many
	// bytes; 0 never rotates.
	MaxSize int64
	// MaxFiles keeps at most this many files, removing the oldest rotated
	// one (never the first, which holds the start of the story); 0 keeps
	// them all.
	MaxFiles int
	// Interface, Filter and Snaplen describe the capture in each file's
	// interface block, where Wireshark shows them.
	Interface string
	Filter    string
	Snaplen   int
	// Comment goes into each file's section header.
	Comment string
}

// PcapngWriter writes frames to pcapng files that Wireshark and tshark
// open, each frame with its nlbprobe frame number as the packet ID
// (frame.packet_id in Wireshark) and comments (frame.comment),
// rotating to a new file by size. It buffers: Flush makes what was written
// readable, Close finishes the files. It is not safe for concurrent use.
type PcapngWriter struct {
	cfg   WriterConfig
	stem  string // path without the extension
	ext   string
	f     *os.File
	w     *pcapgo.NgWriter
	size  int64 // bytes in the current file, counting what is buffered
	index int   // 0 for the first file, n for NAME.n.pcapng
	files []string
	// Frames counts the frames written, over all files.
	frames  uint64
	started time.Time
	// comments is Write's buffer for the frame's comments.
	comments []string
}

// CreateWriter creates the first file of cfg.Path, replacing one that is
// there.
func CreateWriter(cfg WriterConfig) (*PcapngWriter, error) {
	if cfg.Path == "" {
		return nil, errors.New("capture: pcapng writer: no file name")
	}
	ext := filepath.Ext(cfg.Path)
	w := &PcapngWriter{cfg: cfg, stem: strings.TrimSuffix(cfg.Path, ext), ext: ext, started: time.Now()}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// name returns the path of file index i.
func (w *PcapngWriter) name(i int) string {
	if i == 0 {
		return w.cfg.Path
	}
	return fmt.Sprintf("%s.%d%s", w.stem, i, w.ext)
}

func (w *PcapngWriter) open() error {
	path := w.name(w.index)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("capture: create %s: %w", path, err)
	}
	counter := &countingWriter{f: f}
	intf := pcapgo.NgInterface{
		Name: w.cfg.Interface, Filter: w.cfg.Filter, OS: runtime.GOOS,
		LinkType: layers.LinkTypeEthernet, SnapLength: uint32(max(w.cfg.Snaplen, 0)),
		TimestampResolution: 9,
	}
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "nlbprobe", Comment: w.cfg.Comment,
	}}
	ng, err := pcapgo.NewNgWriterInterface(counter, intf, opts)
	if err == nil {
		err = ng.Flush()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("capture: write the pcapng header of %s: %w", path, err)
	}
	w.f, w.w, w.size = f, ng, counter.n
	w.files = append(w.files, path)
	return nil
}

// maxCommentBytes bounds one comment: a pcapng option's length is 16
// bits, and pcapgo writes a longer value whole under a wrapped length,
// which corrupts the file.
const maxCommentBytes = 4096

// Write adds one frame: ci's Timestamp and Length, data as captured, frame
// its nlbprobe frame number (0 for none), and comments, each an opt_comment
// option of the frame's Enhanced Packet Block (empty ones are left out,
// longer than maxCommentBytes cut). Wireshark shows every comment with the
// frame, and its display filter frame.comment matches any of them (tshark
// 4.0 -Y 'frame.comment contains "X"'); -T fields -e frame.comment lists
// them separated by commas.
func (w *PcapngWriter) Write(ci gopacket.CaptureInfo, data []byte, frame uint64, comments ...string) error {
	if w.w == nil {
		return errors.New("capture: pcapng writer is closed")
	}
	if w.cfg.MaxSize > 0 && w.size >= w.cfg.MaxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	ci.InterfaceIndex = 0
	ci.CaptureLength = len(data)
	ci.Length = max(ci.Length, len(data))
	ci.AncillaryData = nil
	var opts pcapgo.NgPacketOptions
	optLen := 0
	if frame != 0 {
		opts.PacketID = &frame
		optLen += 4 + 8
	}
	// The comments go through a slice the writer keeps, so that a frame
	// without one costs no allocation here.
	w.comments = w.comments[:0]
	for _, c := range comments {
		if c == "" {
			continue
		}
		if len(c) > maxCommentBytes {
			c = strings.ToValidUTF8(c[:maxCommentBytes], "")
		}
		w.comments = append(w.comments, c)
		optLen += 4 + (len(c)+3)&^3
	}
	if len(w.comments) > 0 {
		opts.Comments = w.comments
	}
	if optLen > 0 {
		optLen += 4 // opt_endofopt
	}
	if err := w.w.WritePacketWithOptions(ci, data, opts); err != nil {
		return fmt.Errorf("capture: write %s: %w", w.name(w.index), err)
	}
	w.size += int64(28 + (len(data)+3)&^3 + optLen + 4)
	w.frames++
	return nil
}

// rotate finishes the current file and starts the next, removing the
// oldest rotated file beyond MaxFiles.
func (w *PcapngWriter) rotate() error {
	if err := w.finish(nil); err != nil {
		return err
	}
	w.index++
	if err := w.open(); err != nil {
		return err
	}
	if w.cfg.MaxFiles > 1 && len(w.files) > w.cfg.MaxFiles {
		// Keep the first file: it holds the frames that started it all.
		old := w.files[1]
		w.files = append(w.files[:1], w.files[2:]...)
		if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("capture: remove old %s: %w", old, err)
		}
	}
	return nil
}

// Flush writes out what is buffered, so the files read whole in Wireshark
// while the capture goes on.
func (w *PcapngWriter) Flush() error {
	if w.w == nil {
		return nil
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("capture: write %s: %w", w.name(w.index), err)
	}
	return nil
}

// finish writes the statistics block (when stats is not nil), flushes and
// closes the current file.
func (w *PcapngWriter) finish(stats *LiveStats) error {
	var err error
	if stats != nil {
		err = w.w.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{
			LastUpdate: time.Now(), StartTime: w.started, EndTime: time.Now(),
			PacketsReceived: stats.Received, PacketsDropped: stats.Dropped,
		})
	}
	if err == nil {
		err = w.w.Flush()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.w, w.f = nil, nil
	if err != nil {
		return fmt.Errorf("capture: finish %s: %w", w.name(w.index), err)
	}
	return nil
}

// Close finishes the last file. stats, when not nil, are written as the
// capture's interface statistics (Wireshark's Capture File Properties show
// the kernel's received and dropped counts).
func (w *PcapngWriter) Close(stats *LiveStats) error {
	if w.w == nil {
		return nil
	}
	return w.finish(stats)
}

// Files returns the files written and still there, oldest first.
func (w *PcapngWriter) Files() []string { return append([]string(nil), w.files...) }

// Frames returns the number of frames written over all files.
func (w *PcapngWriter) Frames() uint64 { return w.frames }

// countingWriter counts the bytes written to a file.
type countingWriter struct {
	f *os.File
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	c.n += int64(n)
	return n, err
}
