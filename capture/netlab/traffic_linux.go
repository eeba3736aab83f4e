//go:build linux

package netlab

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/fixtures"
)

// batch is the most frames one sendmmsg call sends.
const batch = 64

// mmsghdr is struct mmsghdr of sendmmsg(2), which x/sys/unix does not wrap.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// packetSender sends frames out of one interface through an AF_PACKET
// socket bound with protocol 0, so it receives nothing.
type packetSender struct {
	fd   int
	msgs [batch]mmsghdr
	iovs [batch]unix.Iovec
}

func newPacketSender(iface string) (*packetSender, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &packetSender{fd: fd}, nil
}

// send sends frames (at most batch) and returns how many the kernel took.
func (s *packetSender) send(frames [][]byte) (int, error) {
	for i, f := range frames {
		s.iovs[i].Base = &f[0]
		s.iovs[i].SetLen(len(f))
		s.msgs[i].hdr = unix.Msghdr{Iov: &s.iovs[i], Iovlen: 1}
	}
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msgs[0])), uintptr(len(frames)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func (s *packetSender) close() { unix.Close(s.fd) }

// randomARP makes gratuitous ARP announcements from random stations.
type randomARP struct {
	rng   *rand.Rand
	tmpl  []byte
	bufs  [batch][]byte
	index int
}

func newRandomARP(seed uint64) *randomARP {
	mac := addr.MAC{0x02, 0, 0, 0, 0, 1}
	ip := netip.MustParseAddr("10.0.0.1")
	g := &randomARP{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		tmpl: fixtures.GratuitousARP(mac, ip).Frame(mac, addr.Broadcast)}
	for i := range g.bufs {
		g.bufs[i] = append([]byte(nil), g.tmpl...)
	}
	return g
}

// next fills the next buffer with a new station: Ethernet source and ARP
// sender MAC (a locally administered unicast MAC), sender and target IP.
func (g *randomARP) next() []byte {
	b := g.bufs[g.index]
	g.index = (g.index + 1) % batch
	r := g.rng.Uint64()
	var mac [6]byte
	binary.BigEndian.PutUint32(mac[2:], uint32(r))
	mac[0], mac[1] = 0x02, byte(r>>32)
	ip := [4]byte{10, byte(r >> 40), byte(r >> 48), byte(r >> 56)}
	copy(b[6:12], mac[:])
	copy(b[22:28], mac[:]) // ARP sender MAC
	copy(b[28:32], ip[:])  // sender IP
	copy(b[38:42], ip[:])  // target IP: an announcement
	return b
}

func sendStream(ctx context.Context, iface string, s Stream) StreamResult {
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-ctx.Done():
			return StreamResult{}
		}
	}
	if s.UDP != "" {
		return sendUDP(ctx, s)
	}
	var res StreamResult
	ps, err := newPacketSender(iface)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer ps.close()
	var gen *randomARP
	if s.RandomARP {
		gen = newRandomARP(s.Seed)
	} else if len(s.Frames) == 0 {
		res.Err = "no frames to send"
		return res
	}
	p := pacer{rate: s.Rate}
	var out [batch][]byte
	next := 0
	for s.Count == 0 || res.Sent < uint64(s.Count) {
		n := batch
		if s.Count > 0 {
			n = min(n, s.Count-int(res.Sent))
		}
		if ctx.Err() != nil {
			break
		}
		if n = p.allow(ctx, n); n == 0 {
			break
		}
		for i := 0; i < n; i++ {
			if gen != nil {
				out[i] = gen.next()
			} else {
				out[i] = s.Frames[(next+i)%len(s.Frames)]
			}
		}
		sent, err := ps.send(out[:n])
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
			// The receiver's backlog is full: let it drain, then
			// send the same frames again (a random ARP is just
			// regenerated).
			res.Retries++
			time.Sleep(50 * time.Microsecond)
			continue
		}
		if err != nil {
			res.Err = err.Error()
			return res
		}
		now := time.Now()
		if res.Sent == 0 && sent > 0 {
			res.First = now
		}
		if sent > 0 {
			res.Last = now
		}
		res.Sent += uint64(sent)
		p.sent += uint64(sent)
		next += sent
	}
	return res
}
