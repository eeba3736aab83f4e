package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
)

func TestMTUUsage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(good, []byte("10.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring expected on stdout
		stderr string // substring expected on stderr
	}{
		{"help", []string{"mtu", "--help"}, exitOK, "Usage: nlbprobe mtu TARGET...", ""},
		{"help lists --every", []string{"help", "mtu"}, exitOK, "--every", ""},
		{"no target", []string{"mtu"}, exitUsage, "", "no target"},
		// A bad target is that target's result, not a usage error: one typo
		// in a targets file must not stop the other targets being measured.
		{"bad address", []string{"mtu", "10.0.0.300"}, exitFindings, `10.0.0.300: could not be probed: bad target "10.0.0.300": not an IP address`, ""},
		{"bad IPv6 address", []string{"mtu", "--json", "fd00::zz"}, exitFindings, `"kind":"path-mtu-target-error","severity":"error"`, ""},
		{"unreadable targets file", []string{"mtu", "--targets-file", filepath.Join(dir, "missing")}, exitUsage, "", "targets file"},
		{"unknown flag", []string{"mtu", "--bogus", "10.0.0.1"}, exitUsage, "", "unknown flag"},
		{"bad --fail-on", []string{"mtu", "--fail-on", "fatal", "--targets-file", good}, exitUsage, "", "unknown severity"},
		{"zero concurrency", []string{"mtu", "--concurrency", "0", "10.0.0.1"}, exitUsage, "", "--concurrency"},
		{"tiny --max", []string{"mtu", "--max", "60", "10.0.0.1"}, exitUsage, "", "--max 60"},
		{"--metrics-listen without --every", []string{"mtu", "--metrics-listen", ":0", "10.0.0.1"}, exitUsage, "", "--metrics-listen needs --every"},
		{"--textfile in a missing directory", []string{"mtu", "--textfile", filepath.Join(dir, "missing", "x.prom"), "10.0.0.1"}, exitUsage, "", "--textfile"},
		{"help lists --textfile", []string{"help", "mtu"}, exitOK, "--textfile", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if slices.Contains(tt.args, "--json") {
				validateMTUJSON(t, stdout.String())
			}
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("run %v = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
					tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestReadTargetsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets")
	content := "# hyper-v hosts\n10.0.0.1 10.0.0.2  # rack 1\n\n   fd00::1\n10.0.0.1\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	names, err := readTargetsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1", "10.0.0.2", "fd00::1", "10.0.0.1"}; !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	targets := parseTargets(names)
	var got []string
	for _, tg := range targets {
		got = append(got, tg.addr.String())
	}
	if want := []string{"10.0.0.1", "10.0.0.2", "fd00::1"}; !slices.Equal(got, want) {
		t.Errorf("targets %q, want %q (in order, without duplicates)", got, want)
	}
}

// TestMTUText checks the line each kind of verdict prints, with the jumbo
// arithmetic.
func TestMTUText(t *testing.T) {
	base := mtuResult{Target: "10.0.2.2", Address: "10.0.2.2", Interface: "eth0", Reachable: true, Probes: 4, ElapsedMS: 1.25, ethernet: true}
	with := func(f func(r *mtuResult)) *mtuResult {
		r := base
		f(&r)
		r.setFrame()
		return &r
	}
	tests := []struct {
		name string
		r    *mtuResult
		opts mtuOptions
		want string
	}{
		{"full jumbo path", with(func(r *mtuResult) {
			r.PathMTU, r.InterfaceMTU, r.Max, r.Method = 9000, 9000, 9000, pathmtu.MethodSearch
		}), mtuOptions{},
			"10.0.2.2: path MTU 9000 = Windows Jumbo Packet 9014 (9022 with a VLAN tag and FCS); interface eth0 says 9000: the whole path carries full-size frames [search, 4 probes, 1.3ms]"},
		{"black hole below a 9216 switch-sized interface", with(func(r *mtuResult) {
			r.PathMTU, r.InterfaceMTU, r.Max, r.Method, r.Blackhole = 9000, 9216, 9216, pathmtu.MethodSearch, true
		}), mtuOptions{},
			"10.0.2.2: path MTU 9000 = Windows Jumbo Packet 9014 (9022 with a VLAN tag and FCS); interface eth0 says 9216: packets over 9000 (frames over 9014) are dropped silently: black hole [search, 4 probes, 1.3ms]"},
		{"ICMP-reported limit below --expect", with(func(r *mtuResult) {
			r.PathMTU, r.InterfaceMTU, r.Max, r.Method, r.ReportedBy, r.ReportedMTU = 1400, 1500, 1500, pathmtu.MethodICMP, "10.0.1.2", 1400
		}), mtuOptions{expect: 1500},
			"10.0.2.2: path MTU 1400 (Ethernet frame 1414, 1422 with a VLAN tag and FCS); interface eth0 says 1500: packets over 1400 are refused with ICMP by 10.0.1.2 (next-hop MTU 1400), so TCP adapts; below --expect 1500 (Jumbo Packet 1514) [icmp, 4 probes, 1.3ms]"},
		// Loopback has no Ethernet frame, and 65549 is no NIC's setting:
		// no jumbo arithmetic at all.
		{"loopback", with(func(r *mtuResult) {
			r.Target, r.Address, r.Interface, r.ethernet = "127.0.0.1", "127.0.0.1", "lo", false
			r.PathMTU, r.InterfaceMTU, r.Max, r.Method = 65535, 65536, 65535, pathmtu.MethodSearch
		}), mtuOptions{},
			"127.0.0.1: path MTU 65535; interface lo says 65536: the largest IPv4 packet (65535) passes [search, 4 probes, 1.3ms]"},
		{"jumbo path below --expect 9000 with a 1400 black hole", with(func(r *mtuResult) {
			r.PathMTU, r.InterfaceMTU, r.Max, r.Method, r.Blackhole = 1400, 9000, 9000, pathmtu.MethodSearch, true
		}), mtuOptions{expect: 9000},
			"10.0.2.2: path MTU 1400 (Ethernet frame 1414, 1422 with a VLAN tag and FCS); interface eth0 says 9000: packets over 1400 (frames over 1414) are dropped silently: black hole; below --expect 9000 (Jumbo Packet 9014) [search, 4 probes, 1.3ms]"},
		{"capped by --max", with(func(r *mtuResult) {
			r.PathMTU, r.InterfaceMTU, r.Max, r.Method = 1500, 9000, 1500, pathmtu.MethodSearch
		}), mtuOptions{max: 1500},
			"10.0.2.2: path MTU 1500 = Windows Jumbo Packet 1514 (1522 with a VLAN tag and FCS); interface eth0 says 9000: every size tried passes (--max 1500) [search, 4 probes, 1.3ms]"},
		{"host name, no route", &mtuResult{Target: "hv1", Address: "192.0.2.1", Error: "no route: network is unreachable", TargetError: true}, mtuOptions{},
			"hv1 (192.0.2.1): could not be probed: no route: network is unreachable"},
		{"dead host", &mtuResult{Target: "192.0.2.9", Address: "192.0.2.9", Interface: "eth0", Probes: 3, ElapsedMS: 3000, Error: "no answer to 576-byte echo requests (3 probes)"}, mtuOptions{},
			"192.0.2.9: unreachable: no answer to 576-byte echo requests (3 probes) [via eth0, 3 probes, 3s]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mtuText(tt.r, tt.opts); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestMTUFindingsAndExitCode checks which findings each verdict raises and
// how --fail-on turns them into the exit code.
func TestMTUFindingsAndExitCode(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ok := mtuResult{Time: now, Sweep: 1, Target: "10.0.0.1", Address: "10.0.0.1", Reachable: true, PathMTU: 9000, InterfaceMTU: 9000, Max: 9000, Method: pathmtu.MethodSearch}
	low := mtuResult{Time: now, Sweep: 1, Target: "10.0.0.2", Address: "10.0.0.2", Reachable: true, PathMTU: 1500, InterfaceMTU: 9000, Max: 9000, Method: pathmtu.MethodICMP}
	hole := mtuResult{Time: now, Sweep: 1, Target: "10.0.0.3", Address: "10.0.0.3", Reachable: true, PathMTU: 1500, InterfaceMTU: 9000, Max: 9000, Blackhole: true, Method: pathmtu.MethodSearch}
	dead := mtuResult{Time: now, Sweep: 1, Target: "10.0.0.4", Address: "10.0.0.4", Error: "no answer", Method: pathmtu.MethodSearch}
	noName := mtuResult{Time: now, Sweep: 1, Target: "hv3.example.net", Error: "cannot resolve the name: no such host", TargetError: true, Method: pathmtu.MethodNone,
		targetFix: "check the name"}
	tests := []struct {
		name    string
		results []mtuResult
		expect  int
		failOn  finding.Severity
		kinds   []finding.Kind
		code    int
	}{
		// Under the default --fail-on error, everything a scheduled sweep
		// is for fails it: a shortfall against an explicit --expect, a
		// black hole, a dead target, a target that cannot be probed.
		{"clean path", []mtuResult{ok}, 9000, finding.Error, nil, exitOK},
		{"below expected is an error", []mtuResult{low}, 9000, finding.Error, []finding.Kind{finding.PathMTUBelowExpected}, exitFindings},
		{"no --expect, no below-expected", []mtuResult{low}, 0, finding.Info, nil, exitOK},
		{"black hole is an error", []mtuResult{hole}, 0, finding.Error, []finding.Kind{finding.PathMTUBlackhole}, exitFindings},
		{"black hole below expected", []mtuResult{hole}, 9000, finding.Error, []finding.Kind{finding.PathMTUBlackhole, finding.PathMTUBelowExpected}, exitFindings},
		{"unreachable is an error", []mtuResult{dead, ok}, 9000, finding.Error, []finding.Kind{finding.PathMTUUnreachable}, exitFindings},
		{"a name that does not resolve is an error", []mtuResult{ok, noName}, 9000, finding.Error, []finding.Kind{finding.PathMTUTargetError}, exitFindings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			m := &mtuRun{opts: mtuOptions{expect: tt.expect, failOn: tt.failOn, json: true}, stdout: &stdout, stderr: &stdout,
				version: "(devel)", last: map[string]mtuState{}}
			var kinds []finding.Kind
			var sum mtuSweepSummary
			for _, r := range tt.results {
				m.report(&r, &sum)
				for _, f := range r.Findings {
					kinds = append(kinds, f.Kind)
					if f.Subject != r.Target || !f.Time.Equal(now) || f.Message == "" || f.Remedy == "" || f.Severity != finding.Error {
						t.Errorf("finding %+v: want subject, time, message and remedy", f)
					}
				}
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("findings %v, want %v", kinds, tt.kinds)
			}
			validateMTUJSON(t, stdout.String())
			if code := m.exitCode(); code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
		})
	}
}

// TestMTUWithoutPrivilege runs the binary as nobody: opening the raw socket
// fails, and the message says what to do.
func TestMTUWithoutPrivilege(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	bin := buildNLBProbe(t)
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin, "mtu", "127.0.0.1")
	out, err := cmd.CombinedOutput()
	code := -1
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	}
	t.Logf("exit %d: %s", code, out)
	if code != exitUsage || !strings.Contains(string(out), "setcap cap_net_raw+ep") {
		t.Errorf("unprivileged run: exit %d, output %q; want exit 2 and the setcap hint", code, out)
	}
}
