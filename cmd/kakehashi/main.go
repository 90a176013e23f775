// Command kakehashi is the Kakehashi gateway: `kakehashi serve` runs the
// daemon; the other subcommands are clients of its admin API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `kakehashi — gateway between the company's messaging network and its customers

Usage:
  kakehashi serve --config FILE            run the gateway
  kakehashi config check FILE              validate a configuration file

Admin commands (clients of a running gateway's admin API):
  kakehashi employees list
  kakehashi employees depart ID [--successor ID | --team A,B [--strategy S]] [--reason TEXT]
  kakehashi employees reactivate ID --reason TEXT
  kakehashi personas list
  kakehashi contacts list [--owner ID | --unassigned] [--persona P] [--tag T] [--source S]
                          [--network N] [--idle-for 720h | --active-within 24h]
  kakehashi contacts unassigned            the unassigned pool (served by the fallback)
  kakehashi contacts transfer [--from ID] [--persona P] [--tag T] [--source S] [--network N]
                          [--unassigned] [--contact ID]... [--relationship ID]...
                          [--to ID | --team A,B [--strategy round-robin|least-loaded]] [--notify]
                          --reason TEXT
                          without --to or --team: to the unassigned pool; with --notify each
                          moved contact is told by their new persona
  kakehashi contacts tag RELATIONSHIP [--add A,B] [--remove C]
  kakehashi contacts remark RELATIONSHIP TEXT
  kakehashi transfers show ID
  kakehashi transfers revert ID --reason TEXT [--notify=false|--notify]
                          undo a transfer (or a departure's moves); if the transfer told
                          its contacts (--notify), they are told again who looks after
                          them now, unless --notify=false
  kakehashi broadcasts prepare --team A,B --tag T [--subject S] --reason TEXT "MESSAGE"
                          each member confirms it (XMPP command "Broadcasts to confirm")
                          before it goes to their own contacts with tag T
  kakehashi broadcasts show ID             a broadcast's sent, skipped and failed counts
  kakehashi directory import FILE          create/update employees and personas (YAML)
  kakehashi audit [--action A] [--subject S] [--after SEQ] [--limit N]
  kakehashi queue                          message counts by state
  kakehashi admins list                    named admin tokens: role, created, last used, revoked
  kakehashi admins add NAME [--role admin|auditor] [--reason TEXT]
                          a token for NAME, printed once (only its hash is kept); the
                          audit log names NAME for what it does; auditor only reads
  kakehashi admins revoke NAME --reason TEXT   the token is refused from then on

Admin commands find the API through --config FILE (admin.listen and the token),
or --admin URL and --token TOKEN, or KAKEHASHI_ADMIN_URL and KAKEHASHI_ADMIN_TOKEN.
The audit log names whoever holds the token: "admin:bootstrap" for config's
admin.token (meant for first setup), "admin:NAME" for a token from admins add.
Add --json for machine-readable output.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kakehashi:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stderr)
	case "config":
		if len(rest) != 2 || rest[0] != "check" {
			return errors.New("usage: kakehashi config check FILE")
		}
		return configCheck(rest[1], stdout)
	case "employees", "personas", "contacts", "transfers", "broadcasts", "directory", "audit", "queue", "admins":
		return admin(ctx, cmd, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
