package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/pflag"
)

func init() {
	register(command{name: "version", summary: "print nlbprobe's version, commit and Go version",
		synopsis: "version", example: "  nlbprobe version\n  nlbprobe --version",
		flags: func() *pflag.FlagSet { return newFlagSet("version", io.Discard) }, run: runVersion})
}

// buildInfo is what the binary knows of its own build: the module version
// (a tag for `go install ...@v1.2.3`, "(devel)" for a build in a checkout),
// the VCS revision and whether the tree had uncommitted changes (stamped by
// `go build` in a git checkout), and the Go version. Reports, mtu results
// and metrics carry it, so a finding can be traced to the code that made it.
type buildInfo struct {
	Version   string
	Revision  string
	Modified  bool
	GoVersion string
}

// readBuildInfo reads the build information the Go toolchain embeds.
// Fields it cannot know stay "unknown" (a test binary has no VCS stamp).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; v != "" {
		b.Version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one-line form: "nlbprobe (devel) commit 1a2b3c4d5e6f (modified), go1.26.8".
func (b buildInfo) String() string {
	rev := b.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if b.Modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("nlbprobe %s commit %s, %s", b.Version, rev, b.GoVersion)
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nlbprobe version: takes no arguments, got %q\n", fs.Arg(0))
		return exitUsage
	}
	fmt.Fprintln(stdout, readBuildInfo())
	return exitOK
}
