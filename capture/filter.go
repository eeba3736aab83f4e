package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Capture filters: the expressions of pcap-filter(7) that tcpdump takes
// after its flags (`tcpdump -r F 'vlan 100'`), compiled to classic BPF by
// libpcap's own compiler, which tcpdump runs for us (`tcpdump -ddd`).
//
// Why tcpdump and not a Go library: the one pure-Go compiler the module
// proxy serves, github.com/packetcap/go-pcap/filter (untagged, last change
// May 2024), rejects `vlan 100`, `ether proto 0x886f`, `ether[0:2] = ...`
// and `ether multicast`, the expressions an NLB admin types first;
// go-pcap-filter (libpcap built to WebAssembly) is not served by the
// proxy; gopacket's pcap.CompileBPFFilter needs cgo and libpcap, which
// the static binary has not. libpcap's compiler is the definition of the
// language, so a program it compiled matches exactly the frames tcpdump
// matches. tcpdump is a package on every distribution nlbprobe runs on; a
// filter without it is an error that says so, and nlbprobe without a
// filter needs nothing.

// ErrNoFilterCompiler says tcpdump, which compiles capture filters, is not
// installed.
var ErrNoFilterCompiler = errors.New("capture: a capture filter needs tcpdump (libpcap's filter compiler): " +
	"install it (apt-get install tcpdump, dnf install tcpdump) or leave the filter out")

// FilterSyntaxError is a capture filter that libpcap refused.
type FilterSyntaxError struct {
	Expr string
	// Msg is libpcap's complaint, as tcpdump printed it.
	Msg string
}

func (e *FilterSyntaxError) Error() string {
	return fmt.Sprintf("capture: filter %q: %s", e.Expr, e.Msg)
}

// compileTimeout bounds one run of tcpdump -d.
const compileTimeout = 20 * time.Second

// tcpdumpDirs are where tcpdumpPath looks beyond PATH.
var tcpdumpDirs = []string{"/usr/bin", "/usr/sbin", "/usr/local/sbin", "/usr/local/bin"}

// tcpdumpPath returns tcpdump's path: from PATH, or the usual places,
// which a non-root PATH may lack (Debian puts it in /usr/bin, others in
// /usr/sbin).
func tcpdumpPath() (string, error) {
	if p, err := exec.LookPath("tcpdump"); err == nil {
		return p, nil
	}
	for _, dir := range tcpdumpDirs {
		p := filepath.Join(dir, "tcpdump")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNoFilterCompiler
}

// dltNames are libpcap's names of the link types nlbprobe reads, for
// tcpdump -y.
var dltNames = map[layers.LinkType]string{
	layers.LinkTypeEthernet:  "EN10MB",
	layers.LinkTypeLinuxSLL:  "LINUX_SLL",
	layers.LinkTypeLinuxSLL2: "LINUX_SLL2",
	layers.LinkTypeRaw:       "RAW",
	layers.LinkTypeNull:      "NULL",
}

// CompileFilter compiles expr for frames of link type lt as they are in a
// capture file (tags in place: libpcap's `vlan` keyword steps over them).
// Each returned program accepts (a non-zero return) exactly the frames
// `tcpdump -r FILE EXPR` prints.
func CompileFilter(expr string, lt layers.LinkType) ([]bpf.Instruction, error) {
	name, ok := dltNames[lt]
	if !ok {
		return nil, fmt.Errorf("capture: filter %q: link type %v: not one nlbprobe compiles filters for", expr, lt)
	}
	return runTcpdumpCompiler(expr, "-y", name)
}

// CompileLiveFilter compiles expr as tcpdump compiles it to capture on the
// interface iface: for the frames the kernel's socket filter sees, where
// the driver has taken the outer VLAN tag out of the frame (libpcap then
// reads it with the kernel's VLAN ancillary loads). So a program it
// returns accepts the frames `tcpdump -i IFACE EXPR` captures, and only
// runs in the kernel. tcpdump opens the interface to learn its link type,
// so this needs what a capture needs (CAP_NET_RAW); -p keeps it out of
// promiscuous mode.
func CompileLiveFilter(expr, iface string, snaplen int) ([]bpf.Instruction, error) {
	keep, err := snapValue(snaplen)
	if err != nil {
		return nil, err
	}
	return runTcpdumpCompiler(expr, "-p", "-i", iface, "-s", strconv.Itoa(int(keep)))
}

// runTcpdumpCompiler runs `tcpdump -ddd ARGS -- EXPR` and parses the
// program it prints: the count, then "code jt jf k" a line.
func runTcpdumpCompiler(expr string, args ...string) ([]bpf.Instruction, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &FilterSyntaxError{Expr: expr, Msg: "empty expression"}
	}
	tcpdump, err := tcpdumpPath()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tcpdump, append(append([]string{"-ddd"}, args...), "--", expr)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, fmt.Errorf("capture: filter %q: run %s: %w", expr, tcpdump, err)
		}
		// "tcpdump: can't parse filter expression: syntax error", "tcpdump:
		// no VLAN support for Linux cooked v1". Compiling for a link type
		// (-y) opens nothing, so every failure is the expression's; on an
		// interface, opening it may fail first.
		msg = strings.TrimPrefix(msg, "tcpdump: ")
		if !slices.Contains(args, "-i") || !openFailure(msg) {
			return nil, &FilterSyntaxError{Expr: expr, Msg: msg}
		}
		return nil, fmt.Errorf("capture: filter %q: tcpdump: %s", expr, msg)
	}
	return parseDDD(stdout.String())
}

