//go:build !linux

package capture

import (
	"context"
	"net/netip"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
)

// Prober sends DF-bit ICMP probes; on this platform it cannot.
type Prober struct{}

// NewProber returns a Prober whose sessions fail with ErrUnsupported.
func NewProber(ProberConfig) *Prober { return &Prober{} }

// Close does nothing.
func (p *Prober) Close() error { return nil }

// Session is a run of probes to one target.
type Session struct{}

// Session returns ErrUnsupported.
func (p *Prober) Session(netip.Addr) (*Session, error) { return nil, ErrUnsupported }

// ID returns 0.
func (s *Session) ID() uint16 { return 0 }

// Close does nothing.
func (s *Session) Close() {}

// Probe returns ErrUnsupported.
func (s *Session) Probe(context.Context, int, time.Duration) (pathmtu.Outcome, []pathmtu.Outcome, error) {
	return pathmtu.Outcome{}, nil, ErrUnsupported
}
