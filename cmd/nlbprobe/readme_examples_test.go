package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// readmePath is the user guide, relative to this package.
var readmePath = filepath.Join("..", "..", "README.md")

// readmeBlock is one fenced code block of the README.
type readmeBlock struct {
	name string   // NAME of the `<!-- example: NAME -->` tag before it, "" if untagged
	lang string   // the fence's info string: sh, console, cron, text...
	line int      // line number of the opening fence
	body []string // the lines between the fences, as written
}

// readmeTag is the HTML comment that names the block after it.
var readmeTag = regexp.MustCompile(`^<!-- example: ([a-z0-9][a-z0-9-]*) -->$`)

// parseREADME returns the fenced blocks of the markdown file at path, and
// the problems that make a tag useless: a tag not followed by a fence, a
// block left open.
func parseREADME(path string) (blocks []readmeBlock, problems []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open README: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var (
		open       *readmeBlock
		pending    string
		pendingAt  int
		lineNumber int
	)
	for sc.Scan() {
		lineNumber++
		line := sc.Text()
		if open != nil {
			if strings.HasPrefix(line, "```") {
				blocks = append(blocks, *open)
				open = nil
				continue
			}
			open.body = append(open.body, line)
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "```"):
			open = &readmeBlock{name: pending, lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: lineNumber}
			pending = ""
		case readmeTag.MatchString(trimmed):
			if pending != "" {
				problems = append(problems, fmt.Sprintf("line %d: tag %q is not followed by a fenced block", pendingAt, pending))
			}
			pending, pendingAt = readmeTag.FindStringSubmatch(trimmed)[1], lineNumber
		case strings.HasPrefix(trimmed, "<!-- example:"):
			problems = append(problems, fmt.Sprintf("line %d: malformed tag %q (want `<!-- example: NAME -->`)", lineNumber, trimmed))
		case trimmed != "" && pending != "":
			problems = append(problems, fmt.Sprintf("line %d: tag %q is not followed by a fenced block", pendingAt, pending))
			pending = ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read README: %w", err)
	}
	if open != nil {
		problems = append(problems, fmt.Sprintf("line %d: fenced block never closed", open.line))
	}
	if pending != "" {
		problems = append(problems, fmt.Sprintf("line %d: tag %q is not followed by a fenced block", pendingAt, pending))
	}
	return blocks, problems, nil
}

// commands returns the command lines of the block: for a `console` block
// the lines after "$ ", for any other every line; comments after " #" and
// blank lines removed, continuation lines (ending in "\") joined.
func (b readmeBlock) commands() []string {
	var lines []string
	var cont string
	for _, line := range b.body {
		if b.lang == "console" {
			if !strings.HasPrefix(line, "$ ") {
				continue
			}
			line = strings.TrimPrefix(line, "$ ")
		}
		if i := strings.Index(line, " #"); i >= 0 && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\")
			continue
		}
		lines = append(lines, cont+line)
		cont = ""
	}
	return lines
}

// output returns what a `console` block shows the commands printing: every
// line that is not a command.
func (b readmeBlock) output() []string {
	var out []string
	for _, line := range b.body {
		if !strings.HasPrefix(line, "$ ") {
			out = append(out, line)
		}
	}
	return out
}

// readmeFetched records which test fetched which README block during this
// run, so that TestMain can check that every tagged block is claimed by a
// test (see checkREADMECoverage).
var readmeFetched struct {
	sync.Mutex
	by map[string][]string // block name -> test names
}

// readmeBlockNamed returns the block tagged name and records that t fetched
// it; a missing tag fails t.
func readmeBlockNamed(t testing.TB, name string) readmeBlock {
	t.Helper()
	readmeFetched.Lock()
	if readmeFetched.by == nil {
		readmeFetched.by = map[string][]string{}
	}
	readmeFetched.by[name] = append(readmeFetched.by[name], t.Name())
	readmeFetched.Unlock()
	blocks, _, err := parseREADME(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if b.name == name {
			return b
		}
	}
	t.Fatalf("README: no fenced block tagged <!-- example: %s -->", name)
	return readmeBlock{}
}

// readmeExample returns the command lines of the README's fenced code block
// tagged with the HTML comment `<!-- example: NAME -->` on the line before
// its opening fence, with comments after " #" and blank lines removed and
// continuation lines (ending in "\") joined; for a `console` block, the
// lines after "$ ". Tests run these lines, so the README cannot promise
// what the code does not do; a tag that is missing fails the test, and a
// tagged block that no test fetches fails the package (checkREADMECoverage).
func readmeExample(t testing.TB, name string) []string {
	t.Helper()
	return readmeBlockNamed(t, name).commands()
}

// checkREADMECoverage is called by TestMain after a run of the whole
// package: every tagged block of the README must have been fetched by
// some test (readmeExample), or nothing runs it. It returns the problems.
func checkREADMECoverage() []string {
	blocks, problems, err := parseREADME(readmePath)
	if err != nil {
		return []string{err.Error()}
	}
	readmeFetched.Lock()
	defer readmeFetched.Unlock()
	for _, b := range blocks {
		if b.name != "" && len(readmeFetched.by[b.name]) == 0 {
			problems = append(problems, fmt.Sprintf("README line %d: block %q is run by no test: run it in readme_test.go, or fetch it with readmeExample in the test that runs it", b.line, b.name))
		}
	}
	sort.Strings(problems)
	return problems
}
