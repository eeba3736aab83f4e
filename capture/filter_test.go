package capture_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/nlbprobe/nlbprobe/capture"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// exprCases are the expressions the filter tests compare with tcpdump:
// the ones an NLB admin types (a VLAN, a MAC, the protocols nlbprobe
// analyses, a host), with negation, QinQ and byte-offset tests.
var exprCases = []string{
	"vlan 10",
	"vlan 20 and arp",
	"vlan and ether proto 0x886f",
	"vlan 100",
	"ether host 02:01:0a:00:00:64",
	"ether src 00:50:56:0a:00:05 or ether dst ff:ff:ff:ff:ff:ff",
	"arp or igmp",
	"host 10.0.0.5",
	"host 192.168.100.80",
	"not arp",
	"ether proto 0x886f",
	"ether[0:2] = 0x02bf or ether[0:2] = 0x03bf",
	"ether multicast and not ether broadcast",
	"vlan 10 or vlan 20",
	"icmp or (vlan and icmp)",
	"ip and not igmp",
}

// filterCaptures are fixtures and real captures of several link types.
func filterCaptures(t *testing.T) []string {
	root := filepath.Join("..", "fixtures", "captures")
	files := []string{
		filepath.Join(root, "two-vlans.pcap"),
		filepath.Join(root, "migration.pcap"),
		filepath.Join(root, "cooked-sll.pcap"),
		filepath.Join(root, "igmp-member-missing.pcap"),
		filepath.Join(root, "flooding-nonmember.pcap"),
		filepath.Join(root, "healthy-unicast.pcapng"),
		filepath.Join(root, "snaplen-truncated.pcap"),
	}
	if dir, err := sharedPcapsDir(); err == nil {
		for _, name := range []string{"802.1ad_QinQ.pcap", "IGMP_V2.pcap", "msnlb.pcap", "arp-oobr.pcap"} {
			if p := filepath.Join(dir, name); fileExists(p) {
				files = append(files, p)
			}
		}
	} else {
		t.Logf("real captures skipped: %v", err)
	}
	return files
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestFilterMatchesTcpdump checks that a FileSource with a filter returns
// exactly the frames `tcpdump -r F -w - EXPR` writes, with the frame
// numbers they have in F, through Next and through NextBatch.
func TestFilterMatchesTcpdump(t *testing.T) {
	netlab.RequireTool(t, "tcpdump")
	for _, file := range filterCaptures(t) {
		all := readFiltered(t, file, nil)
		for _, expr := range exprCases {
			t.Run(filepath.Base(file)+"/"+expr, func(t *testing.T) {
				want, refused := tcpdumpFrames(t, file, expr, all)
				f, err := capture.NewFilter(expr, linkTypesOf(all)...)
				var syntax *capture.FilterSyntaxError
				switch {
				case refused != "" && errors.As(err, &syntax) && syntax.Msg == refused:
					return // both refuse the expression for this link type
				case refused != "":
					t.Fatalf("tcpdump refused %q (%s), NewFilter: %v", expr, refused, err)
				case err != nil:
					t.Fatalf("NewFilter: %v", err)
				}
				got := readFiltered(t, file, f)
				if !slices.Equal(frameNumbers(got), want) {
					t.Errorf("Next: frames %v, tcpdump %v", frameNumbers(got), want)
				}
				f2, _ := capture.NewFilter(expr, linkTypesOf(all)...)
				if batched := readBatches(t, file, f2); !slices.Equal(batched, want) {
					t.Errorf("NextBatch: frames %v, tcpdump %v", batched, want)
				}
			})
		}
	}
}

type frame struct {
	n    uint64
	ns   int64
	lt   layers.LinkType
	data []byte
}

func frameNumbers(fs []frame) []uint64 {
	out := []uint64{}
	for _, f := range fs {
		out = append(out, f.n)
	}
	return out
}

func linkTypesOf(fs []frame) []layers.LinkType {
	var out []layers.LinkType
	for _, f := range fs {
		if !slices.Contains(out, f.lt) {
			out = append(out, f.lt)
		}
	}
	return out
}

func readFiltered(t *testing.T, path string, f *capture.Filter) []frame {
	t.Helper()
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.SetFilter(f)
	var out []frame
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		out = append(out, frame{n: p.Frame, ns: p.Info.Timestamp.UnixNano(), lt: p.LinkType, data: bytes.Clone(p.Data)})
	}
}

func readBatches(t *testing.T, path string, f *capture.Filter) []uint64 {
	t.Helper()
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.SetFilter(f)
	out := []uint64{}
	var b capture.Batch
	for {
		if err := src.NextBatch(&b); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		for i := range b.Len() {
			out = append(out, b.Frame(i))
		}
	}
}

