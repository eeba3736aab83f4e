package frame_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// sharedPcaps is where the real captures of tcpdump's test suite live, next
// to the checkout (../shared/pcaps, see its README).
func sharedPcaps(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "pcaps", "tcpdump-tests"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/pcaps not present: real-capture tests skipped")
	}
	return dir
}

type record struct {
	data    []byte
	wireLen int
	link    layers.LinkType
}

// readCapture returns the frames of a pcap or pcapng file in the shared
// corpus. Reading files is the test's business, not the decoder's.
func readCapture(t testing.TB, name string) []record {
	t.Helper()
	path := filepath.Join(sharedPcaps(t), name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out []record
	if magic == [4]byte{0x0a, 0x0d, 0x0d, 0x0a} {
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, record{data, ci.Length, r.LinkType()})
		}
	}
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, record{data, ci.Length, r.LinkType()})
	}
}
