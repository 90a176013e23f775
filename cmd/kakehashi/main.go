// Command kakehashi is the Kakehashi gateway: `kakehashi serve` runs the
// daemon; the other subcommands are clients of its admin API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kakehashi:", err)
		os.Exit(1)
	}
}

// run runs the command line args (without the program name), printing
// answers and help to stdout and the gateway's log to stderr. Errors are
// returned, not printed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// Groups of the root's commands in its help.
const daemonGroup = "daemon"

// newRoot builds the command tree afresh, bound to stdout and stderr.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	o := &conn{stdout: stdout}
	root := &cobra.Command{
		Use:   "kakehashi",
		Short: "Gateway between the company's messaging network and its customers",
		Long: `kakehashi — gateway between the company's messaging network and its customers

kakehashi serve runs the gateway. The admin commands are clients of a running
gateway's admin API. They find it through --config FILE (admin.listen and
admin.token), or --admin URL and --token TOKEN, or KAKEHASHI_ADMIN_URL and
KAKEHASHI_ADMIN_TOKEN. The audit log names whoever holds the token:
"admin:bootstrap" for config's admin.token (meant for first setup),
"admin:NAME" for a token from kakehashi admins add. Add --json for the API's
JSON answer instead of a table.`,
		Example: `  kakehashi serve --config kakehashi.yaml
  kakehashi contacts transfer --from hana --to ken --reason "rotation" --config kakehashi.yaml
  KAKEHASHI_ADMIN_TOKEN=… kakehashi audit --action contacts.transfer --json`,
		Args: knownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(stderr, cmd.UsageString())
			return errors.New("no command given")
		},
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetUsageFunc(usage)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	})
	root.SuggestionsMinimumDistance = 2
	root.AddGroup(
		&cobra.Group{ID: daemonGroup, Title: "Running the gateway:"},
		&cobra.Group{ID: adminGroup, Title: "Admin commands (clients of a running gateway's admin API):"},
	)
	o.register(root)
	root.SetHelpCommand(helpCmd())
	root.AddCommand(serveCmd(stderr), configCmd(stdout), storeCmd(stdout, stderr),
		employeesCmd(o), personasCmd(o), contactsCmd(o), transfersCmd(o), broadcastsCmd(o),
		directoryCmd(o), auditCmd(o), queueCmd(o), statsCmd(o), waitingCmd(o), adminsCmd(o))
	return root
}

// noAPIFlags refuses the admin commands' flags (the root's) on a command
// that does not talk to the admin API (its own flag of the same name
// aside), rather than ignoring them.
func noAPIFlags(cmd *cobra.Command, _ []string) error {
	for _, name := range []string{"config", "admin", "token", "json", "actor"} {
		if cmd.LocalFlags().Lookup(name) == nil && cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s is for the admin commands, not %s (see %s --help)", name, cmd.CommandPath(), cmd.CommandPath())
		}
	}
	return nil
}

func serveCmd(stderr io.Writer) *cobra.Command {
	var path, profile string
	cmd := &cobra.Command{
		Use:     "serve",
		GroupID: daemonGroup,
		Short:   "Run the gateway until stopped",
		Long: `Run the gateway described by the configuration file until SIGINT or
SIGTERM: connect to every network, relay messages, and serve the admin
API on admin.listen. The log goes to standard error.`,
		Example:     `  kakehashi serve --config /etc/kakehashi/kakehashi.yaml`,
		Args:        noArgs,
		Annotations: map[string]string{localOnly: "true"},
		PreRunE:     noAPIFlags,
		RunE: func(cmd *cobra.Command, _ []string) error {
			args := []string{"--config", path}
			if profile != "" {
				args = append(args, "--cpuprofile", profile)
			}
			return serve(cmd.Context(), args, stderr)
		},
	}
	cmd.Flags().StringVar(&path, "config", "kakehashi.yaml", "configuration `FILE`")
	cmd.Flags().StringVar(&profile, "cpuprofile", "", "write a CPU profile to `FILE` (for performance work)")
	return cmd
}

