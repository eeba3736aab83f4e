package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// TestReadFilterAsTcpdump checks `nlbprobe read F EXPR` analyses exactly
// the frames `tcpdump -r F EXPR` prints: its report's statistics are those
// of reading what `tcpdump -r F -w OUT EXPR` wrote, and its frame count is
// tcpdump's. (The frame numbers themselves are checked in capture's
// TestFilterMatchesTcpdump.)
func TestReadFilterAsTcpdump(t *testing.T) {
	netlab.RequireTool(t, "tcpdump")
	cases := []struct{ file, expr string }{
		{"two-vlans.pcap", "vlan 10"},
		{"two-vlans.pcap", "vlan 20 and arp"},
		{"two-vlans.pcap", "not arp"},
		{"migration.pcap", "arp or igmp"},
		{"migration.pcap", "ether host 00:15:5d:32:00:11 or arp"},
		{"igmp-member-missing.pcap", "arp or igmp"},
		{"flooding-nonmember.pcap", "host 172.31.3.232"},
		{"flooding-nonmember.pcap", "not arp"},
		{"stale-cluster-mac.pcap", "ether proto 0x886f"},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.expr, func(t *testing.T) {
			file := filepath.Join("fixtures", "captures", c.file)
			filtered, stderr, code := nlbprobe(t, context.Background(), "read", "--json", "--fail-on", "none", file, c.expr)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			out := filepath.Join(t.TempDir(), "tcpdump.pcap")
			cmd := exec.Command("tcpdump", "-r", filepath.Join(moduleRoot(), file), "-w", out, c.expr)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("tcpdump: %v\n%s", err, msg)
			}
			printed, err := exec.Command("tcpdump", "-n", "-r", out).Output()
			if err != nil {
				t.Fatalf("tcpdump -r: %v", err)
			}
			n := strings.Count(string(printed), "\n")
			oracle, stderr2, code := nlbprobe(t, context.Background(), "read", "--json", "--fail-on", "none", out)
			if code != exitOK {
				t.Fatalf("read tcpdump's output: exit %d: %s", code, stderr2)
			}
			fs, os := statsOf(t, filtered), statsOf(t, oracle)
			if fs != os {
				t.Errorf("stats with the filter:\n%s\nof tcpdump's frames:\n%s", fs, os)
			}
			if !strings.Contains(fs, `"frames":`+itoa(n)+`,`) {
				t.Errorf("stats %s, tcpdump printed %d frames", fs, n)
			}
			if want := "filter \"" + c.expr + "\": " + itoa(n) + " of "; !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q: %s", want, stderr)
			}
		})
	}
}

// statsOf returns the report's stats object, compacted.
func statsOf(t *testing.T, doc string) string {
	t.Helper()
	var r struct {
		Stats json.RawMessage `json:"stats"`
	}
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatalf("report: %v", err)
	}
	var v any
	_ = json.Unmarshal(r.Stats, &v)
	b, _ := json.Marshal(v)
	return string(b)
}

// TestReadFilterArguments checks how read tells files from a filter.
func TestReadFilterArguments(t *testing.T) {
	netlab.RequireTool(t, "tcpdump")
	f := filepath.Join("fixtures", "captures", "two-vlans.pcap")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unquoted words are one filter", []string{f, "vlan", "10"}, exitOK, `filter "vlan 10": 92 of 190 frames`},
		{"a missing file is not a filter", []string{f, "nosuch.pcap"}, exitUsage,
			`"nosuch.pcap" is neither a capture file (stat nosuch.pcap: no such file or directory) nor a capture filter (`},
		{"a file after the filter", []string{f, "vlan", "10", f}, exitUsage, "is neither a capture file"},
		{"a filter without a file", []string{"vlan 10"}, exitUsage, "give one or more capture files"},
		{"only a missing file", []string{"nosuch.pcap"}, exitUsage, "stat nosuch.pcap: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := nlbprobe(t, context.Background(), append([]string{"read", "--fail-on", "none"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
}
