package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The README's examples are run by tests, so the user guide cannot promise
// what nlbprobe does not do. Every fenced shell block (sh, bash, shell,
// console, cron) carries a `<!-- example: NAME -->` tag; TestREADMEExamples
// below runs the blocks that need only the bundled fixtures, and the lab
// tests (readme_lab_linux_test.go) run the ones that need an interface, a
// network or root. TestMain fails a full run of the package in which some
// tagged block was fetched by no test.
//
// The lines run as written, from the repository's root, with these
// substitutions (readmeSubstitutions), which the README's reader makes too:
//
//   - a leading `sudo ` is dropped: the test runs as whoever runs it, and the
//     lines that need root are only run by the tests that require it;
//   - /usr/local/bin/ is a temporary folder, and `nlbprobe` on PATH is the
//     binary the install block built and installed there;
//   - the placeholder file names of the `read` block are bundled captures:
//     capture.pcapng is fixtures/captures/healthy-unicast.pcapng,
//     node1.pcap.gz healthy-unicast.pcap.gz, node2.pcap two-vlans.pcap,
//     access-port.pcap flooding-nonmember.pcap; report.json is written in
//     the temporary folder, not in the repository. Where node2.pcap is
//     read with node1.pcap.gz, as captures of two nodes, it is
//     migration.pcap: 60 s to node1's 20, as two captures taken by hand
//     differ in length.
//
// The lab tests add their own, said where they run the lines (eth1 is the
// lab's capture port, the mtu targets file is written by the test...).

// readmeShellLangs are the fence languages whose lines a reader runs.
var readmeShellLangs = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true, "cron": true}

// readmeSubstitutions turns a README line into the line the test runs;
// {tmp} is the test's temporary folder. Where two match at one place the
// first wins: the install line before the general /usr/local/bin/.
var readmeSubstitutions = []struct{ from, to string }{
	{"-o nlbprobe ", "-o {tmp}/nlbprobe "},
	{"install -m 755 nlbprobe /usr/local/bin/", "install -m 755 {tmp}/nlbprobe {tmp}/usr/local/bin/"},
	{"/usr/local/bin/", "{tmp}/usr/local/bin/"},
	{" capture.pcapng", " fixtures/captures/healthy-unicast.pcapng"},
	{" node1.pcap.gz node2.pcap", " fixtures/captures/healthy-unicast.pcap.gz fixtures/captures/migration.pcap"},
	{" node1.pcap.gz", " fixtures/captures/healthy-unicast.pcap.gz"},
	{" node2.pcap", " fixtures/captures/two-vlans.pcap"},
	{" access-port.pcap", " fixtures/captures/flooding-nonmember.pcap"},
	{"> report.json", "> {tmp}/report.json"},
}

// readmeCommand applies readmeSubstitutions to a README line.
func readmeCommand(line, tmp string) string {
	var pairs []string
	for _, s := range readmeSubstitutions {
		pairs = append(pairs, s.from, strings.ReplaceAll(s.to, "{tmp}", tmp))
	}
	// One pass: what a substitution wrote is not substituted again.
	return strings.NewReplacer(pairs...).Replace(strings.TrimPrefix(line, "sudo "))
}

// readmeResult is what one README line did.
type readmeResult struct {
	stdout, stderr string
	code           int
}

// readmeCheck is what one README line must do: exit with code and print
// stdout containing want; check, when set, looks further.
type readmeCheck struct {
	code  int
	want  string
	needs []string // programs the line runs besides nlbprobe (jq...)
	// skip, when set, is why the line is not run here (it is the run
	// itself, or it needs root and the test is not root).
	skip  string
	root  bool // the line needs root: skipped without it (failed under CI=true)
	check func(t *testing.T, tmp string, res readmeResult, previous []readmeResult)
}

