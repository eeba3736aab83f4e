package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// readmeBinary is the path the README's scheduling examples install to;
// the tests substitute the binary they built for it, and nothing else.
const readmeBinary = "/usr/local/bin/nlbprobe"

// readmeSchedule is the README's scheduled-sweep setup: the targets file,
// the cron command (the part after the schedule and user fields) and the
// systemd unit's ExecStart with what the unit grants it.
type readmeSchedule struct {
	targets []string // the lines of the targets file
	cron    string   // what cron hands to /bin/sh -c
	// textfileCron is the cron line that writes the metrics for
	// node_exporter, and textfile the file it names (under /var/lib).
	textfileCron, textfile string
	execStart              []string // the unit's ExecStart, split as systemd does (no quoting in it)
	// dynamicUser and caps are the unit's DynamicUser= and
	// AmbientCapabilities=, which the test reproduces with setpriv.
	dynamicUser bool
	caps        []string
}

var cronLine = regexp.MustCompile(`^(?:\S+\s+){5}(\S+)\s+(.*)$`)

func loadReadmeSchedule(t *testing.T) readmeSchedule {
	t.Helper()
	var s readmeSchedule
	s.targets = readmeExample(t, "mtu-targets")
	cron := readmeExample(t, "task-mtu-cron")
	if len(cron) != 1 {
		t.Fatalf("README task-mtu-cron: want one crontab line, got %q", cron)
	}
	m := cronLine.FindStringSubmatch(cron[0])
	if m == nil || m[1] != "root" {
		t.Fatalf("README task-mtu-cron: %q is not an /etc/crontab line run as root", cron[0])
	}
	s.cron = m[2]
	tf := readmeExample(t, "mtu-textfile")
	if len(tf) != 1 {
		t.Fatalf("README mtu-textfile: want one crontab line, got %q", tf)
	}
	if m = cronLine.FindStringSubmatch(tf[0]); m == nil || m[1] != "root" {
		t.Fatalf("README mtu-textfile: %q is not an /etc/crontab line run as root", tf[0])
	}
	s.textfileCron = m[2]
	if f := strings.Fields(s.textfileCron); slices.Index(f, "--textfile") >= 0 && slices.Index(f, "--textfile")+1 < len(f) {
		s.textfile = f[slices.Index(f, "--textfile")+1]
	}
	if !strings.HasPrefix(s.textfile, "/var/lib/") || !strings.Contains(s.textfileCron, readmeBinary) {
		t.Fatalf("README mtu-textfile: %q does not run %s --textfile /var/lib/...", s.textfileCron, readmeBinary)
	}
	for _, line := range readmeExample(t, "mtu-systemd") {
		key, value, _ := strings.Cut(line, "=")
		switch key {
		case "ExecStart":
			s.execStart = strings.Fields(value)
		case "DynamicUser":
			s.dynamicUser = value == "yes"
		case "AmbientCapabilities":
			s.caps = strings.Fields(value)
		}
	}
	if len(s.execStart) == 0 {
		t.Fatal("README mtu-systemd: no ExecStart line")
	}
	if !strings.Contains(s.cron, readmeBinary) || s.execStart[0] != readmeBinary {
		t.Fatalf("README schedule examples do not run %s: cron %q, ExecStart %q", readmeBinary, s.cron, s.execStart)
	}
	return s
}

// scheduleLab is the network the README's addresses describe:
//
//	probe eth0 192.0.2.10/24 -- 192.0.2.1 eth0 router eth1 198.51.100.1/24 -- eth0 hv1
//
// hv1 has the README's first target address; nothing has the second (a
// host that is down). MTUs and an ICMP filter vary per case.
type scheduleLab struct {
	probe, router, hv1 *netlab.NS
}

