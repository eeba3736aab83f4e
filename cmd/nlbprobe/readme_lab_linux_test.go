//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// The README's examples that need an interface, a network or root run here,
// in network-namespace labs, as written, with readmeCommand's substitutions
// (readme_test.go) and these: eth1 is the probe's port in the NLB lab; the
// files an example names (evidence.pcapng, hyperv-hosts.txt, the cron
// line's /etc/nlbprobe/mtu-targets and /var/log/nlbprobe-mtu.jsonl) are in
// the test's temporary folder, and the targets files list the lab's hosts;
// `logger` is a stand-in that records its arguments; frame 1234 of the
// evidence example is an evidence frame the report named. The README's
// mtu addresses 10.0.20.11 and 10.0.20.12 are the lab's own.

// readmeLab is where the lab tests run README lines: a folder with the
// nlbprobe binary at usr/local/bin (readmeCommand's /usr/local/bin/) and
// first on PATH.
type readmeLab struct {
	dir   string
	subst *strings.Replacer
}

func newREADMELab(t *testing.T, subst ...string) readmeLab {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "usr", "local", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(nlbprobeBinary(t), filepath.Join(bin, "nlbprobe")); err != nil {
		t.Fatal(err)
	}
	return readmeLab{dir: dir, subst: strings.NewReplacer(subst...)}
}

// script is the shell text that runs a README line in the lab's folder
// with its PATH; exec hands the shell's process to a long-running command,
// so that SIGINT (Ctrl-C) reaches it.
func (r readmeLab) script(line string, exec bool) string {
	cmd := r.subst.Replace(readmeCommand(line, r.dir))
	prefix := ""
	if exec {
		prefix = "exec "
	}
	return fmt.Sprintf("export PATH=%s:%s:$PATH; cd %s || exit 99; %s%s",
		filepath.Join(r.dir, "usr", "local", "bin"), filepath.Join(r.dir, "bin"), r.dir, prefix, cmd)
}

// run runs a README line in ns with shell (bash, or sh as cron does) and
// waits for it, bounded to two minutes.
func (r readmeLab) run(t *testing.T, ns *netlab.NS, shell, line string) readmeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, shell, "-c", r.script(line, false))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := readmeResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", line, err)
	}
	t.Logf("ran %s: exit %d", line, res.code)
	return res
}

// start starts a long-running README line (watch, mtu --every) in ns and
// waits until ready says it is running.
func (r readmeLab) start(t *testing.T, ns *netlab.NS, line string, ready func(p *labProc) bool) *labProc {
	t.Helper()
	p := &labProc{name: line, done: make(chan struct{})}
	p.cmd = ns.Command(context.Background(), "bash", "-c", r.script(line, true))
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", line, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	for deadline := time.Now().Add(30 * time.Second); !ready(p); time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.done:
			t.Fatalf("%s ended before it was ready: %v\nstdout:\n%s\nstderr:\n%s", line, p.err, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready in 30s:\nstdout:\n%s\nstderr:\n%s", line, p.stdout.String(), p.stderr.String())
		}
	}
	return p
}

// capturing is the readiness of watch: it says so on stderr.
func capturing(p *labProc) bool { return strings.Contains(p.stderr.String(), "capturing on") }

// waitFor polls cond for up to limit.
func waitFor(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// wantOutput fails t when a README line's exit code or output is not what
// the README promises.
func wantOutput(t *testing.T, line string, code, wantCode int, out string, wants ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: exit %d, want %d\n%s", line, code, wantCode, out)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", line, w, out)
		}
	}
}