// readmeRuns are the README blocks that need only the bundled fixtures, in
// the order they run (install first: it builds the binary the others run),
// with one check per command line of the block.
var readmeRuns = []struct {
	block string
	lines []readmeCheck
}{
	{"install", []readmeCheck{
		{code: 0, check: checkStaticBinary},
		{code: 0, check: func(t *testing.T, tmp string, _ readmeResult, _ []readmeResult) {
			fi, err := os.Stat(filepath.Join(tmp, "usr", "local", "bin", "nlbprobe"))
			if err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("installed nlbprobe: %v, mode %v; want mode 0755", err, fi.Mode())
			}
		}},
		{code: 0, root: true, needs: []string{"setcap", "getcap"}, check: func(t *testing.T, tmp string, _ readmeResult, _ []readmeResult) {
			out, err := exec.Command("getcap", filepath.Join(tmp, "usr", "local", "bin", "nlbprobe")).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "cap_net_admin,cap_net_raw=ep") {
				t.Errorf("getcap after the setcap line: %v, %q; want cap_net_admin,cap_net_raw=ep", err, out)
			}
		}},
		{code: 0, want: "nlbprobe "},
	}},
	{"two-commands", []readmeCheck{
		{code: exitFindings, want: "ERROR   nlb-mode-change", check: func(t *testing.T, _ string, res readmeResult, _ []readmeResult) {
			if !strings.Contains(res.stderr, "exit status 1") {
				t.Errorf("go run did not end with `exit status 1`, as the README says:\n%s", res.stderr)
			}
		}},
		{skip: "`go test ./...` is the run this test is part of"},
	}},
	{"task-read", []readmeCheck{
		{code: 0, want: "WARNING heartbeat-gap"},
	}},
	{"task-jq", []readmeCheck{
		{code: 0, needs: []string{"jq"}, want: "warning heartbeat-gap cluster 10.50.0.100 vlan untagged host 2\n"},
	}},
	{"read", []readmeCheck{
		{code: 0, want: "192.168.100.80"},
		{code: 0, check: func(t *testing.T, tmp string, _ readmeResult, _ []readmeResult) {
			var r struct {
				Inputs   []struct{} `json:"inputs"`
				Findings []struct {
					Kind    string `json:"kind"`
					Subject string `json:"subject"`
				} `json:"findings"`
			}
			doc, err := os.ReadFile(filepath.Join(tmp, "report.json"))
			if err == nil {
				err = json.Unmarshal(doc, &r)
			}
			if err != nil {
				t.Fatalf("report.json: %v", err)
			}
			notSeen := false
			for _, f := range r.Findings {
				notSeen = notSeen || f.Kind == "cluster-not-seen" && strings.Contains(f.Subject, "172.31.3.232")
			}
			if len(r.Inputs) != 2 || !notSeen {
				t.Errorf("report.json: %d inputs, findings %+v; want 2 inputs and cluster-not-seen for 172.31.3.232", len(r.Inputs), r.Findings)
			}
			// node1's hosts fall silent when its capture ends, 40 s before
			// node2's: no input hears them then, so none "left".
			for _, f := range r.Findings {
				if f.Kind == "heartbeat-gap" && !strings.Contains(f.Subject, "10.50.0.100") {
					t.Errorf("report.json: a heartbeat gap of node1's cluster, whose capture ended: %+v", f)
				}
			}
		}},
		{code: exitFindings, want: "WARNING multicast-flooding"},
	}},
	{"read-filter", []readmeCheck{
		{code: exitOK, check: func(t *testing.T, _ string, res readmeResult, _ []readmeResult) {
			if !strings.Contains(res.stderr, `filter "vlan 10": 92 of 190 frames passed`) || strings.Contains(res.stdout, "vlan 20") {
				t.Errorf("read 'vlan 10': stderr %q; stdout should mention no VLAN 20:\n%s", res.stderr, res.stdout)
			}
		}, needs: []string{"tcpdump"}},
		{code: exitOK, want: "192.168.100.80", needs: []string{"tcpdump"}, check: func(t *testing.T, _ string, res readmeResult, _ []readmeResult) {
			if !strings.Contains(res.stderr, `filter "arp or ether proto 0x886f": `) {
				t.Errorf("stderr: %q", res.stderr)
			}
		}},
	}},
	{"read-stdin", []readmeCheck{
		{code: exitOK, want: "  input    - (standard input) (pcap, Ethernet, snaplen 262144): 176 frames\n", needs: []string{"tcpdump"}},
		{code: exitOK, want: "  capture  100 frames from "},
		{code: exitOK, want: "  merged   the inputs overlap: 176 frames that repeat a frame of another input"},
	}},
	{"completion", []readmeCheck{
		{code: exitOK},
		{code: exitOK, want: "--vantage", needs: []string{"man"}},
	}},
	{"ip2mac", []readmeCheck{
		{code: 0}, // the block's own output is compared below
	}},
	{"version", []readmeCheck{
		{code: 0, want: "nlbprobe "},
		{code: 0, check: func(t *testing.T, _ string, res readmeResult, previous []readmeResult) {
			if res.stdout != previous[0].stdout || !regexp.MustCompile(`^nlbprobe \S+ commit \S+, go1\.`).MatchString(res.stdout) {
				t.Errorf("--version printed %q, version %q: want the same line, version, commit and Go version", res.stdout, previous[0].stdout)
			}
		}},
	}},
}

