//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlbprobe/nlbprobe/analyze/remedy"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// TestRemedyBridgeCommandsInLab pastes the Linux bridge commands of every
// remedy in the golden reports into a real kernel: a bridge with snooping
// in a namespace, with the placeholders replaced by its names. Each must
// succeed, and every group a remedy adds must then be in the bridge's
// multicast database. (The grammar in analyze/remedy_test.go checks the
// syntax of all commands; this checks the kernel takes the Linux ones,
// L2 groups such as 03:bf:... included.)
func TestRemedyBridgeCommandsInLab(t *testing.T) {
	netlab.RequireTool(t, "bridge")
	paths, err := filepath.Glob(filepath.Join(moduleRoot(), "fixtures", "captures", "*.report.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden reports: %v", err)
	}
	var cmds []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Findings []struct {
				Remedy string `json:"remedy"`
			} `json:"findings"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, f := range r.Findings {
			for _, c := range remedy.Commands(f.Remedy) {
				if (strings.HasPrefix(c, "bridge ") || strings.HasPrefix(c, "ip link set dev "+remedy.Bridge)) && !strings.Contains(strings.Join(cmds, "\n"), c) {
					cmds = append(cmds, c)
				}
			}
		}
	}
	if len(cmds) < 3 {
		t.Fatalf("only %d bridge commands in the golden reports: %q", len(cmds), cmds)
	}

	lab := netlab.New(t)
	sw, host := lab.Namespace("switch"), lab.Namespace("host")
	lab.Veth(sw, "p1", host, "eth0")
	sw.Bridge("br0", []string{"p1"}, "mcast_snooping", "1")
	sw.MustRun("ip", "link", "set", "p1", "up")
	paste := strings.NewReplacer(remedy.Bridge, "br0", remedy.BridgePort, "p1")
	var groups []string
	for _, c := range cmds {
		line := paste.Replace(c)
		if strings.Contains(line, "<") {
			t.Errorf("`%s`: a placeholder left that a bridge cannot fill", c)
			continue
		}
		w := strings.Fields(line)
		if out, err := sw.Run(w[0], w[1:]...); err != nil {
			t.Errorf("`%s`: %v: %s", line, err, out)
		}
		if i := indexOf(w, "grp"); w[1] == "mdb" && w[2] == "add" && i > 0 {
			groups = append(groups, w[i+1])
		}
	}
	mdb := sw.MustRun("bridge", "mdb", "show", "dev", "br0")
	for _, g := range groups {
		if !strings.Contains(mdb, "port p1 grp "+g+" permanent") {
			t.Errorf("group %s not in the bridge's database:\n%s", g, mdb)
		}
	}
	t.Logf("%d commands pasted, %d groups added:\n%s", len(cmds), len(groups), mdb)
}

func indexOf(words []string, w string) int {
	for i, v := range words {
		if v == w {
			return i
		}
	}
	return -1
}