// TestREADMEWatchExamples runs the README's watch, Prometheus and evidence
// examples on the probe's port of an NLB lab: a Linux bridge without IGMP
// snooping, two multicast-mode nodes heartbeating to the cluster MAC, which
// the bridge floods to every port, the probe's too.
func TestREADMEWatchExamples(t *testing.T) {
	// Fetched first, so that the blocks are claimed also where the lab
	// cannot run (the lab skips without root, and fails under CI=true).
	taskWatch := readmeExample(t, "task-watch")
	watchLines := readmeExample(t, "watch")
	prometheus := readmeExample(t, "task-prometheus")
	evidence := readmeExample(t, "evidence")
	if len(taskWatch) != 1 || len(watchLines) != 3 || len(prometheus) != 2 || len(evidence) != 3 {
		t.Fatalf("README watch blocks changed (%d, %d, %d, %d lines): update this test with them",
			len(taskWatch), len(watchLines), len(prometheus), len(evidence))
	}
	netlab.RequireRoot(t)
	netlab.RequireTool(t, "tshark")
	netlab.RequireTool(t, "curl")
	l := newNLBLab(t, labOptions{mode: addr.ModeMulticast})
	nodes := l.startNodes(t)
	hostRow := func(p int) string { return fmt.Sprintf("%d     172.31.3.%d", p, 10+p) }

	// A span port: findings as they come, the report on Ctrl-C.
	for _, line := range []string{taskWatch[0], watchLines[0]} {
		w := readmeLabFor(t).start(t, l.probe, line, capturing)
		waitFor(10*time.Second, func() bool { return strings.Contains(w.stdout.String(), "multicast-flooding") })
		time.Sleep(2 * time.Second) // both nodes' heartbeats
		code := w.interrupt(t)
		wantOutput(t, line, code, exitOK, w.stdout.String(),
			"WARNING multicast-flooding", "CLUSTERS (1)", "172.31.3.232  vlan untagged  multicast mode", hostRow(1), hostRow(2))
	}

	// An access port with no NLB node: --duration 10m, stopped by Ctrl-C.
	{
		line := watchLines[1]
		w := readmeLabFor(t).start(t, l.probe, line, capturing)
		waitFor(10*time.Second, func() bool { return strings.Contains(w.stdout.String(), "multicast-flooding") })
		code := w.interrupt(t)
		wantOutput(t, line, code, exitOK, w.stdout.String(), "vantage  nonmember", "WARNING multicast-flooding", "reached a port with no NLB node")
	}

	// Prometheus: the watch line, and the curl line while it runs.
	{
		rl := readmeLabFor(t)
		w := rl.start(t, l.probe, prometheus[0], capturing)
		var res readmeResult
		ok := waitFor(15*time.Second, func() bool {
			res = rl.run(t, l.probe, "bash", prometheus[1])
			if strings.Contains(res.stdout, `nlbprobe_cluster_hosts{cluster="172.31.3.232",remote_span="",svlan="0",vlan="0"} 2`) {
				return true
			}
			time.Sleep(400 * time.Millisecond) // the metrics are refreshed once a second
			return false
		})
		if !ok {
			t.Errorf("%s: exit %d, want the cluster's 2 hosts:\n%s%s", prometheus[1], res.code, res.stdout, res.stderr)
		}
		code := w.interrupt(t)
		wantOutput(t, prometheus[0], code, exitOK, w.stdout.String(), "CLUSTERS (1)")
	}

	// JSON lines, evidence file, metrics and --cluster, while node 2 goes
	// silent for good: heartbeat-gap is streamed, and its frames saved.
	rl := readmeLabFor(t)
	line := watchLines[2]
	w := rl.start(t, l.probe, line, capturing)
	time.Sleep(2500 * time.Millisecond)
	metrics := rl.run(t, l.probe, "bash", "curl -s http://localhost:9716/metrics")
	if !strings.Contains(metrics.stdout, `nlbprobe_heartbeats_total{cluster="172.31.3.232"`) {
		t.Errorf("%s: its metrics lack the heartbeats:\n%s", line, metrics.stdout)
	}
	nodes[1].Stop(t)
	if !waitFor(30*time.Second, func() bool {
		return strings.Contains(w.stdout.String(), `"event":"raised","kind":"heartbeat-gap"`)
	}) {
		t.Errorf("%s: no heartbeat-gap streamed after node 2 stopped:\n%s", line, w.stdout.String())
	}
	time.Sleep(1500 * time.Millisecond) // the evidence file is flushed every second
	code := w.interrupt(t)
	checkContract(t, []string{"watch", "--json-stream"}, w.stdout.String())
	stream := strings.Split(strings.TrimSpace(w.stdout.String()), "\n")
	types := map[string]int{}
	var last struct {
		Type     string       `json:"type"`
		Findings []labFinding `json:"findings"`
	}
	for _, s := range stream {
		// A status line's "findings" is a count, the report's a list:
		// read the type first.
		var typ struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(s), &typ); err != nil {
			t.Fatalf("%s: a line is not JSON: %q", line, s)
		}
		types[typ.Type]++
		last.Type, last.Findings = typ.Type, nil
		if typ.Type == "report" {
			if err := json.Unmarshal([]byte(s), &last); err != nil {
				t.Fatalf("%s: the report line: %v", line, err)
			}
		}
	}
	// (Status lines come every --interval, 10 s: the run may be shorter.)
	if last.Type != "report" || types["finding"] == 0 {
		t.Errorf("%s: stream of %v ending with a %q; want findings, the report last", line, types, last.Type)
	}
	var gap *labFinding
	notSeen := false
	for i, f := range last.Findings {
		if f.Kind == "heartbeat-gap" && len(f.Evidence) > 0 {
			gap = &last.Findings[i]
		}
		notSeen = notSeen || f.Kind == "cluster-not-seen"
	}
	if gap == nil || notSeen {
		t.Fatalf("%s: report findings %+v; want a heartbeat-gap with evidence, and no cluster-not-seen for the --cluster that heartbeats", line, last.Findings)
	}
	// Node 2 never came back: an error, exit 1.
	wantOutput(t, line, code, exitFindings, "")

	// The evidence file, read with tshark as the README shows; 1234 is the
	// heartbeat-gap's first evidence frame. Its frames are on the cluster
	// MAC, so they were saved for multicast-flooding too (after it, or as
	// its update's context): they carry both findings' comments, and
	// frame.comment finds them under heartbeat-gap.
	frame := strconv.FormatUint(gap.Evidence[0], 10)
	ev := readmeLab{dir: rl.dir, subst: strings.NewReplacer("== 1234", "== "+frame)}
	listing := ev.run(t, l.probe, "bash", evidence[2])
	if listing.code != 0 {
		t.Fatalf("%s: exit %d:\n%s%s", evidence[2], listing.code, listing.stdout, listing.stderr)
	}
	comments := map[string]string{} // packet ID: its comments, comma-separated
	savedForGap := 0
	for _, row := range strings.Split(strings.TrimSpace(listing.stdout), "\n") {
		id, c, _ := strings.Cut(row, "\t")
		comments[id] = c
		if strings.Contains(c, "heartbeat-gap") {
			savedForGap++
		}
	}
	for _, n := range gap.Evidence {
		id := strconv.FormatUint(n, 10)
		if c, ok := comments[id]; !ok || !strings.Contains(c, "heartbeat-gap") {
			t.Errorf("%s: heartbeat-gap's evidence frame %s listed with %q (in the file: %v), want a heartbeat-gap comment\nwatch said:\n%s",
				evidence[2], id, c, ok, w.stderr.String())
		}
	}
	res := ev.run(t, l.probe, "bash", evidence[0])
	if lines := strings.Split(strings.TrimSpace(res.stdout), "\n"); res.code != 0 || savedForGap == 0 || len(lines) != savedForGap {
		t.Errorf("%s: exit %d, %d frames; want the %d frames listed with a heartbeat-gap comment, got:\n%s%s",
			evidence[0], res.code, len(lines), savedForGap, res.stdout, res.stderr)
	}
	res = ev.run(t, l.probe, "bash", evidence[1])
	if lines := strings.Split(strings.TrimSpace(res.stdout), "\n"); res.code != 0 || len(lines) != 1 || lines[0] == "" {
		t.Errorf("%s with frame %s: exit %d; want that one frame, got:\n%s%s", evidence[1], frame, res.code, res.stdout, res.stderr)
	}
}