// TestREADMEExamples runs the README blocks that use the bundled fixtures
// and checks each line's exit code and key output.
func TestREADMEExamples(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("needs the go tool to build nlbprobe as the README does: %v", err)
	}
	tmp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, "usr", "local", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := moduleRoot()
	env := append(os.Environ(), "PATH="+filepath.Join(tmp, "usr", "local", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	for i, run := range readmeRuns {
		block := readmeBlockNamed(t, run.block)
		lines := block.commands()
		ok := t.Run(run.block, func(t *testing.T) {
			if len(lines) != len(run.lines) {
				t.Fatalf("README block %q has %d command lines, the test checks %d: update readmeRuns with it:\n%s",
					run.block, len(lines), len(run.lines), strings.Join(lines, "\n"))
			}
			var results []readmeResult
			for j, line := range lines {
				want := run.lines[j]
				res, ran := runREADMELine(t, root, env, tmp, line, want)
				results = append(results, res)
				if !ran {
					continue
				}
				if res.code != want.code || !strings.Contains(res.stdout, want.want) {
					t.Errorf("%s\nexit %d, want %d; stdout should contain %q\nstdout:\n%s\nstderr:\n%s",
						line, res.code, want.code, want.want, res.stdout, res.stderr)
					continue
				}
				if want.check != nil {
					want.check(t, tmp, res, results)
				}
			}
			if block.lang == "console" {
				if got, want := strings.TrimRight(results[0].stdout, "\n"), strings.Join(block.output(), "\n"); got != want {
					t.Errorf("%s printed\n%s\nthe README shows\n%s", lines[0], got, want)
				}
			}
		})
		if i == 0 && !ok {
			t.Fatal("the install block failed: the other blocks would run no binary")
		}
	}
}

// runREADMELine runs one README line with bash from the repository's root,
// after readmeCommand's substitutions; it reports false when the line is
// not run here (and why, in the log).
func runREADMELine(t *testing.T, root string, env []string, tmp, line string, want readmeCheck) (readmeResult, bool) {
	t.Helper()
	if want.skip != "" {
		t.Logf("not run: %s: %s", line, want.skip)
		return readmeResult{}, false
	}
	if want.root && os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Errorf("%s needs root, and CI runs as root", line)
		} else {
			t.Logf("not run without root: %s", line)
		}
		return readmeResult{}, false
	}
	for _, tool := range append([]string{"bash"}, want.needs...) {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Errorf("%s needs %s, which .ci/run installs: %v", line, tool, err)
			} else {
				t.Logf("not run without %s: %s", tool, line)
			}
			return readmeResult{}, false
		}
	}
	cmdline := readmeCommand(line, tmp)
	// go build and go run compile: minutes on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", cmdline)
	cmd.Dir, cmd.Env = root, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := readmeResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", cmdline, err)
	}
	t.Logf("ran %s: exit %d", cmdline, res.code)
	return res, true
}

