package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// flagNames lists the long (--name) and short (-x) spellings of every flag
// of a command, as its FlagSet defines them.
func flagNames(c command) (long, short []string) {
	c.flags().VisitAll(func(f *pflag.Flag) {
		long = append(long, "--"+f.Name)
		if f.Shorthand != "" {
			short = append(short, "-"+f.Shorthand)
		}
	})
	return long, short
}

// TestManPage renders `nlbprobe man` with groff as man(1) would and checks
// that every flag of every command appears in that command's section,
// without groff warnings.
func TestManPage(t *testing.T) {
	netlab.RequireTool(t, "groff")
	var page, errb bytes.Buffer
	if code := run(context.Background(), []string{"man"}, &page, &errb); code != exitOK {
		t.Fatalf("man: exit %d: %s", code, errb.String())
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-rLL=200n")
	cmd.Stdin = bytes.NewReader(page.Bytes())
	cmd.Env = append(os.Environ(), "GROFF_NO_SGR=1")
	var out, warn bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &warn
	if err := cmd.Run(); err != nil {
		t.Fatalf("groff: %v\n%s", err, warn.String())
	}
	if warn.Len() > 0 {
		t.Errorf("groff warns:\n%s", warn.String())
	}
	// Bold and underline are overstrikes (X\bX, _\bX) without SGR.
	text := regexp.MustCompile(".\x08").ReplaceAllString(out.String(), "")
	// Hyphen-minus may come out as U+2010 or U+2212 when a "-" is left
	// unescaped: flags must stay copyable.
	if strings.ContainsAny(text, "\u2010\u2212") {
		t.Errorf("the page has typographic hyphens or minus signs: a flag would not paste")
	}
	for i, c := range commands {
		start := strings.Index(text, "\n   "+c.name+"\n")
		if start < 0 {
			t.Errorf("no section for %s:\n%s", c.name, text)
			continue
		}
		end := len(text)
		if i+1 < len(commands) {
			if e := strings.Index(text[start:], "\n   "+commands[i+1].name+"\n"); e > 0 {
				end = start + e
			}
		}
		section := text[start:end]
		long, short := flagNames(c)
		for _, f := range long {
			if !regexp.MustCompile(`(^|[\s,])` + regexp.QuoteMeta(f) + `(\s|$)`).MatchString(section) {
				t.Errorf("man page, %s: no %s", c.name, f)
			}
		}
		for _, f := range short {
			if !strings.Contains(section, f+", --") {
				t.Errorf("man page, %s: no %s", c.name, f)
			}
		}
	}
	// man(1) reads the page too, where it is installed.
	if man, err := exec.LookPath("man"); err == nil {
		path := filepath.Join(t.TempDir(), "nlbprobe.1")
		if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(man, "-l", path)
		cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=200")
		got, err := cmd.Output()
		if err != nil || !strings.Contains(regexp.MustCompile(".\x08").ReplaceAllString(string(got), ""), "--vantage") {
			t.Errorf("man -l: %v\n%s", err, got)
		}
	}
}

// TestCompletionScripts checks the scripts parse in their shells (bash -n,
// and zsh -n, fish --no-execute where installed), and, in bash, that
// completing each command's flags offers every flag its FlagSet defines,
// and flag values and interface names as the registrations say.
func TestCompletionScripts(t *testing.T) {
	netlab.RequireTool(t, "bash")
	scripts := map[string]string{}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, &out, &errb); code != exitOK || out.Len() == 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errb.String())
		}
		scripts[shell] = out.String()
	}
	dir := t.TempDir()
	check := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}
	for shell, argv := range check {
		path := filepath.Join(dir, "nlbprobe."+shell)
		if err := os.WriteFile(path, []byte(scripts[shell]), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := exec.LookPath(argv[0]); err != nil {
			if shell == "bash" {
				t.Fatal(err)
			}
			t.Logf("%s is not installed: its script is not syntax-checked", shell)
			continue
		}
		if out, err := exec.Command(argv[0], append(argv[1:], path)...).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", strings.Join(argv, " "), shell, err, out)
		}
	}

	// Complete in bash, with the built nlbprobe on PATH as "nlbprobe".
	// Without the bash-completion package, a stand-in for the one helper
	// of it the script calls.
	bin := nlbprobeBinary(t)
	complete := func(words ...string) []string {
		t.Helper()
		var sb strings.Builder
		sb.WriteString(`if [ -f /usr/share/bash-completion/bash_completion ]; then . /usr/share/bash-completion/bash_completion; else
_get_comp_words_by_ref() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
fi
compopt() { :; }
. "$1"
shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
__start_nlbprobe nlbprobe "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
`)
		cmd := exec.Command("bash", append([]string{"-c", sb.String(), "complete", filepath.Join(dir, "nlbprobe.bash")}, words...)...)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("complete %q: %v\n%s", words, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, c := range commands {
		got := complete("nlbprobe", c.name, "--")
		long, _ := flagNames(c)
		for _, f := range long {
			if !contains(got, f) {
				t.Errorf("nlbprobe %s --<TAB>: no %s in %q", c.name, f, got)
			}
		}
	}
	if got := complete("nlbprobe", "wa"); len(got) != 1 || got[0] != "watch" {
		t.Errorf("nlbprobe wa<TAB>: %q, want watch", got)
	}
	if got := complete("nlbprobe", "read", "--vantage", ""); strings.Join(got, " ") != "span nonmember" {
		t.Errorf("--vantage <TAB>: %q", got)
	}
	if got := complete("nlbprobe", "watch", "-i", ""); !contains(got, "lo") {
		t.Errorf("watch -i <TAB>: %q, want the interfaces (lo at least)", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
