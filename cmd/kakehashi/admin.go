package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/identity"
)

// defaultAdminURL is where the admin API listens unless configured
// otherwise (config's admin.listen default).
const defaultAdminURL = "http://127.0.0.1:8765"

// conn is how an admin command reaches the admin API and prints its
// answer: the root's persistent flags, bound per run.
type conn struct {
	config, admin, token, actor string
	json                        bool
	stdout                      io.Writer
}

// register adds the connection flags to the root, for every command.
func (o *conn) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&o.config, "config", "", "read the admin API's address (admin.listen) and token (admin.token) from configuration `FILE`")
	fs.StringVar(&o.admin, "admin", "", "admin API base `URL` (default $KAKEHASHI_ADMIN_URL or "+defaultAdminURL+")")
	fs.StringVar(&o.token, "token", "", "admin `TOKEN` (default $KAKEHASHI_ADMIN_TOKEN); the audit log names its holder")
	fs.BoolVar(&o.json, "json", false, "print the admin API's JSON answer as it is, instead of a table")
	// The audit log takes the actor from the token now. A script that
	// still names one is told so, rather than believing it is recorded.
	fs.StringVar(&o.actor, "actor", "", "no longer accepted: the audit log names the holder of the token (see kakehashi admins add)")
	_ = fs.MarkHidden("actor")
}

// client returns the admin API client the flags, the configuration file
// and the environment describe, in that order of precedence. With --json
// it passes each answer to stdout as the server sent it.
func (o *conn) client() (*adminapi.Client, error) {
	if o.actor != "" {
		return nil, fmt.Errorf("--actor %q: the audit log names the holder of the token, not a flag; give each admin a token of their own with `kakehashi admins add NAME`", o.actor)
	}
	base, token := o.admin, o.token
	if o.config != "" {
		cfg, err := config.Load(o.config)
		if err != nil {
			return nil, err
		}
		if base == "" {
			base = "http://" + cfg.Admin.Listen
		}
		if token == "" {
			token = cfg.Admin.Token.Reveal()
		}
	}
	if base == "" {
		base = os.Getenv("KAKEHASHI_ADMIN_URL")
	}
	if base == "" {
		base = defaultAdminURL
	}
	if token == "" {
		token = os.Getenv("KAKEHASHI_ADMIN_TOKEN")
	}
	if token == "" {
		return nil, errors.New("no admin token: pass --config FILE, --token, or set KAKEHASHI_ADMIN_TOKEN")
	}
	c := adminapi.NewClient(base, token, &http.Client{Timeout: 60 * time.Second})
	if o.json {
		c = c.Tee(o.stdout)
	}
	return c, nil
}

// show prints an answer as a table, unless --json already passed the
// server's JSON on.
func (o *conn) show(table func(w io.Writer)) error {
	if o.json {
		return nil
	}
	w := tabwriter.NewWriter(o.stdout, 2, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// errNoReason is the error of a change made without saying why.
var errNoReason = errors.New("--reason is required: say why, for the audit log")

func employeesTable(es []identity.Employee) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tSTATUS\tPERSONA\tINSIDE ADDRESS\tSUCCESSOR")
		for _, e := range es {
			addr := ""
			if len(e.InsideAddrs) > 0 {
				addr = e.InsideAddrs[0].Addr
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Name, e.Status, e.DefaultPersona, addr, e.SuccessorID)
		}
	}
}

func personasTable(ps []identity.Persona) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintln(w, "ID\tDISPLAY NAME\tKIND\tEMPLOYEE\tADDRESSES")
		for _, p := range ps {
			var as []string
			for _, a := range p.Addresses {
				as = append(as, a.Network+":"+a.Addr)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.DisplayName, p.Kind, p.EmployeeID, strings.Join(as, " "))
		}
	}
}

func contactsTable(cs []adminapi.ContactView) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintln(w, "RELATIONSHIP\tNETWORK\tADDRESS\tPERSONA\tOWNER\tSOURCE\tTAGS\tLAST ACTIVITY\tGONE")
		for _, v := range cs {
			o := v.Relationship.OwnerID
			if o == "" {
				o = "(unassigned)"
			}
			last := "-"
			if !v.Relationship.LastActivity.IsZero() {
				last = v.Relationship.LastActivity.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Relationship.ID, v.Contact.Address.Network, v.Contact.Address.Addr,
				v.Relationship.PersonaID, o, v.Contact.Source, strings.Join(v.Relationship.Tags, ","), last, v.Relationship.Gone)
		}
	}
}