func newScheduleLab(t *testing.T, hv1 netip.Addr, probeMTU, routerHostMTU, hostMTU int) scheduleLab {
	t.Helper()
	lab := netlab.New(t)
	l := scheduleLab{probe: lab.Namespace("probe"), router: lab.Namespace("router"), hv1: lab.Namespace("hv1")}
	lab.Veth(l.probe, "eth0", l.router, "eth0")
	lab.Veth(l.router, "eth1", l.hv1, "eth0")
	l.probe.Link("eth0", probeMTU, "192.0.2.10/24")
	l.router.Link("eth0", probeMTU, "192.0.2.1/24")
	l.router.Link("eth1", routerHostMTU, "198.51.100.1/24")
	l.hv1.Link("eth0", hostMTU, hv1.String()+"/24")
	l.router.Sysctl("net.ipv4.ip_forward", "1")
	l.probe.Route("198.51.100.0/24", "192.0.2.1")
	l.hv1.Route("default", "198.51.100.1")
	return l
}

// scheduleRoot is a file tree that stands in for the probe host's /etc,
// /var/log and /var/lib while a README line runs: /etc/nlbprobe/mtu-targets holds
// the case's targets, /etc/hosts and /etc/resolv.conf know no host names
// and point at a DNS server that is not there (so a name fails to resolve
// at once, whatever the machine's own DNS does), and /var/log and /var/lib
// (with node_exporter's textfile directory) are directories the test reads
// back. Everything else in /etc is the real one,
// through symlinks, so /bin/sh and setpriv find their libraries. It is
// mounted only inside the mount namespace `ip netns exec` creates: the
// machine's own /etc and /var are never touched.
type scheduleRoot struct {
	dir string
}

