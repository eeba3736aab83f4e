//go:build linux

package netlab

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// LinkAttrs returns dev's attributes as netlink reports them inside the
// namespace (promiscuity, flags, MAC...), fresh on each call.
func (n *NS) LinkAttrs(dev string) (*netlink.LinkAttrs, error) {
	h, err := n.handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: %s: %w", n.Name, dev, err)
	}
	return link.Attrs(), nil
}

func (n *NS) handle() (*netlink.Handle, error) {
	ns, err := netns.GetFromName(n.Name)
	if err != nil {
		return nil, fmt.Errorf("netlab: open namespace %s: %w", n.Name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlab: netlink in %s: %w", n.Name, err)
	}
	return h, nil
}

// DialContext connects from inside the namespace, so a test can talk to a
// server that listens only there (a probe's metrics endpoint). The socket
// is made on a thread that enters the namespace for the call alone; once
// made it stays in that namespace.
func (n *NS) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Do runs fn on an OS thread inside the namespace, for code that opens
// sockets or asks netlink there (a live capture under test): what fn opens
// stays in the namespace after Do returns.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(n.Name)
		if err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		errc <- fn()
		// A thread that cannot go back stays locked and dies with this
		// goroutine.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}
