package capture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// LiveConfig configures a live capture (OpenLive).
type LiveConfig struct {
	// Interface is the name of the interface to capture on.
	Interface string
	// Snaplen is how many bytes of each frame to keep; 0 keeps all
	// (DefaultSnaplen). It is applied by the kernel filter.
	Snaplen int
	// All attaches no pre-filter: every frame reaches nlbprobe. Without
	// it, PreFilter's program passes only what nlbprobe analyzes.
	All bool
	// FilterExpr is a capture filter (pcap-filter(7)) that frames must
	// pass too: compiled by CompileLiveFilter for this interface, as
	// tcpdump -i compiles it, and run by the kernel before the pre-filter.
	FilterExpr string
	// RingSize is the size of the kernel ring in bytes; 0 is
	// DefaultRingSize. A bigger ring absorbs longer bursts.
	RingSize int
	// PollTimeout bounds how long Next waits for a frame before it
	// returns ErrIdle; 0 is DefaultPollTimeout.
	PollTimeout time.Duration
	// NoPromiscuous leaves the interface out of promiscuous mode: only
	// frames addressed to it (and broadcast/multicast it accepts) arrive.
	NoPromiscuous bool
}

// Ring and poll defaults of a live capture.
const (
	// DefaultRingSize is 64 MiB: about 40,000 full-size frames, or a
	// second and a half of a saturated gigabit link.
	DefaultRingSize = 64 << 20
	// MinRingSize is the smallest ring OpenLive accepts.
	MinRingSize = 2 << 20
	// ringBlockSize is the TPACKET_V3 block: it must hold the largest
	// frame the snaplen lets through (256 KiB) plus headers.
	ringBlockSize = 1 << 20
	// DefaultPollTimeout is how long Next waits before ErrIdle, short
	// enough that a quiet port still notices Ctrl-C and silences at once.
	DefaultPollTimeout = 100 * time.Millisecond
	// blockTimeout is how long the kernel keeps a partly filled block
	// before handing it over: the latency of a frame on a quiet port.
	blockTimeout = 20 * time.Millisecond
)

// LiveStats are the kernel's counters of a live capture since it opened.
type LiveStats struct {
	// Received counts the frames that passed the filter, dropped ones
	// included (tcpdump's "received by filter").
	Received uint64
	// Dropped counts frames the kernel dropped because the ring was full
	// (tcpdump's "dropped by kernel").
	Dropped uint64
	// Freezes counts the times the ring filled up and froze.
	Freezes uint64
}

// InterfaceInfo describes the interface a live capture runs on, as it was
// when the capture opened.
type InterfaceInfo struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	MTU   int
	// Promiscuity is the interface's promiscuity count before the capture
	// (0: not promiscuous), to restore and to check against afterwards.
	Promiscuity int
	// NoCarrier is set when the interface is up but has no link (a cable
	// out, a span session not configured): no frame will arrive until it
	// has.
	NoCarrier bool
	// OperState is the kernel's operational state ("up", "down",
	// "unknown"...).
	OperState string
	// Up says the interface is administratively up; Loopback that it is
	// a loopback device; Type is the kernel's link type ("device",
	// "veth", "bridge", "vlan"...). Set by Interfaces.
	Up, Loopback bool
	Type         string
}

// AnyInterface is the name tcpdump gives the pseudo-interface that
// captures on all of them. OpenLive refuses it (ErrAnyInterface).
const AnyInterface = "any"

// ErrAnyInterface says why OpenLive refuses the "any" pseudo-interface.
var ErrAnyInterface = errors.New("capture: -i any is not supported: Linux's \"any\" capture gives cooked headers without the " +
	"destination MAC, on which nlbprobe's flooding and NLB mode verdicts rest, and sees a frame that crosses a bridge or a veth " +
	"once on each interface, doubling heartbeat and flood rates; capture on the span or access port itself " +
	"(nlbprobe watch -D lists them), and run one watch per port to watch several")

// Errors of OpenLive and Next. Each is wrapped with the details, so test
// with errors.Is.
var (
	// ErrIdle is returned by Next when no frame arrived within the poll
	// timeout: the capture is fine, the port is quiet.
	ErrIdle = errors.New("capture: no frame within the poll timeout")
	// ErrNoSuchInterface: the interface named does not exist; the error
	// is an *UnknownInterfaceError that lists those that do.
	ErrNoSuchInterface = errors.New("capture: no such interface")
	// ErrInterfaceDown: the interface is administratively down.
	ErrInterfaceDown = errors.New("capture: interface is down")
	// ErrNeedPrivilege: the process lacks CAP_NET_RAW (for the socket) or
	// CAP_NET_ADMIN (for promiscuous mode). The underlying errno stays
	// reachable: errors.Is(err, os.ErrPermission) holds too.
	ErrNeedPrivilege = errors.New("capture: not permitted")
)

// errClosed is what Next returns after Close.
var errClosed = fmt.Errorf("capture: live capture closed: %w", io.EOF)

// CapturePrivilegeHint says how to give nlbprobe what live capture needs.
const CapturePrivilegeHint = "run as root or `sudo setcap cap_net_raw,cap_net_admin+ep ./nlbprobe`"

// UnknownInterfaceError is returned by OpenLive for an interface that does
// not exist. It matches ErrNoSuchInterface.
type UnknownInterfaceError struct {
	Name string
	// Available lists the interfaces there are, in index order.
	Available []string
}

func (e *UnknownInterfaceError) Error() string {
	if len(e.Available) == 0 {
		return fmt.Sprintf("capture: no interface %q (and none found)", e.Name)
	}
	return fmt.Sprintf("capture: no interface %q; there are: %s", e.Name, strings.Join(e.Available, ", "))
}

// Is makes errors.Is(err, ErrNoSuchInterface) hold.
func (e *UnknownInterfaceError) Is(target error) bool { return target == ErrNoSuchInterface }

// privilegeError is a permission failure of a capture step, naming the
// capability it needs. It matches ErrNeedPrivilege and unwraps to the
// errno (so os.ErrPermission matches too).
type privilegeError struct {
	step, capability string
	err              error
}

func (e *privilegeError) Error() string {
	return fmt.Sprintf("capture: %s: %v: needs %s: %s", e.step, e.err, e.capability, CapturePrivilegeHint)
}

func (e *privilegeError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrNeedPrivilege) hold.
func (e *privilegeError) Is(target error) bool { return target == ErrNeedPrivilege }

// ringGeometry returns the number of blocks of ringBlockSize for a ring of
// size bytes.
func ringGeometry(size int) (blocks int, err error) {
	if size == 0 {
		size = DefaultRingSize
	}
	if size < MinRingSize {
		return 0, fmt.Errorf("capture: ring size %d bytes: want at least %d", size, MinRingSize)
	}
	return size / ringBlockSize, nil
}
