package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// Exit codes, as analyze/design.md ("Exit codes") fixes them: scripts and cron jobs depend on them.
const (
	exitOK       = 0 // nothing at or above --fail-on
	exitFindings = 1 // findings at or above --fail-on
	exitUsage    = 2 // usage or input error
	// exitInterrupted: Ctrl-C or SIGTERM stopped the run (128 + SIGINT,
	// as shells report it); the report printed covers what was read and
	// says it is partial.
	exitInterrupted = 130
)

// command is one subcommand. Each lives in its own file and adds itself to
// commands in an init function.
type command struct {
	name    string
	summary string
	// synopsis follows "nlbprobe " in the usage line; example is indented
	// example lines. Both appear in --help and the man page.
	synopsis string
	example  string
	// flags builds the command's FlagSet, bound to throw-away values,
	// without running anything: the completion scripts and the man page
	// are generated from it, so they cannot drift from what run parses.
	// run builds the same FlagSet with the same function.
	flags func() *pflag.FlagSet
	// run parses args with its own FlagSet and does the work. It returns the
	// exit code; usage and input errors are reported by returning an error
	// wrapped with usageError or inputError.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands []command

func register(c command) {
	commands = append(commands, c)
	slices.SortFunc(commands, func(a, b command) int { return strings.Compare(a.name, b.name) })
}

// run is main without the process: it takes the arguments after the program
// name and returns the exit code, so tests drive it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := args[0]
	if isCompleteRequest(name) {
		return runComplete(name, args[1:], stdout, stderr)
	}
	switch name {
	case "--version", "-V":
		return runVersion(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 {
			c, ok := lookup(args[1])
			if !ok {
				return unknownCommand(args[1], stderr)
			}
			return c.run(ctx, []string{"--help"}, stdout, stderr)
		}
		printUsage(stdout)
		return exitOK
	}
	c, ok := lookup(name)
	if !ok {
		return unknownCommand(name, stderr)
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

// unknownCommand says that name is no command, suggests the nearest one,
// prints the usage and returns the usage exit code.
func unknownCommand(name string, stderr io.Writer) int {
	names := []string{"help"}
	for _, c := range commands {
		names = append(names, c.name)
	}
	if strings.HasPrefix(name, "-") {
		fmt.Fprintf(stderr, "nlbprobe: unknown flag %s: flags follow the command (nlbprobe COMMAND [flags])\n\n", name)
	} else if near := nearest(name, names); near != "" {
		fmt.Fprintf(stderr, "nlbprobe: unknown command %q; did you mean %s?\n\n", name, near)
	} else {
		fmt.Fprintf(stderr, "nlbprobe: unknown command %q\n\n", name)
	}
	printUsage(stderr)
	return exitUsage
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "nlbprobe: find out why a Windows NLB cluster misbehaves, from the wire.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: nlbprobe COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	// The names in one column, as wide as the longest ("completion").
	width := len("help")
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "help", "show this, or `nlbprobe help COMMAND` for a command's flags")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage or input error,")
	fmt.Fprintln(w, "130 read interrupted (Ctrl-C): the report covers what was read.")
}

// newFlagSet returns a FlagSet for the registered subcommand name whose
// usage text gives its synopsis, examples and the flags. Errors go to
// stderr; parseFlags prints --help to stdout.
func newFlagSet(name string, stderr io.Writer) *pflag.FlagSet {
	c, _ := lookup(name)
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() { printFlagUsage(fs.Output(), fs, c.synopsis, c.example) }
	return fs
}

func printFlagUsage(w io.Writer, fs *pflag.FlagSet, synopsis, example string) {
	fmt.Fprintf(w, "Usage: nlbprobe %s\n\n", synopsis)
	if example != "" {
		fmt.Fprintf(w, "Examples:\n%s\n\n", example)
	}
	fmt.Fprintln(w, "Flags:")
	fmt.Fprint(w, fs.FlagUsages())
}

// parseFlags parses args and turns the outcome into an exit code when the
// command should stop: 0 after --help (printed to stdout), 2 for a bad flag
// (pflag has printed the error and the usage to stderr).
func parseFlags(fs *pflag.FlagSet, args []string, stdout io.Writer) (code int, stop bool) {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		fs.SetOutput(out)
		return exitOK, true
	case err != nil:
		fmt.Fprintf(out, "nlbprobe %s: %s\n", fs.Name(), flagError(fs, err))
		fmt.Fprintf(out, "Run 'nlbprobe %s --help' for usage.\n", fs.Name())
		return exitUsage, true
	}
	return 0, false
}

// tcpdumpDisplayFlags are tcpdump's flags about how it prints packets:
// nlbprobe prints no packets, so they have no counterpart, and the hint
// says so rather than "unknown shorthand flag".
var tcpdumpDisplayFlags = map[string]bool{"n": true, "nn": true, "e": true, "v": true, "vv": true, "vvv": true,
	"x": true, "xx": true, "X": true, "XX": true, "A": true, "l": true, "q": true, "t": true, "tt": true, "ttt": true, "tttt": true, "S": true}

// flagError rewrites pflag's error for an unknown flag into one that
// names the nearest flag of fs ("unknown flag --vantge; did you mean
// --vantage?"); other errors are returned as they are.
func flagError(fs *pflag.FlagSet, err error) string {
	msg := err.Error()
	var given string
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		given = strings.TrimPrefix(msg, "unknown flag: --")
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		// "unknown shorthand flag: 'x' in -xyz"
		if i := strings.LastIndex(msg, " in -"); i >= 0 {
			arg := msg[i+len(" in -"):]
			if tcpdumpDisplayFlags[arg] {
				return fmt.Sprintf("unknown flag -%s: nlbprobe analyses frames and prints findings, not packets, "+
					"so tcpdump's display flags have no counterpart: drop -%s", arg, arg)
			}
			// A long flag written with one dash (-vantage) or a
			// shorthand that does not exist (-x).
			if len(arg) > 1 {
				if f := fs.Lookup(arg); f != nil {
					return fmt.Sprintf("unknown shorthand flag -%s; did you mean --%s?", arg, f.Name)
				}
			}
			given = arg
			msg = "unknown flag -" + arg
		}
	default:
		return msg
	}
	if given == "" {
		return msg
	}
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	names = append(names, "help")
	if near := nearest(given, names); near != "" {
		if strings.HasPrefix(msg, "unknown flag: --") {
			msg = "unknown flag --" + given
		}
		return fmt.Sprintf("%s; did you mean --%s?", msg, near)
	}
	return msg
}

// nearest returns the candidate closest to s in edit distance, if it is
// close enough to be a slip of the fingers (at most a third of its length,
// and at least 1), or "" when none is. A candidate that s is a prefix of
// counts as close.
func nearest(s string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := editDistance(s, c)
		if len(s) >= 3 && strings.HasPrefix(c, s) {
			d = min(d, 1)
		}
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(1, len(s)/3) {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment) of a and b: insertions, deletions, substitutions and swaps of
// adjacent characters each count 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