// transferTable shows a transfer (a departure's and a revert's too) and
// how to undo it; title names what it was.
func transferTable(t *identity.Transfer, title string) func(io.Writer) {
	return func(w io.Writer) {
		switch {
		case t.RevertOf != "":
			fmt.Fprintf(w, "%s %s: reverts %s, %d relationship(s) moved back\n", title, t.ID, t.RevertOf, len(t.Moves))
		default:
			to := t.To
			switch {
			case len(t.Targets) > 0:
				to = strings.Join(t.Targets, ", ") + " (" + string(t.Strategy) + ")"
			case to == "":
				to = "the unassigned pool"
			}
			from := t.From
			if from == "" {
				from = "the selected owners"
			}
			fmt.Fprintf(w, "%s %s: %d relationship(s) moved from %s to %s\n", title, t.ID, len(t.Moves), from, to)
		}
		fmt.Fprintln(w, "  RELATIONSHIP\tCONTACT\tOWNER\tPERSONA")
		for _, m := range t.Moves {
			fmt.Fprintf(w, "  %s\t%s\t%s → %s\t%s → %s\n", m.RelationshipID, m.ContactID, orPool(m.FromOwner), orPool(m.ToOwner), m.FromPersona, m.ToPersona)
		}
		fmt.Fprintf(w, "undo with: kakehashi transfers revert %s --reason TEXT\n", t.ID)
	}
}

// previewTable shows what a transfer or a departure (what) would do.
func previewTable(res *adminapi.TransferResult, what string) func(io.Writer) {
	return func(w io.Writer) {
		p := res.Preview
		if p == nil {
			fmt.Fprintf(w, "%s: the server answered no preview\n", what)
			return
		}
		var to []string
		for _, t := range p.Targets {
			to = append(to, fmt.Sprintf("%s %d", orPool(t.To), t.Count))
		}
		if len(to) == 0 {
			to = []string{"nobody"}
		}
		notify := "no"
		if p.Notify {
			notify = "yes"
		}
		fmt.Fprintf(w, "preview of %s (nothing changed): %d relationship(s) would move: %s; contacts notified: %s\n",
			what, p.Count, strings.Join(to, ", "), notify)
		fmt.Fprintln(w, "  RELATIONSHIP\tCONTACT\tOWNER\tPERSONA")
		for _, m := range res.Moves {
			fmt.Fprintf(w, "  %s\t%s\t%s → %s\t%s → %s\n", m.RelationshipID, m.ContactID, orPool(m.FromOwner), orPool(m.ToOwner), m.FromPersona, m.ToPersona)
		}
	}
}

// revertTable shows a revert and what its contacts were told.
func revertTable(res *adminapi.RevertResult) func(io.Writer) {
	return func(w io.Writer) {
		transferTable(res.Transfer, "revert")(w)
		switch {
		case res.ToldAtTransfer && res.Notified:
			fmt.Fprintf(w, "the contacts were told at transfer %s (%d notice(s)); %d told again who looks after them now\n",
				res.RevertOf, res.NotifiedAtTransfer, res.Notices)
		case res.ToldAtTransfer:
			fmt.Fprintf(w, "the contacts were told at transfer %s (%d notice(s)) and were NOT told of this revert (--notify=false)\n",
				res.RevertOf, res.NotifiedAtTransfer)
		case res.Notified:
			fmt.Fprintf(w, "%d contact(s) told who looks after them now\n", res.Notices)
		}
	}
}

func relationshipTable(r *identity.Relationship) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintf(w, "%s\ttags: %s\tremark: %s\n", r.ID, strings.Join(r.Tags, ","), r.Remark)
	}
}

