//go:build !linux

package capture

import "net/netip"

// RouteTo returns ErrUnsupported.
func RouteTo(netip.Addr) (Route, error) { return Route{}, ErrUnsupported }