// openFailure tells tcpdump's complaints about opening an interface from
// those about the expression.
func openFailure(msg string) bool {
	for _, s := range []string{"No such device", "no such device", "ermission", "not permitted", "socket", "is not up", "doesn't exist"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// parseDDD parses the decimal program of tcpdump -ddd.
func parseDDD(out string) ([]bpf.Instruction, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || n != len(lines)-1 || n == 0 {
		return nil, fmt.Errorf("capture: tcpdump -ddd printed no program: %q", out)
	}
	raw := make([]bpf.RawInstruction, n)
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			return nil, fmt.Errorf("capture: tcpdump -ddd line %d: %q", i+2, l)
		}
		var v [4]uint64
		for j, s := range f {
			if v[j], err = strconv.ParseUint(s, 10, 32); err != nil {
				return nil, fmt.Errorf("capture: tcpdump -ddd line %d: %q", i+2, l)
			}
		}
		if v[1] > 255 || v[2] > 255 || v[0] > 0xffff {
			return nil, fmt.Errorf("capture: tcpdump -ddd line %d: %q", i+2, l)
		}
		raw[i] = bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}
	}
	ins, _ := bpf.Disassemble(raw)
	return ins, nil
}

// Filter matches frames of a capture file against a capture-filter
// expression, with a program compiled for each link type as frames of it
// come (CompileFilter). It is not safe for concurrent use.
type Filter struct {
	// Expr is the expression as given.
	Expr string

	compile func(expr string, lt layers.LinkType) ([]bpf.Instruction, error)
	vms     map[layers.LinkType]*bpf.VM
	errs    map[layers.LinkType]error
	// lastType and lastVM are the link type of the last frame and its
	// program: captures hold one link type, so the map is rarely read.
	lastType layers.LinkType
	lastVM   *bpf.VM
	haveLast bool
}

// NewFilter compiles expr for each of linkTypes and returns a Filter; it
// fails when expr is no valid filter for the first of them (Ethernet if
// none is given), so a typo is found before a capture is read. Link types
// met later are compiled when their first frame comes.
func NewFilter(expr string, linkTypes ...layers.LinkType) (*Filter, error) {
	return newFilter(expr, CompileFilter, linkTypes)
}

func newFilter(expr string, compile func(string, layers.LinkType) ([]bpf.Instruction, error), linkTypes []layers.LinkType) (*Filter, error) {
	f := &Filter{Expr: expr, compile: compile, vms: map[layers.LinkType]*bpf.VM{}, errs: map[layers.LinkType]error{}}
	if len(linkTypes) == 0 {
		linkTypes = []layers.LinkType{layers.LinkTypeEthernet}
	}
	for i, lt := range linkTypes {
		if err := f.prepare(lt); err != nil && i == 0 {
			return nil, err
		}
	}
	return f, nil
}

// prepare compiles the program for lt, once.
func (f *Filter) prepare(lt layers.LinkType) error {
	if _, done := f.vms[lt]; done {
		return f.errs[lt]
	}
	ins, err := f.compile(f.Expr, lt)
	var vm *bpf.VM
	if err == nil {
		if vm, err = bpf.NewVM(ins); err != nil {
			err = fmt.Errorf("capture: filter %q for link type %v: %w", f.Expr, lt, err)
		}
	}
	f.vms[lt] = vm // nil: no frame of lt matches
	if err != nil {
		f.errs[lt] = err
	}
	return err
}

// Match reports whether the frame data, of link type lt, passes the
// filter. Frames of a link type the filter cannot be compiled for do not
// pass (Errors says which).
func (f *Filter) Match(data []byte, lt layers.LinkType) bool {
	if !f.haveLast || lt != f.lastType {
		_ = f.prepare(lt)
		f.lastType, f.lastVM, f.haveLast = lt, f.vms[lt], true
	}
	if f.lastVM == nil {
		return false
	}
	n, err := f.lastVM.Run(data)
	return err == nil && n > 0
}

// Errors returns why the filter could not be compiled for some link type
// whose frames were met: those frames did not pass.
func (f *Filter) Errors() []error {
	types := make([]layers.LinkType, 0, len(f.errs))
	for lt := range f.errs {
		types = append(types, lt)
	}
	slices.Sort(types)
	out := make([]error, len(types))
	for i, lt := range types {
		out[i] = f.errs[lt]
	}
	return out
}
