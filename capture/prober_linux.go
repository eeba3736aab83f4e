//go:build linux

package capture

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
)

// Prober sends DF-bit ICMP echo requests of exact sizes and hands back what
// answered each one. It keeps one raw socket per address family, opened on
// first use and shared by every Session; a reader goroutine per socket
// matches what arrives to sessions by ICMP identifier, sequence number and
// address. It is safe for concurrent use; Close ends it.
//
// IPv4 probes go out with IP_PMTUDISC_PROBE: the DF bit is set and the
// kernel's cached path MTU for the target is ignored, so a probe larger than
// an earlier "fragmentation needed" still leaves (only the interface MTU
// stops it, with EMSGSIZE). IPv6 probes use IPV6_PMTUDISC_PROBE and
// IPV6_DONTFRAG: routers never fragment IPv6, and this keeps the sending
// host from doing so.
type Prober struct {
	limiter *rate.Limiter

	mu       sync.Mutex
	conns    [2]*icmpConn // [0] IPv4, [1] IPv6
	sessions map[sessionKey]*Session
	nextID   uint16
	closed   bool
	wg       sync.WaitGroup
}

type sessionKey struct {
	v6 bool
	id uint16
}

type icmpConn struct {
	v6 bool
	c  *net.IPConn
}

// NewProber returns a Prober paced by cfg. It opens no socket yet.
func NewProber(cfg ProberConfig) *Prober {
	r := cfg.Rate
	if r <= 0 {
		r = DefaultRate
	}
	var seed [2]byte
	_, _ = rand.Read(seed[:]) // identifiers only need to differ from other pingers'
	return &Prober{
		limiter:  rate.NewLimiter(rate.Limit(r), max(1, int(r/10))),
		sessions: make(map[sessionKey]*Session),
		nextID:   binary.BigEndian.Uint16(seed[:]),
	}
}

// conn returns the family's socket, opening it on first use. p.mu is held.
func (p *Prober) conn(v6 bool) (*icmpConn, error) {
	i := 0
	if v6 {
		i = 1
	}
	if p.conns[i] != nil {
		return p.conns[i], nil
	}
	c, err := openICMP(v6)
	if err != nil {
		return nil, err
	}
	p.conns[i] = c
	p.wg.Add(1)
	go p.readLoop(c)
	return c, nil
}

func openICMP(v6 bool) (*icmpConn, error) {
	network, laddr, family := "ip4:icmp", "0.0.0.0", "IPv4"
	if v6 {
		network, laddr, family = "ip6:ipv6-icmp", "::", "IPv6"
	}
	pc, err := net.ListenPacket(network, laddr)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture: open raw %s ICMP socket: %w: %s", family, err, PrivilegeHint)
		}
		return nil, fmt.Errorf("capture: open raw %s ICMP socket: %w", family, err)
	}
	c := pc.(*net.IPConn)
	fail := func(step string, err error) (*icmpConn, error) {
		c.Close()
		return nil, fmt.Errorf("capture: %s on the %s ICMP socket: %w", step, family, err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return fail("get the raw descriptor", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1)
			}
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
		}
	})
	if err = errors.Join(err, serr); err != nil {
		return fail("set path-MTU discovery to probe", err)
	}
	// Let only what can answer a probe wake the reader.
	if v6 {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		for _, t := range []ipv6.ICMPType{ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeDestinationUnreachable, ipv6.ICMPTypePacketTooBig} {
			f.Accept(t)
		}
		err = ipv6.NewPacketConn(c).SetICMPFilter(&f)
	} else {
		var f ipv4.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv4.ICMPTypeEchoReply)
		f.Accept(ipv4.ICMPTypeDestinationUnreachable)
		err = ipv4.NewPacketConn(c).SetICMPFilter(&f)
	}
	if err != nil {
		return fail("set the ICMP filter", err)
	}
	// Jumbo replies from many targets at once.
	_ = c.SetReadBuffer(4 << 20)
	return &icmpConn{v6: v6, c: c}, nil
}

// readLoop hands every message that may answer a probe to its session.
func (p *Prober) readLoop(c *icmpConn) {
	defer p.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, addr, err := c.c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// An ICMP error for one of our probes also sets a pending
			// error on a raw socket (EMSGSIZE, EHOSTUNREACH), which the
			// next read returns once. The message itself is queued as a
			// packet and read next, so the error carries nothing new.
			time.Sleep(time.Millisecond)
			continue
		}
		at := time.Now()
		ipa, _ := addr.(*net.IPAddr)
		if ipa == nil {
			continue
		}
		from, _ := netip.AddrFromSlice(ipa.IP)
		ev, ok := parseICMP(c.v6, buf[:n], from)
		if !ok {
			continue
		}
		ev.at = at
		p.mu.Lock()
		s := p.sessions[sessionKey{c.v6, ev.id}]
		p.mu.Unlock()
		if s == nil || ev.target != s.target.WithZone("") {
			continue
		}
		select {
		case s.events <- ev:
		default: // the session is not reading fast enough; the probe times out
		}
	}
}

