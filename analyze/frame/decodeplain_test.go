package frame_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/analyze/frame"
	"github.com/nlbprobe/nlbprobe/analyze/internal/testcapture"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// plainChecker compares DecodePlain with Decode: DecodePlain must take
// exactly the frames Decode's plain fast path decodes, and give the same
// Frame.
type plainChecker struct {
	dec, ref *frame.Decoder
	plain    int
}

func newPlainChecker() *plainChecker {
	return &plainChecker{dec: frame.NewDecoder(), ref: frame.NewDecoder()}
}

func (c *plainChecker) check(t testing.TB, name string, lt layers.LinkType, data []byte, wireLen int) {
	t.Helper()
	got, ok := c.dec.DecodePlain(lt, data, wireLen)
	want := lt == layers.LinkTypeEthernet && c.ref.DecodedPlain(data, wireLen)
	if ok != want {
		t.Fatalf("%s (% x): DecodePlain %v, plain fast path %v", name, data[:min(len(data), 48)], ok, want)
	}
	if !ok {
		return
	}
	c.plain++
	if d := sameFrame(got, c.ref.Decode(lt, data, wireLen)); d != "" {
		t.Fatalf("%s (% x): DecodePlain and Decode differ: %s", name, data[:min(len(data), 48)], d)
	}
}

// TestDecodePlainIsDecode checks DecodePlain against Decode on the mixed
// capture and each of its frames cut short, and on the shared corpus.
func TestDecodePlainIsDecode(t *testing.T) {
	t.Run("mixed capture", func(t *testing.T) {
		var buf bytes.Buffer
		if err := fixtures.WriteMixed(&buf, 5000, 11); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "mixed.pcap")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		c := newPlainChecker()
		for i, r := range testcapture.MustRead(t, path) {
			name := "frame " + strconv.Itoa(i+1)
			c.check(t, name, r.LinkType, r.Data, r.WireLen)
			c.check(t, name+" as SLL", layers.LinkTypeLinuxSLL, r.Data, r.WireLen)
			for n := range len(r.Data) {
				c.check(t, name+" cut", r.LinkType, r.Data[:n], r.WireLen)
				c.check(t, name+" short", r.LinkType, r.Data[:n], n)
			}
		}
		if c.plain == 0 {
			t.Fatal("no frame took the plain path")
		}
	})
	t.Run("shared corpus", func(t *testing.T) {
		c := newPlainChecker()
		forEachCorpusFrame(t, func(name string, r record) { c.check(t, name, r.link, r.data, r.wireLen) })
		if c.plain < 1000 {
			t.Errorf("DecodePlain took only %d corpus frames", c.plain)
		}
	})
}

// FuzzDecodePlainIsDecode compares DecodePlain with Decode on arbitrary
// Ethernet frames, captured whole and cut by a snaplen.
func FuzzDecodePlainIsDecode(f *testing.F) {
	seedFrames(f)
	c := newPlainChecker()
	f.Fuzz(func(t *testing.T, data []byte) {
		c.check(t, "fuzzed", layers.LinkTypeEthernet, data, len(data))
		c.check(t, "fuzzed cut", layers.LinkTypeEthernet, data, len(data)+100)
	})
}
