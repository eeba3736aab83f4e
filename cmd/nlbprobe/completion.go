package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nlbprobe/nlbprobe/capture"
)

// Shell completion. The scripts are cobra's: they ask nlbprobe itself what
// to complete (`nlbprobe __complete read --va`), and nlbprobe answers from
// the FlagSets its commands parse (command.flags), so a new flag completes
// without touching the scripts, and interface names are those of the
// moment. cobra is only the completion engine here: the commands
// themselves still parse with their own FlagSets.

func init() {
	register(command{name: "completion", summary: "print a shell completion script: bash, zsh or fish",
		synopsis: "completion bash|zsh|fish",
		example: "  source <(nlbprobe completion bash)                        # this shell\n" +
			"  nlbprobe completion bash > /etc/bash_completion.d/nlbprobe  # every new bash\n" +
			"  nlbprobe completion zsh > \"${fpath[1]}/_nlbprobe\"\n" +
			"  nlbprobe completion fish > ~/.config/fish/completions/nlbprobe.fish",
		flags: func() *pflag.FlagSet { return newFlagSet("completion", io.Discard) }, run: runCompletion})
}

// completeCommands are the hidden commands the scripts call.
var completeCommands = []string{cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd}

func runCompletion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("completion", stderr)
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "nlbprobe completion: name the shell: bash, zsh or fish")
		return exitUsage
	}
	root := completionTree()
	var err error
	switch fs.Arg(0) {
	case "bash":
		err = root.GenBashCompletionV2(stdout, true)
	case "zsh":
		err = root.GenZshCompletion(stdout)
	case "fish":
		err = root.GenFishCompletion(stdout, true)
	default:
		fmt.Fprintf(stderr, "nlbprobe completion: %q: the shells are bash, zsh and fish\n", fs.Arg(0))
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "nlbprobe completion: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// runComplete answers a completion script's request (args after the
// hidden command's name) on stdout.
func runComplete(name string, args []string, stdout, stderr io.Writer) int {
	root := completionTree()
	root.SetArgs(append([]string{name}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		return exitUsage
	}
	return exitOK
}

// completionTree is nlbprobe's commands as cobra commands, with the flags
// of command.flags and what completes their values and arguments.
func completionTree() *cobra.Command {
	root := &cobra.Command{Use: "nlbprobe", Short: "find out why a Windows NLB cluster misbehaves, from the wire",
		SilenceErrors: true, SilenceUsage: true, DisableAutoGenTag: true}
	root.CompletionOptions.DisableDefaultCmd = true
	noFiles := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	for _, c := range commands {
		cc := &cobra.Command{Use: c.synopsis, Short: c.summary, Run: func(*cobra.Command, []string) {},
			ValidArgsFunction: noFiles}
		cc.Flags().AddFlagSet(c.flags())
		fixed := func(flag string, values ...string) {
			if cc.Flags().Lookup(flag) != nil {
				_ = cc.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
			}
		}
		fixed("vantage", "span", "nonmember")
		fixed("fail-on", "info", "warning", "error", "none")
		if cc.Flags().Lookup("interface") != nil {
			_ = cc.RegisterFlagCompletionFunc("interface", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return capture.InterfaceNames(), cobra.ShellCompDirectiveNoFileComp
			})
		}
		for _, name := range []string{"write", "targets-file"} {
			if cc.Flags().Lookup(name) != nil {
				_ = cc.MarkFlagFilename(name)
			}
		}
		switch c.name {
		case "read":
			// Capture files (then a filter, which completes nothing).
			cc.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return nil, cobra.ShellCompDirectiveDefault
			}
		case "completion":
			cc.ValidArgs = []string{"bash", "zsh", "fish"}
			cc.ValidArgsFunction = nil
		case "mtu":
			cc.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return nil, cobra.ShellCompDirectiveDefault // host names: the shell's own completion
			}
		}
		root.AddCommand(cc)
	}
	help := &cobra.Command{Use: "help COMMAND", Short: "show a command's flags", Run: func(*cobra.Command, []string) {},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			var names []string
			for _, c := range commands {
				names = append(names, c.name)
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		}}
	root.SetHelpCommand(help)
	return root
}

// isCompleteRequest reports whether name is the hidden command the
// completion scripts call.
func isCompleteRequest(name string) bool { return slices.Contains(completeCommands, name) }