// readmeLabFor is newREADMELab with the NLB lab's substitutions: eth1 is the
// probe's port.
func readmeLabFor(t *testing.T) readmeLab {
	t.Helper()
	return newREADMELab(t, "-i eth1", "-i eth0")
}

// TestREADMEMTUExamples runs the README's mtu examples and its cron line on
// an L2 segment with jumbo frames: 10.0.20.11 at 9000, and 10.0.20.12 whose
// NIC stayed at 1500, a black hole.
func TestREADMEMTUExamples(t *testing.T) {
	mtuLines := readmeExample(t, "mtu")
	cron := readmeExample(t, "task-mtu-cron")
	if len(mtuLines) != 3 || len(cron) != 1 {
		t.Fatalf("README mtu blocks changed (%d, %d lines): update this test with them", len(mtuLines), len(cron))
	}
	lab := netlab.New(t)
	client, sw := lab.Namespace("client"), lab.Namespace("sw")
	h11, h12 := lab.Namespace("h11"), lab.Namespace("h12")
	for _, h := range []struct {
		ns   *netlab.NS
		port string
	}{{client, "p-client"}, {h11, "p-h11"}, {h12, "p-h12"}} {
		lab.Veth(h.ns, "eth0", sw, h.port)
		sw.Link(h.port, 9000)
	}
	sw.Bridge("br0", []string{"p-client", "p-h11", "p-h12"})
	client.Link("eth0", 9000, "10.0.20.1/24")
	h11.Link("eth0", 9000, "10.0.20.11/24")
	h12.Link("eth0", 1500, "10.0.20.12/24")

	rl := newREADMELab(t,
		"/etc/nlbprobe/mtu-targets", "mtu-targets", "/var/log/nlbprobe-mtu.jsonl", "nlbprobe-mtu.jsonl")
	targets := "# the Hyper-V hosts\n10.0.20.11 10.0.20.12\n"
	for _, name := range []string{"hyperv-hosts.txt", "mtu-targets"} {
		if err := os.WriteFile(filepath.Join(rl.dir, name), []byte(targets), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// logger's stand-in: syslog is not the test's to write to.
	if err := os.MkdirAll(filepath.Join(rl.dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	stub := "#!/bin/sh\necho \"$*\" >> " + filepath.Join(rl.dir, "logger.log") + "\n"
	if err := os.WriteFile(filepath.Join(rl.dir, "bin", "logger"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}

	// One sweep: the black hole is an error, exit 1.
	res := rl.run(t, client, "bash", mtuLines[0])
	wantOutput(t, mtuLines[0], res.code, exitFindings, res.stdout, "10.0.20.11: path MTU 9000", "10.0.20.12: path MTU 1504")
	if !strings.Contains(lineWith(res.stdout, "10.0.20.12:"), "black hole") {
		t.Errorf("%s: 10.0.20.12 is not called a black hole:\n%s", mtuLines[0], res.stdout)
	}

	// JSON lines from a targets file.
	res = rl.run(t, client, "bash", mtuLines[1])
	wantOutput(t, mtuLines[1], res.code, exitFindings, res.stdout)
	checkMTUJSON(t, mtuLines[1], res.stdout)

	// --every: runs until stopped; the exit code on Ctrl-C reflects the
	// sweeps.
	w := rl.start(t, client, mtuLines[2], func(p *labProc) bool {
		return strings.Contains(p.stdout.String(), "10.0.20.11:") && strings.Contains(p.stdout.String(), "10.0.20.12:")
	})
	code := w.interrupt(t)
	wantOutput(t, mtuLines[2], code, exitFindings, w.stdout.String(), "10.0.20.11: path MTU 9000", "black hole")

	// The cron line, as cron runs it: the command after the schedule and
	// the user, by sh.
	fields := strings.Fields(cron[0])
	if len(fields) < 7 || fields[5] != "root" {
		t.Fatalf("cron line %q: want five schedule fields, the user root and the command", cron[0])
	}
	command := strings.Join(fields[6:], " ")
	res = rl.run(t, client, "sh", command)
	if res.code != 0 {
		t.Errorf("%s: exit %d (logger ran, so the line succeeds)\n%s", command, res.code, res.stderr)
	}
	log, err := os.ReadFile(filepath.Join(rl.dir, "nlbprobe-mtu.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	checkMTUJSON(t, command, string(log))
	logged, err := os.ReadFile(filepath.Join(rl.dir, "logger.log"))
	if err != nil || strings.TrimSpace(string(logged)) != "-t nlbprobe path MTU findings (exit 1)" {
		t.Errorf("%s: logger got %q (%v); want `-t nlbprobe path MTU findings (exit 1)`", command, logged, err)
	}
}

// lineWith returns the first line of text containing s.
func lineWith(text, s string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// checkMTUJSON checks the JSON lines of one sweep of the lab's two hosts.
func checkMTUJSON(t *testing.T, line, out string) {
	t.Helper()
	got := map[string]string{}
	for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Target    string `json:"target"`
			PathMTU   int    `json:"path_mtu"`
			Blackhole bool   `json:"blackhole"`
		}
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			t.Fatalf("%s: a line is not JSON: %q", line, s)
		}
		if r.Target != "" {
			got[r.Target] = fmt.Sprintf("%d blackhole=%v", r.PathMTU, r.Blackhole)
		}
	}
	if got["10.0.20.11"] != "9000 blackhole=false" || got["10.0.20.12"] != "1504 blackhole=true" {
		t.Errorf("%s: results %v; want 10.0.20.11 at 9000, 10.0.20.12 a black hole at 1504", line, got)
	}
}