func configCmd(stdout io.Writer) *cobra.Command {
	cmd := group("config", "Check a configuration file", `The gateway's configuration file (YAML).`)
	cmd.GroupID = daemonGroup
	cmd.Annotations = map[string]string{localOnly: "true"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file without running anything",
		Long: `Validate configuration file FILE as kakehashi serve would read it: a
misspelled key is named with what it may have meant.`,
		Example:     `  kakehashi config check examples/kakehashi.yaml`,
		Args:        exactArgs(1),
		Annotations: map[string]string{localOnly: "true"},
		PreRunE:     noAPIFlags,
		RunE: func(_ *cobra.Command, args []string) error {
			return configCheck(args[0], stdout)
		},
	})
	return cmd
}

// group returns an admin command that only holds subcommands: alone, or
// with a subcommand it does not have, it fails saying what it takes.
func group(name, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:                        name,
		GroupID:                    adminGroup,
		Short:                      short,
		Long:                       long,
		Args:                       knownCommand,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var names []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			return fmt.Errorf("%s needs a command: %s (see %s --help)", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
		},
	}
}

// knownCommand refuses an argument where a command with subcommands
// expects one of them.
func knownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath())
}

// noArgs refuses arguments of a command that takes none.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: usage: %s", args[0], cmd.UseLine())
	}
	return nil
}

// exactArgs requires n arguments, named in the command's Use.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("usage: %s (%d argument(s) given, %d wanted)", cmd.UseLine(), len(args), n)
		}
		return nil
	}
}

// helpCmd is `kakehashi help [COMMAND]...`, which, unlike cobra's own,
// fails on a command that does not exist.
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "Show help for any command",
		Long:  `Show help for any command: kakehashi help contacts transfer.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return knownCommand(target, rest)
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
}

// localOnly is the annotation of commands that do not talk to the admin
// API: their help does not list its flags.
const localOnly = "kakehashi/local-only"

// usage writes cmd's usage: how to call it, examples, its commands and
// its flags. Unlike cobra's own, it does not show a command that only
// holds subcommands as runnable alone.
func usage(cmd *cobra.Command) error {
	var b strings.Builder
	b.WriteString("Usage:\n")
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "  %s COMMAND [flags]\n", cmd.CommandPath())
	} else {
		fmt.Fprintf(&b, "  %s\n", cmd.UseLine())
	}
	if cmd.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", strings.TrimRight(cmd.Example, "\n"))
	}
	if cmd.HasAvailableSubCommands() {
		width := 0
		for _, c := range cmd.Commands() {
			width = max(width, len(c.Name()))
		}
		section := func(title, id string) {
			var lines []string
			for _, c := range cmd.Commands() {
				if c.GroupID == id && (c.IsAvailableCommand() || c.Name() == "help") {
					lines = append(lines, fmt.Sprintf("  %-*s  %s\n", width, c.Name(), c.Short))
				}
			}
			if len(lines) > 0 {
				fmt.Fprintf(&b, "\n%s\n%s", title, strings.Join(lines, ""))
			}
		}
		for _, g := range cmd.Groups() {
			section(g.Title, g.ID)
		}
		title := "Commands:"
		if len(cmd.Groups()) > 0 {
			title = "Other commands:"
		}
		section(title, "")
	}
	if cmd.HasAvailableLocalFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", cmd.LocalFlags().FlagUsages())
	}
	if cmd.HasAvailableInheritedFlags() && cmd.Annotations[localOnly] == "" {
		fmt.Fprintf(&b, "\nFlags of every admin command:\n%s", cmd.InheritedFlags().FlagUsages())
	}
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\nRun %q for more on a command.\n", cmd.CommandPath()+" COMMAND --help")
	}
	_, err := io.WriteString(cmd.OutOrStderr(), b.String())
	return err
}
