//go:build !linux

package netlab

import "context"

func sendStream(ctx context.Context, iface string, s Stream) StreamResult {
	if s.UDP != "" {
		return sendUDP(ctx, s)
	}
	return StreamResult{Err: "AF_PACKET streams need Linux"}
}
