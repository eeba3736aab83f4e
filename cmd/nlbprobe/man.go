package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// The man page, in roff (man(7) macros), generated from the commands'
// registrations and FlagSets, so it lists what the commands parse. One
// page for the whole tool: nlbprobe(1).

func init() {
	register(command{name: "man", summary: "print the manual page (roff): nlbprobe man | man -l -",
		synopsis: "man",
		example: "  nlbprobe man | man -l -\n" +
			"  nlbprobe man > /usr/local/share/man/man1/nlbprobe.1",
		flags: func() *pflag.FlagSet { return newFlagSet("man", io.Discard) }, run: runMan})
}

func runMan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("man", stderr)
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nlbprobe man: takes no arguments, got %q\n", fs.Arg(0))
		return exitUsage
	}
	if err := writeMan(stdout); err != nil {
		fmt.Fprintf(stderr, "nlbprobe man: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// roff escapes text for a man page line: backslashes, hyphens (a plain
// "-" may become a hyphen, not the minus a flag needs) and a leading dot
// or quote, which would start a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func writeMan(w io.Writer) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p(`.TH NLBPROBE 1 "" "nlbprobe %s" "User Commands"`, roff(readBuildInfo().Version))
	p(".SH NAME")
	p(`nlbprobe \- find out why a Windows NLB cluster misbehaves, from the wire`)
	p(".SH SYNOPSIS")
	for _, c := range commands {
		p(".B nlbprobe")
		p("%s", roff(c.synopsis))
		p(".br")
	}
	p(".SH DESCRIPTION")
	p("%s", roff("nlbprobe reads captures (pcap, pcapng, gzip) or captures live on a span or access port, and tells "+
		"which MAC really answers for a cluster IP, whether the switch floods the cluster's traffic, whether every "+
		"NLB node heartbeats and agrees with the others, and how large a frame a path carries."))
	p(".SH COMMANDS")
	for _, c := range commands {
		p(".SS %s", roff(c.name))
		p("%s", roff(c.summary+"."))
		p(".PP")
		p(".B nlbprobe")
		p("%s", roff(c.synopsis))
		fs := c.flags()
		first := true
		fs.VisitAll(func(f *pflag.Flag) {
			if first {
				p(".PP")
				p("Flags:")
				first = false
			}
			name := `\fB\-\-` + roff(f.Name) + `\fR`
			if f.Shorthand != "" {
				name = `\fB\-` + roff(f.Shorthand) + `\fR, ` + name
			}
			varname, usage := pflag.UnquoteUsage(f)
			if varname != "" {
				name += " " + `\fI` + roff(varname) + `\fR`
			}
			p(".TP")
			p("%s", name)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" && f.DefValue != "0s" {
				usage += " (default " + f.DefValue + ")"
			}
			p("%s", roff(usage))
		})
		if c.example != "" {
			p(".PP")
			p("Examples:")
			p(".PP")
			p(".nf")
			p(".RS 4")
			for _, line := range strings.Split(c.example, "\n") {
				p("%s", roff(strings.TrimPrefix(line, "  ")))
			}
			p(".RE")
			p(".fi")
		}
	}
	p(".SH EXIT STATUS")
	p(".TP")
	p("0")
	p("nothing at or above \\-\\-fail\\-on (default error)")
	p(".TP")
	p("1")
	p("findings at or above \\-\\-fail\\-on")
	p(".TP")
	p("2")
	p("usage or input error")
	p(".SH SEE ALSO")
	p(".BR tcpdump (1),")
	p(".BR pcap-filter (7)")
	_, err := io.WriteString(w, b.String())
	return err
}
