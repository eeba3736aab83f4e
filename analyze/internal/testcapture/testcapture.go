// Package testcapture reads capture files for the analyze packages' tests,
// which must not read files themselves outside tests: analyze is pure, and
// only its tests use this package.
package testcapture

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Record is one frame of a capture file.
type Record struct {
	Data     []byte
	WireLen  int
	Time     time.Time
	LinkType layers.LinkType
}

// ModuleRoot returns the repository root, found from this file's location.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// SharedPcaps returns ../shared/pcaps/tcpdump-tests next to the checkout, or
// skips the test when it is absent (a user's fresh clone).
func SharedPcaps(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(ModuleRoot(), "..", "shared", "pcaps", "tcpdump-tests"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/pcaps not present: real-capture tests skipped")
	}
	return dir
}

// Read returns the frames of a pcap or pcapng file up to the first error,
// and that error (nil at a clean end).
func Read(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var r interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	if magic == [4]byte{0x0a, 0x0d, 0x0d, 0x0a} {
		r, err = pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	} else {
		r, err = pcapgo.NewReader(f)
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			return out, endErr(err)
		}
		out = append(out, Record{data, ci.Length, ci.Timestamp, r.LinkType()})
	}
}

func endErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// MustRead is Read that fails the test on an error.
func MustRead(t testing.TB, path string) []Record {
	t.Helper()
	recs, err := Read(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return recs
}