// tcpdumpFrames runs tcpdump -r file -w out expr and finds the frames it
// wrote in the file, in order (the output is a subsequence of the file),
// by time stamp and bytes: their numbers are the frames tcpdump matched.
// When tcpdump refuses the expression, refused is its complaint.
func tcpdumpFrames(t *testing.T, file, expr string, all []frame) (frames []uint64, refused string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.pcap")
	cmd := exec.Command("tcpdump", "-r", file, "-w", out, expr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		last := strings.TrimPrefix(lines[len(lines)-1], "tcpdump: ")
		if last == "" {
			t.Fatalf("tcpdump -r %s -w - %q: %v", file, expr, err)
		}
		return nil, last
	}
	var matched []frame
	if fi, err := os.Stat(out); err == nil && fi.Size() > 24 {
		matched = readFiltered(t, out, nil)
	}
	want := []uint64{}
	i := 0
	for _, m := range matched {
		for i < len(all) && (all[i].ns != m.ns || !bytes.Equal(all[i].data, m.data)) {
			i++
		}
		if i == len(all) {
			t.Fatalf("tcpdump wrote a frame (time %d) not found in order in %s", m.ns, file)
		}
		want = append(want, all[i].n)
		i++
	}
	return want, ""
}

// TestFilterErrors checks that a bad expression is a FilterSyntaxError
// with libpcap's complaint, and that a link type without a compiler name
// is refused.
func TestFilterErrors(t *testing.T) {
	netlab.RequireTool(t, "tcpdump")
	_, err := capture.NewFilter("vlan 100 and", layers.LinkTypeEthernet)
	var syntax *capture.FilterSyntaxError
	if !errors.As(err, &syntax) || syntax.Msg == "" {
		t.Errorf("NewFilter(bad): %v, want a FilterSyntaxError", err)
	}
	_, err = capture.NewFilter("missing.pcap", layers.LinkTypeEthernet)
	if !errors.As(err, &syntax) {
		t.Errorf("NewFilter(a file name): %v, want a FilterSyntaxError", err)
	}
	if _, err := capture.CompileFilter("arp", layers.LinkType(147)); err == nil {
		t.Error("CompileFilter for link type 147: no error")
	}
}

// TestFilterWithoutTcpdump checks the message when tcpdump is missing.
func TestFilterWithoutTcpdump(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	capture.SetTcpdumpDirs(t, nil)
	_, err := capture.NewFilter("arp", layers.LinkTypeEthernet)
	if !errors.Is(err, capture.ErrNoFilterCompiler) {
		t.Errorf("err = %v, want ErrNoFilterCompiler", err)
	}
}

// TestFilterMatchAllocs checks that matching a frame allocates nothing:
// the filter runs on every frame of a capture.
func TestFilterMatchAllocs(t *testing.T) {
	netlab.RequireTool(t, "tcpdump")
	all := readFiltered(t, filepath.Join("..", "fixtures", "captures", "two-vlans.pcap"), nil)
	f, err := capture.NewFilter("vlan 10 and (arp or ether proto 0x886f)", layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		fr := &all[i%len(all)]
		f.Match(fr.data, fr.lt)
		i++
	}); n != 0 {
		t.Errorf("%.1f allocations per frame, want 0", n)
	}
}

// BenchmarkFilterMatch measures the filter's cost per frame.
func BenchmarkFilterMatch(b *testing.B) {
	all := readFiltered(&testing.T{}, filepath.Join("..", "fixtures", "captures", "two-vlans.pcap"), nil)
	for _, expr := range []string{"vlan 10 and (arp or ether proto 0x886f)", "host 10.0.0.5"} {
		f, err := capture.NewFilter(expr, layers.LinkTypeEthernet)
		if err != nil {
			b.Skip(err)
		}
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				fr := &all[i%len(all)]
				f.Match(fr.data, fr.lt)
			}
		})
	}
}

// TestAndPrograms checks that the pre-filter combined with a capture
// filter accepts exactly the frames both accept, on every frame of the
// fixtures, and cuts them to the snaplen.
func TestAndPrograms(t *testing.T) {
	netlab.RequireTool(t, "tcpdump")
	pre, err := capture.PreFilter(128)
	if err != nil {
		t.Fatal(err)
	}
	preIns, _ := bpf.Disassemble(pre)
	preVM, _ := bpf.NewVM(preIns)
	var frames []frame
	for _, name := range []string{"two-vlans.pcap", "migration.pcap", "flooding-nonmember.pcap", "igmp-member-missing.pcap"} {
		frames = append(frames, readFiltered(t, filepath.Join("..", "fixtures", "captures", name), nil)...)
	}
	for _, expr := range []string{"vlan 10", "not arp", "host 10.30.0.100", "ether multicast"} {
		user, err := capture.CompileFilter(expr, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		userVM, _ := bpf.NewVM(user)
		raw, err := capture.AndPrograms(preIns, user, 128)
		if err != nil {
			t.Fatal(err)
		}
		ins, _ := bpf.Disassemble(raw)
		both, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatal(err)
		}
		passed := 0
		for _, f := range frames {
			a, _ := preVM.Run(f.data)
			b, _ := userVM.Run(f.data)
			got, _ := both.Run(f.data)
			want := 0
			if a > 0 && b > 0 {
				want = 128
				passed++
			}
			if got != want {
				t.Errorf("%q, frame %d: combined returns %d, want %d (pre-filter %d, filter %d)", expr, f.n, got, want, a, b)
			}
		}
		if passed == 0 {
			t.Errorf("%q: no frame passes both: the test shows nothing", expr)
		}
	}
}
