package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadStdinPipe: `tcpdump -r F -w - | nlbprobe read -` gives the
// report of `nlbprobe read F`, frame numbers (the findings' evidence)
// included; so does a gzip stream on standard input. Only the input's
// path ("-") and format differ. Before, "-" was taken for a file name.
func TestReadStdinPipe(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed (Debian package tcpdump)")
	}
	bin := nlbprobeBinary(t)
	root := moduleRoot()
	for _, name := range []string{"healthy-unicast.pcap", "migration.pcap", "stale-cluster-mac.pcap", "healthy-unicast.pcapng"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("fixtures", "captures", name)
			args := readArgs(t, name)
			run := func(shell string) map[string]any {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, "sh", "-c", shell)
				cmd.Dir = root
				cmd.Env = append(os.Environ(), "NLBPROBE="+bin, "F="+file, "ARGS="+strings.Join(args, " "))
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s: %v\n%s", shell, err, stderr.String())
				}
				var m map[string]any
				if err := json.Unmarshal(out, &m); err != nil {
					t.Fatalf("%s: %v\n%s", shell, err, out)
				}
				return m
			}
			want := run(`"$NLBPROBE" read --json --fail-on none $ARGS "$F"`)
			wantFormat := want["inputs"].([]any)[0].(map[string]any)["format"].(string)
			for _, c := range []struct{ shell, format string }{
				{`tcpdump -r "$F" -w - 2>/dev/null | "$NLBPROBE" read --json --fail-on none $ARGS -`, "pcap"},
				{`gzip -c "$F" | "$NLBPROBE" read --json --fail-on none $ARGS -`, wantFormat + "+gzip"},
				{`"$NLBPROBE" read --json --fail-on none $ARGS - < "$F"`, ""},
			} {
				got := run(c.shell)
				if w, g := reportWithout(t, want, "inputs"), reportWithout(t, got, "inputs"); w != g {
					t.Errorf("%s reports differently:\n%s", c.shell, firstDifference(w, g))
				}
				in := got["inputs"].([]any)[0].(map[string]any)
				wantIn := want["inputs"].([]any)[0].(map[string]any)
				if in["path"] != "-" || in["frames"] != wantIn["frames"] || c.format != "" && in["format"] != c.format {
					t.Errorf("%s: input %v", c.shell, in)
				}
			}
		})
	}
}

// TestReadStdinLive is `tcpdump -U -w - | nlbprobe read -` on a capture
// that goes on: the progress line on a terminal counts the frames and
// megabytes read, without a percent (the total is unknown), and Ctrl-C
// ends the run with exit 130 and a partial report of every frame read.
func TestReadStdinLive(t *testing.T) {
	bin := nlbprobeBinary(t)
	master, slave := openPTY(t)
	data := fixtureBytes(t, "healthy-unicast.pcap")
	frames := len(pcapRecords(t, data))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "read", "--json", "--fail-on", "none", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if _, err := stdin.Write(data); err != nil { // and keep the pipe open
		t.Fatal(err)
	}
	// Wait for the progress line to count every frame.
	want := []byte(itoa(frames) + " frames  ")
	var screen []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(screen, want) {
		master.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := master.Read(buf)
		screen = append(screen, buf[:n]...)
		if err != nil {
			t.Fatalf("progress line never showed %q: %v; terminal: %q", want, err, screen)
		}
	}
	if bytes.Contains(screen, []byte("%")) || !bytes.Contains(screen, []byte(" MB  ")) {
		t.Errorf("progress on a pipe shows a percent or no megabytes: %q", screen)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d", err, exitInterrupted)
	}
	r := decodeReport(t, stdout.String())
	if !r.Partial || !strings.Contains(r.PartialReason, "interrupt") || r.Stats.Frames != uint64(frames) {
		t.Errorf("partial %v %q, %d frames; want partial, interrupted, %d frames", r.Partial, r.PartialReason, r.Stats.Frames, frames)
	}
}

// TestReadTcpdumpFlags: -r FILE as tcpdump spells it (repeatable, and with
// FILE arguments after), -c COUNT to stop after COUNT frames, and "-" for
// standard input given twice refused.
func TestReadTcpdumpFlags(t *testing.T) {
	a, b := "fixtures/captures/duplicate-ip-plain.pcap", "fixtures/captures/port-rule-mismatch.pcap"
	read := func(args ...string) (string, int) {
		t.Helper()
		out, stderr, code := nlbprobe(t, context.Background(), append([]string{"read", "--json", "--fail-on", "none"}, args...)...)
		if code != exitOK && code != exitUsage {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return out, code
	}
	both, _ := read(a, b)
	for _, args := range [][]string{{"-r", a, "-r", b}, {"-r", a, b}, {"--file", a, "--file=" + b}} {
		if got, code := read(args...); code != exitOK || got != both {
			t.Errorf("read %v: exit %d, report differs from read %s %s", args, code, a, b)
		}
	}

	// -c 60: the report of the first 60 frames.
	orig := fixtureBytes(t, "migration.pcap")
	first := readJSON(t, map[string][]byte{"first.pcap": pcapRange(t, orig, 0, 60)}, "first.pcap")
	out, code := read("-c", "60", "fixtures/captures/migration.pcap")
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v", code, err)
	}
	if w, g := reportWithout(t, first, "inputs"), reportWithout(t, got, "inputs"); w != g {
		t.Errorf("-c 60 differs from the first 60 frames:\n%s", firstDifference(w, g))
	}

	// Standard input in-process, and twice.
	readStdin = bytes.NewReader(fixtureBytes(t, "duplicate-ip-plain.pcap"))
	defer func() { readStdin = nil }()
	if got, code := read("-", b); code != exitOK || withoutInputs(t, got) != withoutInputs(t, both) {
		t.Errorf("read - %s: exit %d, report differs from read %s %s", b, code, a, b)
	}
	_, stderr, code := nlbprobe(t, context.Background(), "read", "-", "-r", "-")
	if code != exitUsage || !strings.Contains(stderr, "standard input given twice") {
		t.Errorf("read - -r -: exit %d, %q", code, stderr)
	}
}
