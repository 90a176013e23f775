package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
)

// The admin commands: each is a client of a running gateway's admin API
// through adminapi.Client, and prints the answer as a table or, with
// --json, as the server sent it.

// adminGroup is the ID of the root help's group of admin commands.
const adminGroup = "admin"

func employeesCmd(o *conn) *cobra.Command {
	cmd := group("employees", "List employees, and hand a departing employee's contacts on",
		`Employees are the company's people. Each owns relationships with outside
contacts, which reach them through the employee's personas.`)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List every employee, departed ones too",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			es, err := c.ListEmployees(cmd.Context())
			if err != nil {
				return err
			}
			return o.show(employeesTable(es))
		},
	})

	var depart adminapi.DepartRequest
	var team string
	dep := &cobra.Command{
		Use:   "depart ID",
		Short: "Mark an employee departed and hand their contacts on",
		Long: `Mark employee ID departed. Their relationships go to --successor (who
also receives new contacts writing to ID's personas), are spread over
--team, or, with neither, go to the unassigned pool, which the fallback
serves. The moves are one transfer, which kakehashi transfers revert undoes.`,
		Example: `  kakehashi employees depart hana --successor ken --reason "left the company"
  kakehashi employees depart hana --team ken,mia --strategy least-loaded --reason "left"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			depart.Team = splitList(team)
			if depart.Reason == "" {
				depart.Reason = "departure"
			}
			if depart.Preview {
				res, err := c.PreviewDepart(cmd.Context(), args[0], depart)
				if err != nil {
					return err
				}
				return o.show(previewTable(res, "the departure of "+args[0]))
			}
			t, err := c.Depart(cmd.Context(), args[0], depart)
			if err != nil {
				return err
			}
			return o.show(transferTable(t, args[0]+" departed"))
		},
	}
	dep.Flags().StringVar(&depart.Successor, "successor", "", "employee `ID` who takes over the relationships and new contacts")
	dep.Flags().StringVar(&team, "team", "", "comma-separated employees `A,B` to spread the relationships over")
	dep.Flags().StringVar(&depart.Strategy, "strategy", "", "how --team spreads them: `round-robin` (default) or least-loaded")
	dep.Flags().StringVar(&depart.Reason, "reason", "", "`TEXT` saying why, for the audit log (default \"departure\")")
	dep.Flags().BoolVar(&depart.Preview, "preview", false, "only show what would move where; change nothing")
	dep.MarkFlagsMutuallyExclusive("successor", "team")
	cmd.AddCommand(dep)

	var reason string
	re := &cobra.Command{
		Use:   "reactivate ID",
		Short: "Make a departed employee active again",
		Long: `Make departed employee ID active again. Their former relationships stay
where the departure moved them; revert its transfer to move them back.`,
		Example: `  kakehashi employees reactivate hana --reason "rehired"`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if reason == "" {
				return errNoReason
			}
			if _, err := c.Reactivate(cmd.Context(), args[0], adminapi.ReasonRequest{Reason: reason}); err != nil {
				return err
			}
			return o.show(line("%s is active again", args[0]))
		},
	}
	re.Flags().StringVar(&reason, "reason", "", "`TEXT` saying why, for the audit log (required)")
	cmd.AddCommand(re)
	return cmd
}

func personasCmd(o *conn) *cobra.Command {
	cmd := group("personas", "List personas, the identities the outside sees",
		`Personas are outward identities: what outside contacts see instead of
the employee (personal personas) or a team (shared personas).`)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List every persona with its addresses",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ps, err := c.ListPersonas(cmd.Context())
			if err != nil {
				return err
			}
			return o.show(personasTable(ps))
		},
	})
	return cmd
}

// contactFilters are the flags that select relationships by what they
// are, shared by contacts list and unassigned.
type contactFilters struct {
	q adminapi.ContactQuery
}

func (f *contactFilters) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.q.Persona, "persona", "", "only relationships on persona `ID`")
	fs.StringVar(&f.q.Tag, "tag", "", "only relationships with `TAG`")
	fs.StringVar(&f.q.Source, "source", "", "only contacts from `SOURCE` (inbound, outreach, a contact point…)")
	fs.StringVar(&f.q.Network, "network", "", "only contacts on `NETWORK`")
	fs.DurationVar(&f.q.IdleFor, "idle-for", 0, "only relationships without traffic for this long (a `DURATION`, e.g. 720h)")
	fs.DurationVar(&f.q.ActiveWithin, "active-within", 0, "only relationships with traffic within this long (a `DURATION`, e.g. 24h)")
}

// list lists the relationships f selects.
func (f *contactFilters) list(cmd *cobra.Command, o *conn) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	// A negative duration selects nothing out, as before.
	f.q.IdleFor, f.q.ActiveWithin = max(f.q.IdleFor, 0), max(f.q.ActiveWithin, 0)
	page, err := c.ListContacts(cmd.Context(), f.q)
	if err != nil {
		return err
	}
	return o.show(contactsTable(page.Contacts))
}

func contactsCmd(o *conn) *cobra.Command {
	cmd := group("contacts", "List, move, tag and annotate relationships with outside contacts",
		`A relationship is one outside contact with one persona: the unit of
ownership. Its owner is the employee who receives the contact's messages;
relationships without one sit in the unassigned pool, served by the
fallback.`)

	var list contactFilters
	ls := &cobra.Command{
		Use:   "list",
		Short: "List relationships, all or those the filters select",
		Long: `List relationships with their contact, persona, owner, source, tags,
last activity and whether the contact is gone. Filters combine with AND.`,
		Example: `  kakehashi contacts list --owner hana
  kakehashi contacts list --tag vip --idle-for 720h
  kakehashi contacts list --network mail --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return list.list(cmd, o) },
	}
	ls.Flags().StringVar(&list.q.Owner, "owner", "", "only relationships owned by employee `ID`")
	ls.Flags().BoolVar(&list.q.Unassigned, "unassigned", false, "only relationships in the unassigned pool")
	list.register(ls)
	ls.MarkFlagsMutuallyExclusive("owner", "unassigned")
	cmd.AddCommand(ls)

	pool := contactFilters{q: adminapi.ContactQuery{Unassigned: true}}
	un := &cobra.Command{
		Use:   "unassigned",
		Short: "List the unassigned pool (served by the fallback)",
		Long: `List the relationships without an owner: their contacts' messages go
to the configured fallback until a transfer gives them one.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return pool.list(cmd, o) },
	}
	pool.register(un)
	cmd.AddCommand(un)

	cmd.AddCommand(transferCmd(o))

	var add, remove, tagReason string
	tag := &cobra.Command{
		Use:   "tag RELATIONSHIP",
		Short: "Add or remove tags of a relationship",
		Long: `Add or remove tags of a relationship, for finding and moving it
(contacts list --tag, contacts transfer --tag, broadcasts prepare --tag).
Tags are case-insensitively unique.`,
		Example: `  kakehashi contacts tag r-5f2c --add vip,expo --reason "met at the fair"
  kakehashi contacts tag r-5f2c --remove expo`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			req := adminapi.TagsRequest{Add: splitList(add), Remove: splitList(remove), Reason: tagReason}
			if len(req.Add) == 0 && len(req.Remove) == 0 {
				return fmt.Errorf("usage: %s: give --add, --remove or both", cmd.UseLine())
			}
			r, err := c.EditTags(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return o.show(relationshipTable(r))
		},
	}
	tag.Flags().StringVar(&add, "add", "", "comma-separated tags `A,B` to add")
	tag.Flags().StringVar(&remove, "remove", "", "comma-separated tags `A,B` to remove")
	tag.Flags().StringVar(&tagReason, "reason", "", "`TEXT` saying why, for the audit log")
	cmd.AddCommand(tag)

	var remarkReason string
	remark := &cobra.Command{
		Use:     "remark RELATIONSHIP TEXT",
		Short:   "Set the free-text remark of a relationship",
		Long:    `Set the free-text remark of a relationship; an empty TEXT clears it.`,
		Example: `  kakehashi contacts remark r-5f2c "prefers mail in the morning"`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			r, err := c.SetRemark(cmd.Context(), args[0], adminapi.RemarkRequest{Remark: args[1], Reason: remarkReason})
			if err != nil {
				return err
			}
			return o.show(relationshipTable(r))
		},
	}
	remark.Flags().StringVar(&remarkReason, "reason", "", "`TEXT` saying why, for the audit log")
	cmd.AddCommand(remark)
	return cmd
}

func transferCmd(o *conn) *cobra.Command {
	var req adminapi.TransferRequest
	var team string
	cmd := &cobra.Command{
		Use:   "transfer",
		Short: "Move relationships to another employee, a team or the pool",
		Long: `Move the relationships selected by --from and the filters (combined with
AND; at least one is needed) to --to, spread them over --team, or, with
neither, to the unassigned pool. The moves are one transfer, which
kakehashi transfers revert undoes.

With --notify each moved contact is told by their new persona who looks
after them now (the persona's handover text).`,
		Example: `  kakehashi contacts transfer --from hana --to ken --reason "Hana moves to the Osaka office"
  kakehashi contacts transfer --from hana --tag vip --team ken,mia --strategy least-loaded --notify --reason "key accounts"
  kakehashi contacts transfer --relationship r-5f2c --to ken --reason cover`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			req.Team = splitList(team)
			if req.From == "" && req.Persona == "" && req.Tag == "" && req.Source == "" && req.Network == "" &&
				!req.Unassigned && len(req.Contacts) == 0 && len(req.Relationships) == 0 {
				return fmt.Errorf("usage: %s: select with at least one of --from and the filters (--persona, --tag, --source, --network, --unassigned, --contact, --relationship)", cmd.UseLine())
			}
			if req.Reason == "" {
				return errNoReason
			}
			res, err := c.Transfer(cmd.Context(), req)
			if err != nil {
				return err
			}
			if req.Preview {
				return o.show(previewTable(res, "the transfer"))
			}
			return o.show(func(w io.Writer) {
				transferTable(res.Transfer, "transfer")(w)
				if req.Notify {
					fmt.Fprintf(w, "%d contact(s) told who looks after them now\n", res.Notices)
				}
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&req.From, "from", "", "only relationships owned by employee `ID`")
	fs.StringVar(&req.Persona, "persona", "", "only relationships on persona `ID`")
	fs.StringVar(&req.Tag, "tag", "", "only relationships with `TAG`")
	fs.StringVar(&req.Source, "source", "", "only contacts from `SOURCE`")
	fs.StringVar(&req.Network, "network", "", "only contacts on `NETWORK`")
	fs.BoolVar(&req.Unassigned, "unassigned", false, "only relationships in the unassigned pool")
	fs.StringArrayVar(&req.Contacts, "contact", nil, "a contact `ID`; repeat for more")
	fs.StringArrayVar(&req.Relationships, "relationship", nil, "a relationship `ID`; repeat for more")
	fs.StringVar(&req.To, "to", "", "employee `ID`, the new owner (neither --to nor --team: the unassigned pool)")
	fs.StringVar(&team, "team", "", "comma-separated employees `A,B` to spread the relationships over")
	fs.StringVar(&req.Strategy, "strategy", "", "how --team spreads them: `round-robin` (default) or least-loaded")
	fs.BoolVar(&req.Notify, "notify", false, "send each moved contact a handover notice from their new persona")
	fs.StringVar(&req.Reason, "reason", "", "`TEXT` saying why, for the audit log (required)")
	fs.BoolVar(&req.Preview, "preview", false, "only show what would move where; change, notify and audit nothing")
	cmd.MarkFlagsMutuallyExclusive("to", "team")
	return cmd
}

func transfersCmd(o *conn) *cobra.Command {
	cmd := group("transfers", "Show or undo a transfer",
		`A transfer is one move of relationships between owners: by contacts
transfer, or by employees depart. Each is recorded whole and can be
reverted.`)
	cmd.AddCommand(&cobra.Command{
		Use:     "show ID",
		Short:   "Show a transfer and every relationship it moved",
		Example: `  kakehashi transfers show t-8d1e`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			t, err := c.GetTransfer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.show(transferTable(t, "transfer"))
		},
	})

	var reason string
	var notify bool
	revert := &cobra.Command{
		Use:   "revert ID",
		Short: "Undo a transfer (or a departure's moves)",
		Long: `Move the relationships of transfer ID back where they were, unless a
later transfer moved one of them again.

If the transfer told its contacts (--notify), they are told again who
looks after them now, unless --notify=false; --notify tells them even if
the transfer did not.`,
		Example: `  kakehashi transfers revert t-8d1e --reason "wrong tag"
  kakehashi transfers revert t-8d1e --reason "cancelled" --notify=false`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if reason == "" {
				return errNoReason
			}
			req := adminapi.RevertRequest{Reason: reason}
			if cmd.Flags().Changed("notify") {
				req.Notify = &notify
			}
			res, err := c.RevertTransfer(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return o.show(revertTable(res))
		},
	}
	revert.Flags().StringVar(&reason, "reason", "", "`TEXT` saying why, for the audit log (required)")
	revert.Flags().BoolVar(&notify, "notify", false, "tell the contacts moved back who looks after them now (default: yes if the transfer told them)")
	cmd.AddCommand(revert)
	return cmd
}

func broadcastsCmd(o *conn) *cobra.Command {
	cmd := group("broadcasts", "Prepare a team broadcast, or see what became of one",
		`A broadcast is one message an employee sends to many of their own
contacts, each copy from the persona the contact knows. Each contact
receives at most limits.broadcasts_per_day and _per_month of them.`)
	var req adminapi.BroadcastRequest
	var team string
	prep := &cobra.Command{
		Use:   "prepare MESSAGE",
		Short: "Prepare a broadcast for each team member to confirm",
		Long: `Prepare a broadcast of MESSAGE for each member of --team. Each member
confirms it (XMPP command "Broadcasts to confirm") before it goes to their
own contacts with tag --tag, or declines it; nothing goes out before.`,
		Example: `  kakehashi broadcasts prepare --team hana,ken --tag expo --subject "Thank you" \
      --reason "expo follow-up" "Thank you for visiting our booth!"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			req.Team, req.Body = splitList(team), args[0]
			if len(req.Team) == 0 || req.Tag == "" {
				return fmt.Errorf("usage: %s: --team and --tag are required", cmd.UseLine())
			}
			if req.Reason == "" {
				return errNoReason
			}
			b, err := c.PrepareBroadcast(cmd.Context(), req)
			if err != nil {
				return err
			}
			return o.show(broadcastTable(b))
		},
	}
	prep.Flags().StringVar(&team, "team", "", "comma-separated employees `A,B` who each confirm their copy (required)")
	prep.Flags().StringVar(&req.Tag, "tag", "", "each member's contacts with `TAG` receive it (required)")
	prep.Flags().StringVar(&req.Subject, "subject", "", "the subject line `TEXT` (mail)")
	prep.Flags().StringVar(&req.Reason, "reason", "", "`TEXT` saying why, for the audit log (required)")
	cmd.AddCommand(prep)

	cmd.AddCommand(&cobra.Command{
		Use:     "show ID",
		Short:   "Show a broadcast's sent, skipped and failed counts",
		Long:    `Show a broadcast's sent, skipped and failed counts; a team broadcast's per member.`,
		Example: `  kakehashi broadcasts show b-31c0`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			b, err := c.GetBroadcast(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.show(broadcastTable(b))
		},
	})
	return cmd
}

func directoryCmd(o *conn) *cobra.Command {
	cmd := group("directory", "Create or update employees and personas from a file",
		`The directory is the company's employees and personas, kept in a file.`)
	var reason string
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Create or update the employees and personas of a YAML or JSON file",
		Long: `Create or update the employees and personas of FILE (YAML or JSON, with
the admin API's field names: employees, personas, reason). An unknown
field is refused. They are written one by one: on an error, those before
it are stored.`,
		Example: `  kakehashi directory import examples/directory.yaml --config examples/kakehashi.yaml`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			d, err := readDirectory(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if reason != "" {
				d.Reason = reason
			}
			if _, err := c.ImportDirectory(cmd.Context(), d); err != nil {
				return err
			}
			return o.show(line("imported %d employees and %d personas from %s", len(d.Employees), len(d.Personas), args[0]))
		},
	}
	imp.Flags().StringVar(&reason, "reason", "", "`TEXT` saying why, for the audit log (default: the file's reason, or \"directory import\")")
	cmd.AddCommand(imp)
	return cmd
}

func auditCmd(o *conn) *cobra.Command {
	var q adminapi.AuditQuery
	cmd := &cobra.Command{
		Use:     "audit",
		GroupID: adminGroup,
		Short:   "Read the audit log of every change",
		Long: `Read the append-only audit log: every change, with who made it (the
holder of the token), when, what it was about and why, oldest first.`,
		Example: `  kakehashi audit --action contacts.transfer
  kakehashi audit --subject t-8d1e --json
  kakehashi audit --after 1200 --limit 500`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			es, err := c.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			return o.show(auditTable(es))
		},
	}
	cmd.Flags().StringVar(&q.Action, "action", "", "only `ACTION`, e.g. contacts.transfer, employee.depart")
	cmd.Flags().StringVar(&q.Subject, "subject", "", "only entries about `SUBJECT` (an employee, a transfer, admin:NAME…)")
	cmd.Flags().Uint64Var(&q.After, "after", 0, "only entries after sequence number `SEQ`")
	cmd.Flags().IntVar(&q.Limit, "limit", 100, "at most `N` entries")
	return cmd
}

