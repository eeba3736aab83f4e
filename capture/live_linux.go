//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Live captures frames from one interface through an AF_PACKET TPACKET_V3
// ring (gopacket's afpacket, no cgo), with the kernel pre-filter attached
// and the interface in promiscuous mode for as long as it is open. It is a
// Source; make one with OpenLive.
//
// Promiscuous mode is a PACKET_MR_PROMISC membership of the socket, not the
// interface flag: the kernel undoes it when the socket closes, also when
// nlbprobe is killed, so the interface is always left as it was.
//
// AF_PACKET strips 802.1Q tags into the ring's metadata; Live puts them
// back into the frame, so the analysis sees tagged frames as they were on
// the wire and keeps its state per VLAN.
//
// Next, Stats and Close must be called from one goroutine: Close unmaps the
// ring, which a concurrent Next would still read.
type Live struct {
	tp    *afpacket.TPacket
	info  InterfaceInfo
	frame uint64
	// early filters, in user space, the frames that reached the ring
	// before the kernel filter was attached (libpcap does the same): nil
	// once a frame newer than filterSince arrived.
	early       *bpf.VM
	filterSince time.Time
	// dropEarly drops the frames from before the filter was attached:
	// set when the filter cannot run in user space (libpcap's live
	// programs read the VLAN tag with kernel-only ancillary loads).
	dropEarly bool
	// snaplen is the most bytes of a frame Next returns: the kernel cuts
	// the frame before the VLAN tag is put back, which would make it 4
	// (or 8) bytes longer than -s said.
	snaplen int
	closed  bool
}

var _ Source = (*Live)(nil)

// OpenLive opens a live capture on cfg.Interface. It fails with an error
// matching ErrNoSuchInterface (an *UnknownInterfaceError listing the
// interfaces there are), ErrInterfaceDown, or ErrNeedPrivilege, each with
// a message that says what to do.
func OpenLive(cfg LiveConfig) (*Live, error) {
	if cfg.Interface == AnyInterface {
		if _, err := netlink.LinkByName(AnyInterface); err != nil {
			return nil, ErrAnyInterface
		}
	}
	info, err := inspectInterface(cfg.Interface)
	if err != nil {
		return nil, err
	}
	blocks, err := ringGeometry(cfg.RingSize)
	if err != nil {
		return nil, err
	}
	prog, err := liveProgram(cfg)
	if err != nil {
		return nil, err
	}
	poll := cfg.PollTimeout
	if poll <= 0 {
		poll = DefaultPollTimeout
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(cfg.Interface),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptBlockSize(ringBlockSize),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptBlockTimeout(blockTimeout),
		afpacket.OptPollTimeout(poll),
		afpacket.OptAddVLANHeader(true),
	)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, &privilegeError{step: "open an AF_PACKET socket on " + cfg.Interface, capability: "CAP_NET_RAW", err: err}
		}
		return nil, fmt.Errorf("capture: open an AF_PACKET ring on %s: %w", cfg.Interface, err)
	}
	snap, err := snapValue(cfg.Snaplen)
	if err != nil {
		tp.Close()
		return nil, err
	}
	l := &Live{tp: tp, info: info, snaplen: int(snap)}
	if len(prog) > 0 {
		if err := tp.SetBPF(prog); err != nil {
			tp.Close()
			return nil, fmt.Errorf("capture: attach the pre-filter on %s: %w", cfg.Interface, err)
		}
		l.filterSince = time.Now()
		ins, _ := bpf.Disassemble(prog)
		if l.early, err = bpf.NewVM(ins); err != nil {
			if cfg.FilterExpr == "" {
				tp.Close()
				return nil, fmt.Errorf("capture: pre-filter: %w", err)
			}
			l.early, l.dropEarly = nil, true
		}
	}
	if !cfg.NoPromiscuous {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			if errors.Is(err, os.ErrPermission) {
				return nil, &privilegeError{step: "put " + cfg.Interface + " in promiscuous mode", capability: "CAP_NET_ADMIN", err: err}
			}
			return nil, fmt.Errorf("capture: put %s in promiscuous mode: %w", cfg.Interface, err)
		}
	}
	return l, nil
}

// liveProgram is the socket filter for cfg: the user's capture filter
// (compiled for the interface) and the pre-filter (unless All), cut to
// the snaplen; nil when neither is wanted and the snaplen is the default.
func liveProgram(cfg LiveConfig) ([]bpf.RawInstruction, error) {
	var user []bpf.Instruction
	if cfg.FilterExpr != "" {
		var err error
		if user, err = CompileLiveFilter(cfg.FilterExpr, cfg.Interface, cfg.Snaplen); err != nil {
			return nil, err
		}
	}
	switch {
	case !cfg.All && user != nil:
		pre, err := PreFilter(cfg.Snaplen)
		if err != nil {
			return nil, err
		}
		ins, _ := bpf.Disassemble(pre)
		// The pre-filter first: it is short and rejects most of a busy
		// port.
		return andPrograms(ins, user, cfg.Snaplen)
	case !cfg.All:
		return PreFilter(cfg.Snaplen)
	case user != nil:
		return andPrograms(nil, user, cfg.Snaplen)
	case cfg.Snaplen != 0 && cfg.Snaplen != DefaultSnaplen:
		return SnapFilter(cfg.Snaplen)
	}
	return nil, nil
}