func broadcastTable(b *adminapi.Broadcast) func(io.Writer) {
	return func(w io.Writer) {
		who := b.OwnerID
		if len(b.Team) > 0 {
			who = "team " + strings.Join(b.Team, ", ")
		}
		fmt.Fprintf(w, "broadcast %s (%s) for %s, tag %q: %s\n", b.ID, b.State, who, b.Tag, b.Summary())
		if len(b.Members) > 0 {
			fmt.Fprintln(w, "  MEMBER\tBROADCAST\tSTATE\tQUEUED\tSENT\tFAILED\tSKIPPED CAP\tSKIPPED GONE")
			for _, m := range b.Members {
				fmt.Fprintf(w, "  %s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", m.OwnerID, m.ID, m.State, m.Queued, m.Sent, m.Failed, m.SkippedCap, m.SkippedGone)
			}
		}
	}
}

func auditTable(es []identity.AuditEntry) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintln(w, "SEQ\tWHEN\tACTOR\tACTION\tSUBJECT\tREASON")
		for _, e := range es {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Subject, e.Reason)
		}
	}
}

func queueTable(st adminapi.QueueStats) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintln(w, "STATE\tMESSAGES")
		for _, s := range []string{"pending", "sent", "failed"} {
			fmt.Fprintf(w, "%s\t%d\n", s, st[s])
		}
	}
}

func adminsTable(l []identity.Admin) func(io.Writer) {
	return func(w io.Writer) {
		when := func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format(time.RFC3339)
		}
		fmt.Fprintln(w, "NAME\tROLE\tTEAM\tPASSWORD\tCREATED\tCREATED BY\tLAST USED\tREVOKED")
		for _, a := range l {
			revoked := "-"
			if a.Revoked() {
				revoked = when(a.RevokedAt) + " by " + a.RevokedBy
			}
			team, pw := a.Team, "no"
			if team == "" {
				team = "-"
			}
			if a.HasPassword {
				pw = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Role, team, pw, when(a.CreatedAt), a.CreatedBy, when(a.LastUsed), revoked)
		}
		if len(l) == 0 {
			fmt.Fprintln(w, "(no named admins: only the bootstrap token from config; add one with kakehashi admins add NAME)")
		}
	}
}

func newAdminTable(n *adminapi.NewAdmin) func(io.Writer) {
	return func(w io.Writer) {
		role := string(n.Admin.Role)
		if n.Admin.Team != "" {
			role += " for team " + n.Admin.Team
		}
		fmt.Fprintf(w, "admin %s added with role %s. Its token, shown only this once:\n\n  %s\n\n", n.Admin.Name, role, n.Token)
		fmt.Fprintf(w, "Give it to %s over a safe channel; they pass it with --token or KAKEHASHI_ADMIN_TOKEN,\n", n.Admin.Name)
		fmt.Fprintf(w, "and the audit log names them as %s. Revoke it with: kakehashi admins revoke %s --reason TEXT\n", n.Admin.Actor(), n.Admin.Name)
	}
}

// line is a table of one line of text.
func line(format string, a ...any) func(io.Writer) {
	return func(w io.Writer) { fmt.Fprintf(w, format+"\n", a...) }
}

func orPool(owner string) string {
	if owner == "" {
		return "(pool)"
	}
	return owner
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// readDirectory reads a directory file (YAML or JSON) with the same field
// names as the admin API's JSON, rejecting unknown fields.
func readDirectory(data []byte) (adminapi.Directory, error) {
	var d adminapi.Directory
	var generic any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		return d, err
	}
	j, err := json.Marshal(generic)
	if err != nil {
		return d, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, err
	}
	return d, nil
}

// readPassword reads a password from the first line of file, or of in
// when file is "": its line ending is not part of it, nothing else is
// trimmed. The password is never shown, and an error never repeats it.
func readPassword(in io.Reader, file string) (string, error) {
	from := "standard input"
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		in, from = f, file
	}
	if in == nil {
		return "", errors.New("no password given: pass --password-file FILE")
	}
	// One line, and not more than a password can be (the server refuses
	// longer ones): a file given by mistake is not read whole.
	r := bufio.NewReaderSize(io.LimitReader(in, identity.MaxPasswordBytes+2), identity.MaxPasswordBytes+2)
	pw, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from %s: %w", from, err)
	}
	if !strings.HasSuffix(pw, "\n") && len(pw) > identity.MaxPasswordBytes {
		return "", fmt.Errorf("the password in %s is longer than %d bytes", from, identity.MaxPasswordBytes)
	}
	pw = strings.TrimSuffix(strings.TrimSuffix(pw, "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("no password in %s: give it on the first line", from)
	}
	return pw, nil
}
