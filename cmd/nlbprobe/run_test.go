package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUnknownCommandsAndFlags checks that a command or flag that does not
// exist exits 2 and names the nearest one, and that `help NOSUCH` is an
// error like `NOSUCH` (issue 16 item 9: it printed the usage and exited 0).
func TestUnknownCommandsAndFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string // must appear on stderr
	}{
		{"help of no command", []string{"help", "nosuch"}, `unknown command "nosuch"`},
		{"help of a misspelt command", []string{"help", "wacth"}, `unknown command "wacth"; did you mean watch?`},
		{"misspelt command", []string{"raed", "x.pcap"}, `unknown command "raed"; did you mean read?`},
		{"far from any command", []string{"frobnicate"}, `unknown command "frobnicate"` + "\n"},
		{"flag before the command", []string{"--json", "read"}, "unknown flag --json: flags follow the command"},
		{"misspelt long flag", []string{"read", "--vantge", "span", "x.pcap"}, "unknown flag --vantge; did you mean --vantage?"},
		{"swapped letters", []string{"watch", "-i", "lo", "--jsno"}, "unknown flag --jsno; did you mean --json?"},
		{"long flag with one dash", []string{"read", "-vantage", "span", "x.pcap"}, "unknown shorthand flag -vantage; did you mean --vantage?"},
		{"prefix of a flag", []string{"mtu", "--concur", "2", "h"}, "did you mean --concurrency?"},
		{"tcpdump display flag", []string{"read", "-n", "x.pcap"}, "unknown flag -n: nlbprobe analyses frames and prints findings, not packets"},
		{"nothing near", []string{"read", "--zzzzzzzz", "x.pcap"}, "unknown flag: --zzzzzzzz\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, errb.String())
			}
			if out.Len() > 0 {
				t.Errorf("stdout not empty: %q", out.String())
			}
		})
	}
}

func TestHelpOfEachCommand(t *testing.T) {
	for _, c := range commands {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"help", c.name}, &out, &errb); code != exitOK {
			t.Errorf("help %s: exit %d, stderr %q", c.name, code, errb.String())
		}
		if want := "Usage: nlbprobe " + c.synopsis; !strings.HasPrefix(out.String(), want) {
			t.Errorf("help %s: %q does not start with %q", c.name, out.String(), want)
		}
	}
}

func TestNearest(t *testing.T) {
	names := []string{"vantage", "json", "json-stream", "cluster", "fail-on", "interface"}
	for s, want := range map[string]string{"vantge": "vantage", "jsno": "json", "json-stram": "json-stream",
		"failon": "fail-on", "clusters": "cluster", "inter": "interface", "x": "", "zzzz": "", "": ""} {
		if got := nearest(s, names); got != want {
			t.Errorf("nearest(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestUsageColumns checks that `nlbprobe help` lists every command with its
// summary starting in one column, whatever the longest name ("completion"
// once pushed its summary out of line).
func TestUsageColumns(t *testing.T) {
	var b strings.Builder
	printUsage(&b)
	lines := strings.Split(b.String(), "\n")
	col, listed := -1, 0
	for _, line := range lines {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "  "), " ")
		if !strings.HasPrefix(line, "  ") || !ok {
			continue
		}
		if _, known := lookup(name); !known && name != "help" {
			continue
		}
		listed++
		c := len(line) - len(strings.TrimLeft(rest, " "))
		if col == -1 {
			col = c
		} else if c != col {
			t.Errorf("%q: summary at column %d, want %d", line, c, col)
		}
	}
	if listed != len(commands)+1 {
		t.Errorf("listed %d commands, want %d and help:\n%s", listed, len(commands), b.String())
	}
}