// Close closes the sockets and waits for the readers to stop. Sessions
// still open fail their next Probe.
func (p *Prober) Close() error {
	p.mu.Lock()
	p.closed = true
	var errs []error
	for i, c := range p.conns {
		if c != nil {
			errs = append(errs, c.c.Close())
			p.conns[i] = nil
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	return errors.Join(errs...)
}

// Session is a run of probes to one target under its own ICMP identifier.
// It is not safe for concurrent use: one probe is in flight at a time, which
// is the per-target pacing the prober promises.
type Session struct {
	p      *Prober
	conn   *icmpConn
	key    sessionKey
	target netip.Addr
	seq    uint16
	events chan icmpEvent
	// sent holds the probes with no answer yet, including those already
	// given up as silent, so that a late answer still counts.
	sent map[uint16]sentProbe
}

type sentProbe struct {
	size int
	at   time.Time
}

// Session opens a probe session to target, opening the family's socket
// if needed. The error says how to get the privilege when it is missing
// (errors.Is(err, os.ErrPermission) holds).
func (p *Prober) Session(target netip.Addr) (*Session, error) {
	target = target.Unmap()
	if !target.IsValid() {
		return nil, errors.New("capture: invalid probe target")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, net.ErrClosed
	}
	v6 := target.Is6()
	c, err := p.conn(v6)
	if err != nil {
		return nil, err
	}
	key := sessionKey{v6: v6}
	for range 1 << 16 {
		p.nextID++
		key.id = p.nextID
		if p.sessions[key] == nil {
			break
		}
	}
	if p.sessions[key] != nil {
		return nil, errors.New("capture: all 65536 ICMP identifiers are in use")
	}
	s := &Session{p: p, conn: c, key: key, target: target, events: make(chan icmpEvent, 16), sent: make(map[uint16]sentProbe)}
	p.sessions[key] = s
	return s, nil
}

// ID returns the ICMP identifier of the session's probes.
func (s *Session) ID() uint16 { return s.key.id }

// Close ends the session; answers still on their way are dropped.
func (s *Session) Close() {
	s.p.mu.Lock()
	if s.p.sessions[s.key] == s {
		delete(s.p.sessions, s.key)
	}
	s.p.mu.Unlock()
}

// Probe sends one echo request whose IP packet is size bytes long, after
// waiting for the prober's rate limit, and waits up to wait for what
// answers it: an echo reply, an ICMP too-big with the next-hop MTU, or
// destination unreachable. It returns Silent when nothing came in time,
// LocalTooBig when this host refused the size (EMSGSIZE), Unreachable when
// it has no route. late holds answers to earlier probes of the session that
// arrived meanwhile, marked Late. err is set only when the context ended or
// the socket failed.
func (s *Session) Probe(ctx context.Context, size int, wait time.Duration) (o pathmtu.Outcome, late []pathmtu.Outcome, err error) {
	o = pathmtu.Outcome{Size: size, Kind: pathmtu.Silent}
	if err := s.p.limiter.Wait(ctx); err != nil {
		return o, nil, err
	}
	s.seq++
	seq := s.seq
	b, err := echoRequest(s.key.v6, s.key.id, seq, size)
	if err != nil {
		return o, nil, err
	}
	dst := &net.IPAddr{IP: s.target.AsSlice(), Zone: s.target.Zone()}
	sentAt := time.Now()
	_, err = s.conn.c.WriteTo(b, dst)
	if errors.Is(err, unix.EMSGSIZE) {
		// Possibly the pending error an earlier "fragmentation needed"
		// left on the shared socket (see readLoop), returned once: try
		// again before believing it.
		sentAt = time.Now()
		_, err = s.conn.c.WriteTo(b, dst)
	}
	switch {
	case err == nil:
	case errors.Is(err, unix.EMSGSIZE):
		o.Kind = pathmtu.LocalTooBig
		return o, nil, nil
	case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH):
		o.Kind = pathmtu.Unreachable
		return o, nil, nil
	default:
		return o, nil, fmt.Errorf("capture: send %d-byte probe to %s: %w", size, s.target, err)
	}
	s.sent[seq] = sentProbe{size: size, at: sentAt}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return o, late, ctx.Err()
		case <-timer.C:
			return o, late, nil
		case ev := <-s.events:
			sp, ok := s.sent[ev.seq]
			if !ok {
				continue // a duplicate, or an answer already counted
			}
			delete(s.sent, ev.seq)
			got := pathmtu.Outcome{Size: sp.size, Kind: ev.kind, MTU: ev.mtu, From: ev.from, RTT: ev.at.Sub(sp.at)}
			if ev.seq == seq {
				return got, late, nil
			}
			got.Late = true
			late = append(late, got)
		}
	}
}