func newScheduleRoot(t *testing.T, targets []string) scheduleRoot {
	t.Helper()
	dir := t.TempDir()
	// The systemd case runs as an unprivileged user, which must reach the
	// targets file through these directories.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	etc := filepath.Join(dir, "etc")
	for _, d := range []string{filepath.Join(dir, "origetc"), filepath.Join(etc, "nlbprobe"), filepath.Join(dir, "log"), filepath.Join(dir, "bin"),
		filepath.Join(dir, "lib", "prometheus", "node-exporter")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	own := map[string]string{
		"hosts":         "127.0.0.1 localhost\n",
		"resolv.conf":   "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
		"nsswitch.conf": "hosts: files dns\n",
	}
	entries, err := os.ReadDir("/etc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, mine := own[e.Name()]; mine || e.Name() == "nlbprobe" {
			continue
		}
		if err := os.Symlink(filepath.Join(dir, "origetc", e.Name()), filepath.Join(etc, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	own["nlbprobe/mtu-targets"] = strings.Join(targets, "\n") + "\n"
	for name, content := range own {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// logger(1) stands in for syslog, which a namespace lab does not have:
	// it records its arguments, so the test sees what cron would log.
	logger := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + filepath.Join(dir, "logger.out") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "bin", "logger"), []byte(logger), 0o755); err != nil {
		t.Fatal(err)
	}
	return scheduleRoot{dir: dir}
}

// command runs argv in ns with the root's /etc, /var/log and /var/lib
// mounted.
func (r scheduleRoot) command(ctx context.Context, ns *netlab.NS, env []string, argv ...string) *exec.Cmd {
	mount := `mount --bind /etc "$0/origetc" && mount --bind "$0/etc" /etc && mount --bind "$0/log" /var/log && mount --bind "$0/lib" /var/lib && exec "$@"`
	cmd := ns.Command(ctx, "sh", append([]string{"-c", mount, r.dir}, argv...)...)
	cmd.Env = env
	return cmd
}

func (r scheduleRoot) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// TestMTUScheduleREADME runs the README's cron line and systemd ExecStart
// verbatim (only the binary's path substituted) in a lab with the README's
// addresses, and checks the exit codes the README promises: 0 when every
// path meets --expect, 1 for a path below it, a dead host, a black hole and
// a name that does not resolve; and that the other targets are still
// measured when one of them fails.
func TestMTUScheduleREADME(t *testing.T) {
	netlab.RequireRoot(t)
	netlab.RequireTool(t, "nft")
	netlab.RequireTool(t, "setpriv")
	s := loadReadmeSchedule(t)
	if len(s.targets) != 3 {
		t.Fatalf("README mtu-targets: want hv1, hv2 and a name, got %q", s.targets)
	}
	hv1, err1 := netip.ParseAddr(s.targets[0])
	hv2, err2 := netip.ParseAddr(s.targets[1])
	name := s.targets[2]
	subnet := netip.MustParsePrefix("198.51.100.0/24")
	if err1 != nil || err2 != nil || !subnet.Contains(hv1) || !subnet.Contains(hv2) || hv1 == hv2 || hv1.As4()[3] == 1 {
		t.Fatalf("README mtu-targets: want two hosts in %s (the lab's) then a name, got %q", subnet, s.targets)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		t.Fatalf("README mtu-targets: the third target %q should be a host name", name)
	}
	bin := buildNLBProbe(t)
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}

	type want struct {
		target string
		kinds  []finding.Kind
	}
	tests := []struct {
		name    string
		lab     func(t *testing.T) scheduleLab
		targets []string
		code    int
		want    []want
		// metrics are series the textfile line must write.
		metrics map[string]float64
	}{
		{
			name:    "jumbo path meets --expect 9000",
			lab:     func(t *testing.T) scheduleLab { return newScheduleLab(t, hv1, 9000, 9000, 9000) },
			targets: s.targets[:1],
			code:    exitOK,
			want:    []want{{s.targets[0], nil}},
			metrics: map[string]float64{
				`nlbprobe_path_mtu_bytes{address="` + hv1.String() + `",target="` + hv1.String() + `"}`: 9000,
				`nlbprobe_path_mtu_expected_bytes`: 9000,
				`nlbprobe_path_mtu_sweeps_total`:   1,
			},
		},
		{
			name:    "plain 1500 path below --expect 9000",
			lab:     func(t *testing.T) scheduleLab { return newScheduleLab(t, hv1, 1500, 1500, 1500) },
			targets: s.targets[:1],
			code:    exitFindings,
			want:    []want{{s.targets[0], []finding.Kind{finding.PathMTUBelowExpected}}},
		},
		{
			name:    "dead host",
			lab:     func(t *testing.T) scheduleLab { return newScheduleLab(t, hv1, 9000, 9000, 9000) },
			targets: s.targets[1:2],
			code:    exitFindings,
			want:    []want{{s.targets[1], []finding.Kind{finding.PathMTUUnreachable}}},
		},
		{
			name: "black hole: the router's 1500 link with its ICMP dropped",
			lab: func(t *testing.T) scheduleLab {
				l := newScheduleLab(t, hv1, 9000, 1500, 1500)
				routedLab{router: l.router}.dropFragNeeded(t)
				return l
			},
			targets: s.targets[:1],
			code:    exitFindings,
			want:    []want{{s.targets[0], []finding.Kind{finding.PathMTUBlackhole, finding.PathMTUBelowExpected}}},
		},
		{
			name:    "a name that does not resolve",
			lab:     func(t *testing.T) scheduleLab { return newScheduleLab(t, hv1, 9000, 9000, 9000) },
			targets: s.targets[2:],
			code:    exitFindings,
			want:    []want{{name, []finding.Kind{finding.PathMTUTargetError}}},
		},
		{
			name:    "the README's targets file: the good path is still measured",
			lab:     func(t *testing.T) scheduleLab { return newScheduleLab(t, hv1, 9000, 9000, 9000) },
			targets: s.targets,
			code:    exitFindings,
			want: []want{{s.targets[0], nil}, {s.targets[1], []finding.Kind{finding.PathMTUUnreachable}},
				{name, []finding.Kind{finding.PathMTUTargetError}}},
			metrics: map[string]float64{
				`nlbprobe_path_mtu_reachable{target="` + hv1.String() + `"}`:    1,
				`nlbprobe_path_mtu_reachable{target="` + hv2.String() + `"}`:    0,
				`nlbprobe_path_mtu_target_error{target="` + hv2.String() + `"}`: 0,
				`nlbprobe_path_mtu_target_error{target="` + name + `"}`:         1,
				`nlbprobe_path_mtu_reachable{target="` + name + `"}`:            0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := tt.lab(t)
			check := func(t *testing.T, out string) {
				t.Helper()
				results, _ := decodeResults(t, out)
				if len(results) != len(tt.want) {
					t.Fatalf("%d results, want %d:\n%s", len(results), len(tt.want), out)
				}
				for i, r := range results {
					var kinds []finding.Kind
					for _, f := range r.Findings {
						kinds = append(kinds, f.Kind)
					}
					if r.Target != tt.want[i].target || fmt.Sprint(kinds) != fmt.Sprint(tt.want[i].kinds) {
						t.Errorf("result %d: %s with findings %v, want %s with %v\n%s", i, r.Target, kinds, tt.want[i].target, tt.want[i].kinds, out)
					}
					if tt.want[i].kinds == nil && (!r.Reachable || r.PathMTU != 9000) {
						t.Errorf("%s: reachable %v path MTU %d, want the 9000 path measured", r.Target, r.Reachable, r.PathMTU)
					}
				}
			}

			t.Run("cron", func(t *testing.T) {
				root := newScheduleRoot(t, tt.targets)
				line := strings.ReplaceAll(s.cron, readmeBinary, bin)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				// What cron gives a job: /bin/sh -c, a minimal PATH
				// (with the test's logger first), no terminal.
				env := []string{"PATH=" + filepath.Join(root.dir, "bin") + ":/usr/bin:/bin", "SHELL=/bin/sh", "HOME=/root", "LOGNAME=root"}
				out, err := root.command(ctx, l.probe, env, "/bin/sh", "-c", line).CombinedOutput()
				if err != nil {
					t.Fatalf("cron line: %v\n%s", err, out)
				}
				logged := root.read(t, "logger.out")
				t.Logf("syslog: %q", logged)
				wantLog := ""
				if tt.code != exitOK {
					wantLog = fmt.Sprintf("(exit %d)", tt.code)
				}
				if (wantLog == "") != (logged == "") || !strings.Contains(logged, wantLog) {
					t.Errorf("logger got %q, want a message with %q (none for exit 0)", logged, wantLog)
				}
				check(t, root.read(t, "log/nlbprobe-mtu.jsonl"))
			})

			if tt.metrics != nil {
				t.Run("textfile", func(t *testing.T) {
					root := newScheduleRoot(t, tt.targets)
					line := strings.ReplaceAll(s.textfileCron, readmeBinary, bin)
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					env := []string{"PATH=/usr/bin:/bin", "SHELL=/bin/sh", "HOME=/root", "LOGNAME=root"}
					out, err := root.command(ctx, l.probe, env, "/bin/sh", "-c", line).CombinedOutput()
					var exit *exec.ExitError
					if err != nil && !errors.As(err, &exit) {
						t.Fatalf("textfile line: %v\n%s", err, out)
					}
					if len(out) > 0 {
						t.Errorf("the line printed (cron would mail it): %s", out)
					}
					page := root.read(t, filepath.Join("lib", strings.TrimPrefix(s.textfile, "/var/lib/")))
					got := parseMetrics(t, page)
					for series, want := range tt.metrics {
						if v, ok := got[series]; !ok || v != want {
							t.Errorf("%s = %v (present %v), want %v\n%s", series, v, ok, want, page)
						}
					}
					promtoolCheckMetrics(t, page)
				})
			}

			t.Run("systemd", func(t *testing.T) {
				root := newScheduleRoot(t, tt.targets)
				argv := append([]string{bin}, s.execStart[1:]...)
				if s.dynamicUser || len(s.caps) > 0 {
					// DynamicUser= runs the service as a fresh
					// unprivileged user; nobody stands in for it.
					// AmbientCapabilities= grants it the listed
					// capabilities (and CapabilityBoundingSet= only those).
					var caps []string
					for _, c := range s.caps {
						caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
					}
					set := "-all," + strings.Join(caps, ",")
					pre := []string{"setpriv", "--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set}
					if s.dynamicUser {
						pre = append(pre, "--reuid=65534", "--regid=65534", "--clear-groups")
					}
					argv = append(pre, argv...)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cmd := root.command(ctx, l.probe, []string{"PATH=/usr/bin:/bin"}, argv...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				code := 0
				if err := cmd.Run(); err != nil {
					var exit *exec.ExitError
					if !errors.As(err, &exit) {
						t.Fatal(err)
					}
					code = exit.ExitCode()
				}
				if code != tt.code {
					t.Errorf("ExecStart exited %d, want %d (the unit %s)\nstderr: %s", code, tt.code,
						map[bool]string{true: "succeeds", false: "fails"}[tt.code == 0], stderr.String())
				}
				check(t, stdout.String())
			})
		})
	}
}
