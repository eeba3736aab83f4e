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

// Exit codes, as design.md fixes them: scripts and cron jobs depend on them.
const (
	exitOK       = 0 // nothing at or above --fail-on
	exitFindings = 1 // findings at or above --fail-on
	exitUsage    = 2 // usage or input error
)

// command is one subcommand. Each lives in its own file and adds itself to
// commands in an init function.
type command struct {
	name    string
	summary string
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
	switch name {
	case "--version", "-V":
		return runVersion(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 {
			if c, ok := lookup(args[1]); ok {
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
		}
		printUsage(stdout)
		return exitOK
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "nlbprobe: unknown command %q\n\n", name)
		printUsage(stderr)
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
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
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help     show this, or `nlbprobe help COMMAND` for a command's flags")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage or input error.")
}

// newFlagSet returns a FlagSet for a subcommand whose usage text gives the
// synopsis, an example and the flags. Errors go to stderr; parseFlags prints
// --help to stdout.
func newFlagSet(name, synopsis, example string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() { printFlagUsage(fs.Output(), fs, synopsis, example) }
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
		fmt.Fprintf(out, "nlbprobe %s: %v\n", fs.Name(), err)
		fmt.Fprintf(out, "Run 'nlbprobe %s --help' for usage.\n", fs.Name())
		return exitUsage, true
	}
	return 0, false
}
