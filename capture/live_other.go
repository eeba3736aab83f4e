//go:build !linux

package capture

// Live is a live capture; on this platform there is none.
type Live struct{}

var _ Source = (*Live)(nil)

// OpenLive returns ErrUnsupported: live capture needs Linux's AF_PACKET.
func OpenLive(LiveConfig) (*Live, error) { return nil, ErrUnsupported }

// InterfaceNames returns nil.
func InterfaceNames() []string { return nil }

// Info returns the zero InterfaceInfo.
func (l *Live) Info() InterfaceInfo { return InterfaceInfo{} }

// Next returns ErrUnsupported.
func (l *Live) Next(*Packet) error { return ErrUnsupported }

// Stats returns ErrUnsupported.
func (l *Live) Stats() (LiveStats, error) { return LiveStats{}, ErrUnsupported }

// Close does nothing.
func (l *Live) Close() error { return nil }

// Interfaces returns ErrUnsupported.
func Interfaces() ([]InterfaceInfo, error) { return nil, ErrUnsupported }