func queueCmd(o *conn) *cobra.Command {
	return &cobra.Command{
		Use:     "queue",
		GroupID: adminGroup,
		Short:   "Count the queue's messages by state",
		Long:    `Count the durable queue's messages by state: pending, sent and failed.`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			st, err := c.QueueStats(cmd.Context())
			if err != nil {
				return err
			}
			return o.show(queueTable(st))
		},
	}
}

func adminsCmd(o *conn) *cobra.Command {
	cmd := group("admins", "Give each admin a token of their own (and a console password), list and revoke them",
		`Named admin tokens. The audit log names whoever holds the token:
"admin:bootstrap" for config's admin.token (meant for first setup),
"admin:NAME" for a token from admins add. Only a token's hash is kept.`)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List named admin tokens: role, created, last used, revoked",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			l, err := c.ListAdmins(cmd.Context())
			if err != nil {
				return err
			}
			return o.show(adminsTable(l))
		},
	})

	var req adminapi.AdminRequest
	var role, addPasswordFile string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a token for NAME, printed once",
		Long: `Create a token for NAME and print it, this once (only its hash is kept).
The audit log names NAME for what is done with it. Role admin reads and
changes everything; role auditor only reads (lists, audit, queue,
transfers, broadcasts, metrics); role lead reads and changes only what
concerns the members of its --team (an employee department).
--password-file gives NAME a password for the web console too (the
file's first line; see kakehashi admins password).`,
		Example: `  kakehashi admins add ana
  kakehashi admins add kpmg.audit --role auditor --reason "annual audit"
  kakehashi admins add lea --role lead --team Sales --password-file lea.pw`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			req.Name, req.Role = args[0], identity.AdminRole(role)
			if req.Reason == "" {
				req.Reason = "admin token for " + req.Name
			}
			if addPasswordFile != "" {
				if req.Password, err = readPassword(nil, addPasswordFile); err != nil {
					return err
				}
			}
			n, err := c.AddAdmin(cmd.Context(), req)
			if err != nil {
				return err
			}
			return o.show(newAdminTable(n))
		},
	}
	add.Flags().StringVar(&role, "role", string(identity.RoleAdmin), "`ROLE` admin (reads and changes everything), auditor (reads only) or lead (only its team's)")
	add.Flags().StringVar(&req.Team, "team", "", "the `DEPARTMENT` a lead looks after (required for role lead)")
	add.Flags().StringVar(&addPasswordFile, "password-file", "", "give NAME a console password, read from the first line of `FILE`")
	add.Flags().StringVar(&req.Reason, "reason", "", "`TEXT` saying why, for the audit log (default \"admin token for NAME\")")
	cmd.AddCommand(add)

	var pwReason, pwFile string
	password := &cobra.Command{
		Use:   "password NAME",
		Short: "Set NAME's password for the web console",
		Long: `Set the password NAME signs in to the web console with (replacing any),
read from the first line of standard input or of --password-file: at
least ` + strconv.Itoa(identity.MinPasswordLen) + ` characters, not all white space. Only an argon2id hash
of it is kept; the audit log records that it was set, nothing of it.`,
		Example: `  kakehashi admins password lea --reason "console access" < lea.pw
  kakehashi admins password lea --reason "console access" --password-file lea.pw`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if pwReason == "" {
				return errNoReason
			}
			pw, err := readPassword(cmd.InOrStdin(), pwFile)
			if err != nil {
				return err
			}
			if _, err := c.SetAdminPassword(cmd.Context(), args[0], adminapi.PasswordRequest{Password: pw, Reason: pwReason}); err != nil {
				return err
			}
			return o.show(line("admin %s: console password set", args[0]))
		},
	}
	password.Flags().StringVar(&pwFile, "password-file", "", "read the password from the first line of `FILE` instead of standard input")
	password.Flags().StringVar(&pwReason, "reason", "", "`TEXT` saying why, for the audit log (required)")
	cmd.AddCommand(password)

	var reason string
	revoke := &cobra.Command{
		Use:     "revoke NAME",
		Short:   "Revoke NAME's token: it is refused from then on",
		Example: `  kakehashi admins revoke kpmg.audit --reason "audit finished"`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if reason == "" {
				return errNoReason
			}
			if _, err := c.RevokeAdmin(cmd.Context(), args[0], adminapi.ReasonRequest{Reason: reason}); err != nil {
				return err
			}
			return o.show(line("admin %s revoked: its token is refused from now on", args[0]))
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "`TEXT` saying why, for the audit log (required)")
	cmd.AddCommand(revoke)
	return cmd
}
