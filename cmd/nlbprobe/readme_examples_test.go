package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmePath is the user guide, relative to this package.
var readmePath = filepath.Join("..", "..", "README.md")

// readmeExample returns the command lines of the README's fenced code block
// tagged with the HTML comment `<!-- example: NAME -->` on the line before
// its opening fence, with comments after " #" and blank lines removed and
// continuation lines (ending in "\") joined. Tests run these lines, so the
// README cannot promise what the code does not do; a tag that is missing
// fails the test.
func readmeExample(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(readmePath)
	if err != nil {
		t.Fatalf("open README: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	tag := "<!-- example: " + name + " -->"
	var lines []string
	state := 0 // 0 looking for the tag, 1 for the fence, 2 inside the block
	var cont string
	for sc.Scan() {
		line := sc.Text()
		switch state {
		case 0:
			if strings.TrimSpace(line) == tag {
				state = 1
			}
		case 1:
			if strings.HasPrefix(line, "```") {
				state = 2
				continue
			}
			if strings.TrimSpace(line) != "" {
				t.Fatalf("README: %s is not followed by a fenced block", tag)
			}
		case 2:
			if strings.HasPrefix(line, "```") {
				return lines
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
	}
	t.Fatalf("README: no fenced block tagged %s", tag)
	return nil
}