// inspectInterface checks that the interface exists and is up.
func inspectInterface(name string) (InterfaceInfo, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var lnf netlink.LinkNotFoundError
		if errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) {
			return InterfaceInfo{}, &UnknownInterfaceError{Name: name, Available: InterfaceNames()}
		}
		return InterfaceInfo{}, fmt.Errorf("capture: look up interface %s: %w", name, err)
	}
	a := link.Attrs()
	info := InterfaceInfo{Name: a.Name, Index: a.Index, MAC: a.HardwareAddr, MTU: a.MTU,
		Promiscuity: a.Promisc, OperState: a.OperState.String()}
	if a.Flags&net.FlagUp == 0 {
		return info, fmt.Errorf("%w: %s is administratively down: bring it up with `ip link set %s up`",
			ErrInterfaceDown, name, name)
	}
	info.NoCarrier = a.RawFlags&unix.IFF_LOWER_UP == 0 && a.OperState != netlink.OperUnknown
	return info, nil
}

// Interfaces lists the interfaces of this network namespace in index
// order, with their state and MTU (what watch -D prints, as tcpdump -D).
func Interfaces() ([]InterfaceInfo, error) {
	links, err := netlink.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("capture: list interfaces: %w", err)
	}
	out := make([]InterfaceInfo, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		out = append(out, InterfaceInfo{Name: a.Name, Index: a.Index, MAC: a.HardwareAddr, MTU: a.MTU,
			Promiscuity: a.Promisc, OperState: a.OperState.String(), Up: a.Flags&net.FlagUp != 0,
			Loopback: a.Flags&net.FlagLoopback != 0, Type: l.Type(),
			NoCarrier: a.RawFlags&unix.IFF_LOWER_UP == 0 && a.OperState != netlink.OperUnknown})
	}
	return out, nil
}

// InterfaceNames lists the interfaces of this network namespace in index
// order, for messages.
func InterfaceNames() []string {
	links, err := netlink.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		ifs, err := net.Interfaces()
		if err != nil {
			return nil
		}
		names := make([]string, len(ifs))
		for i, f := range ifs {
			names[i] = f.Name
		}
		return names
	}
	names := make([]string, 0, len(links))
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	return names
}

// Info describes the interface as it was when the capture opened.
func (l *Live) Info() InterfaceInfo { return l.info }

// Next fills p with the next frame: p.Data is valid until the next call.
// It returns ErrIdle when no frame arrived within the poll timeout, and
// io.EOF after Close.
func (l *Live) Next(p *Packet) error {
	for {
		if l.closed {
			return errClosed
		}
		data, ci, err := l.tp.ZeroCopyReadPacketData()
		switch {
		case errors.Is(err, afpacket.ErrTimeout):
			return ErrIdle
		case errors.Is(err, afpacket.ErrPoll):
			return l.pollError()
		case err != nil:
			return fmt.Errorf("capture: read from %s: %w", l.info.Name, err)
		}
		if l.dropEarly {
			if !ci.Timestamp.After(l.filterSince) {
				continue
			}
			l.dropEarly = false
		}
		if l.early != nil {
			if ci.Timestamp.After(l.filterSince) {
				l.early = nil
			} else {
				keep, err := l.early.Run(data)
				if err != nil || keep == 0 {
					continue
				}
				data = data[:min(keep, len(data))]
				ci.CaptureLength = len(data)
			}
		}
		if len(data) > l.snaplen {
			data = data[:l.snaplen]
			ci.CaptureLength = len(data)
		}
		// The tag is back in data; the ancillary copy would only be
		// kept alive by p.
		ci.AncillaryData = nil
		l.frame++
		p.Data, p.Info, p.LinkType, p.Frame, p.Input = data, ci, layers.LinkTypeEthernet, l.frame, 0
		return nil
	}
}

// pollError explains a poll error: the interface went down or away.
func (l *Live) pollError() error {
	link, err := netlink.LinkByIndex(l.info.Index)
	switch {
	case err != nil:
		return fmt.Errorf("capture: %s went away during the capture: %w", l.info.Name, err)
	case link.Attrs().Flags&net.FlagUp == 0:
		return fmt.Errorf("%w: %s went down during the capture", ErrInterfaceDown, l.info.Name)
	}
	return fmt.Errorf("capture: poll error on %s", l.info.Name)
}

// Stats returns the kernel's counters since the capture opened.
func (l *Live) Stats() (LiveStats, error) {
	if l.closed {
		return LiveStats{}, errClosed
	}
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("capture: read the ring counters of %s: %w", l.info.Name, err)
	}
	return LiveStats{Received: uint64(v3.Packets()), Dropped: uint64(v3.Drops()), Freezes: uint64(v3.QueueFreezes())}, nil
}

// Close ends the capture: the socket closes and the kernel drops its
// promiscuous-mode membership. Call it from the goroutine that calls Next.
func (l *Live) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	l.tp.Close()
	return nil
}
