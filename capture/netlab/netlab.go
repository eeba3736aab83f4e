// Package netlab builds small networks of Linux network namespaces for
// integration tests: hosts and routers as namespaces, veth pairs and
// bridges as cables and switches, with MTUs, addresses, routes and sysctls,
// and commands run inside a namespace. Every namespace and process a Lab
// makes is removed through t.Cleanup, also when the test fails.
//
// It drives the ip(8) tool rather than netlink from the test process, so
// tests need no locked OS threads and what a lab does can be replayed by
// hand from the commands a failure prints. It needs root (CI runs as root);
// RequireRoot skips or fails a test that cannot have it.
package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inCI reports whether the tests run in CI, where a missing prerequisite is
// a failure rather than a reason to skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// RequireRoot stops a test that cannot build namespaces: not root, or the
// ip tool missing. In CI (CI=true) that is a failure, elsewhere a skip.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if inCI() {
			t.Fatal("needs root to build network namespaces, and CI runs as root")
		}
		t.Skip("needs root to build network namespaces")
	}
	RequireTool(t, "ip")
}

// RequireTool stops a test when a program it runs is not installed: a
// failure in CI (.ci/run installs them), a skip elsewhere.
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if inCI() {
			t.Fatalf("needs %s, which .ci/run installs: %v", name, err)
		}
		t.Skipf("needs %s: %v", name, err)
	}
}

// Lab is one test's set of namespaces. Names are "nlbp-" plus a random
// per-lab tag plus the role, so parallel tests and leftovers never clash.
type Lab struct {
	t   testing.TB
	tag string
}

// New returns an empty lab for t, after RequireRoot.
func New(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return &Lab{t: t, tag: hex.EncodeToString(b[:])}
}

// NS is one network namespace of a lab.
type NS struct {
	// Name is the namespace's name, as `ip netns exec NAME` takes it.
	Name string
	t    testing.TB
}

// Namespace creates a namespace for role (e.g. "client", "router") with
// its loopback up and IPv6 duplicate address detection off (so addresses,
// link-local ones too, are usable at once), and removes it when the test
// ends.
func (l *Lab) Namespace(role string) *NS {
	l.t.Helper()
	name := "nlbp-" + l.tag + "-" + role
	run(l.t, "ip", "netns", "add", name)
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			l.t.Errorf("netlab: remove namespace %s: %v: %s", name, err, out)
		}
	})
	ns := &NS{Name: name, t: l.t}
	ns.MustRun("ip", "link", "set", "lo", "up")
	ns.MustRun("sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	return ns
}

// Veth connects two namespaces with a veth pair: aDev in a, bDev in b, both
// down, MTU 1500. Removing either namespace removes the pair.
func (l *Lab) Veth(a *NS, aDev string, b *NS, bDev string) {
	l.t.Helper()
	a.MustRun("ip", "link", "add", aDev, "type", "veth", "peer", "name", bDev, "netns", b.Name)
}

// Bridge creates a bridge named name in the namespace, up, and enslaves
// ports (interfaces already in it). opts are passed to `ip link add ...
// type bridge`, e.g. "mcast_snooping", "0".
func (n *NS) Bridge(name string, ports []string, opts ...string) {
	n.t.Helper()
	n.MustRun(append([]string{"ip", "link", "add", name, "type", "bridge"}, opts...)...)
	for _, p := range ports {
		n.MustRun("ip", "link", "set", p, "master", name)
	}
	n.MustRun("ip", "link", "set", name, "up")
}

// Link sets dev's MTU (when mtu > 0), adds the addresses (CIDR form;
// IPv6 ones without duplicate address detection, so they are usable at
// once) and brings it up.
func (n *NS) Link(dev string, mtu int, addrs ...string) {
	n.t.Helper()
	if mtu > 0 {
		n.MustRun("ip", "link", "set", dev, "mtu", strconv.Itoa(mtu))
	}
	for _, a := range addrs {
		args := []string{"ip", "addr", "add", a, "dev", dev}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		n.MustRun(args...)
	}
	n.MustRun("ip", "link", "set", dev, "up")
}

// Route adds a route to dst ("default", or a prefix) via the gateway.
func (n *NS) Route(dst, via string) {
	n.t.Helper()
	n.MustRun("ip", "route", "add", dst, "via", via)
}

// Sysctl sets a sysctl inside the namespace, e.g.
// ("net.ipv4.ip_forward", "1").
func (n *NS) Sysctl(key, value string) {
	n.t.Helper()
	n.MustRun("sysctl", "-q", "-w", key+"="+value)
}

// Command returns a command that runs name inside the namespace. The
// caller runs it; ctx bounds it.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command inside the namespace, bounded to a minute, and
// returns its combined output.
func (n *NS) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netlab: %s: %s %s: %w", n.Name, name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error. args[0] is the program.
func (n *NS) MustRun(args ...string) string {
	n.t.Helper()
	out, err := n.Run(args[0], args[1:]...)
	if err != nil {
		n.t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// Start starts a long-running command inside the namespace (a capture, a
// server) and kills it when the test ends.
func (n *NS) Start(name string, args ...string) *exec.Cmd {
	n.t.Helper()
	cmd := n.Command(context.Background(), name, args...)
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("netlab: %s: start %s: %v", n.Name, name, err)
	}
	n.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("netlab: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
