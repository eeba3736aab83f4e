package netlab_test

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// TestLab builds two hosts on one veth cable, pings across it, and checks
// that the namespaces are gone once the subtest's cleanup ran.
func TestLab(t *testing.T) {
	netlab.RequireRoot(t)
	netlab.RequireTool(t, "ping")
	var names []string
	t.Run("build", func(t *testing.T) {
		lab := netlab.New(t)
		a, b := lab.Namespace("a"), lab.Namespace("b")
		names = append(names, a.Name, b.Name)
		lab.Veth(a, "eth0", b, "eth0")
		a.Link("eth0", 1400, "10.9.0.1/24", "fd09::1/64")
		b.Link("eth0", 1400, "10.9.0.2/24", "fd09::2/64")
		if !strings.HasPrefix(a.Name, "nlbp-") || a.Name == b.Name {
			t.Errorf("namespace names %q, %q: want distinct, prefixed nlbp-", a.Name, b.Name)
		}
		if out := a.MustRun("ip", "link", "show", "eth0"); !strings.Contains(out, "mtu 1400") {
			t.Errorf("eth0 MTU not set: %s", out)
		}
		for _, dst := range []string{"10.9.0.2", "fd09::2"} {
			if out, err := a.Run("ping", "-c1", "-W2", dst); err != nil {
				t.Errorf("ping %s across the veth: %v\n%s", dst, err, out)
			}
		}
		// DF-bit ping one byte too big for the cable: refused locally.
		if _, err := a.Run("ping", "-c1", "-W1", "-M", "do", "-s", "1373", "10.9.0.2"); err == nil {
			t.Errorf("1401-byte DF ping left a 1400-MTU interface")
		}
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, n := range names {
		if strings.Contains(string(out), n) {
			t.Errorf("namespace %s still exists after the test", n)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