// checkStaticBinary checks that the install block's build line made a
// static binary: no program interpreter (ld.so), no shared libraries.
func checkStaticBinary(t *testing.T, tmp string, _ readmeResult, _ []readmeResult) {
	t.Helper()
	f, err := elf.Open(filepath.Join(tmp, "nlbprobe"))
	if err != nil {
		t.Fatalf("the build line's binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the README's build line made a dynamically linked binary (it has a program interpreter)")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the README's build line made a binary that needs shared libraries %v (%v)", libs, err)
	}
}

// TestREADMEBlocks checks the README's form: every fence says its language,
// every shell block is tagged for a test, tags are unique, no table row is
// wider than a terminal, and every link to a heading or a file resolves.
func TestREADMEBlocks(t *testing.T) {
	blocks, problems, err := parseREADME(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	seen := map[string]int{}
	for _, b := range blocks {
		switch {
		case b.lang == "":
			t.Errorf("README line %d: fenced block without a language (sh, console, text, ini...)", b.line)
		case readmeShellLangs[b.lang] && b.name == "":
			t.Errorf("README line %d: %s block without an `<!-- example: NAME -->` tag: a test must run it", b.line, b.lang)
		}
		if b.name != "" {
			if first, dup := seen[b.name]; dup {
				t.Errorf("README line %d: tag %q already names the block of line %d", b.line, b.name, first)
			}
			seen[b.name] = b.line
		}
	}
	for _, path := range []string{readmePath,
		filepath.Join("..", "..", "analyze", "README.md"),
		filepath.Join("..", "..", "fixtures", "README.md"),
		filepath.Join("..", "..", "capture", "netlab", "README.md"),
		filepath.Join("..", "..", "cmd", "nlbbench", "README.md"),
	} {
		checkMarkdownTablesAndLinks(t, path)
	}
}

// readmeMaxTableRow is the widest table row allowed: a terminal (or a
// pager) shows it on one line; longer explanations go in text below.
const readmeMaxTableRow = 100

var (
	markdownLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	markdownHeading = regexp.MustCompile(`^#{1,6} (.+)$`)
)

// checkMarkdownTablesAndLinks checks one markdown file: table rows fit
// readmeMaxTableRow columns, and links to "#anchor", "file" and
// "file#anchor" resolve (anchors as GitHub makes them from headings).
func checkMarkdownTablesAndLinks(t *testing.T, path string) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	inFence := false
	for i, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if strings.HasPrefix(line, "|") && utf8.RuneCountInString(line) > readmeMaxTableRow {
			t.Errorf("%s:%d: table row of %d columns, more than %d: move the explanation below the table",
				path, i+1, utf8.RuneCountInString(line), readmeMaxTableRow)
		}
		for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			linked := path
			if file != "" {
				linked = filepath.Join(filepath.Dir(path), file)
				if _, err := os.Stat(linked); err != nil {
					t.Errorf("%s:%d: link to %s: %v", path, i+1, target, err)
					continue
				}
			}
			if anchor != "" && !markdownAnchors(t, linked)[anchor] {
				t.Errorf("%s:%d: link to %s: no heading makes the anchor #%s", path, i+1, target, anchor)
			}
		}
	}
}

// markdownAnchors returns the anchors GitHub derives from the headings of a
// markdown file: lower case, punctuation but '-' and '_' dropped, spaces to
// '-', a repeated anchor numbered -1, -2...
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return nil
	}
	anchors := map[string]bool{}
	count := map[string]int{}
	inFence := false
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		m := markdownHeading.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := count[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		count[a]++
	}
	return anchors
}
