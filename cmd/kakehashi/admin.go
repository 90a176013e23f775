package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// client talks to a running gateway's admin API. The API names the
// caller in its audit log from the token alone.
type client struct {
	base  string
	token string
	http  *http.Client
}

// commonFlags are the flags every admin command accepts.
type commonFlags struct {
	config, admin, token, actor string
	json                        bool
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "read the admin address and token from this configuration file")
	fs.StringVar(&c.admin, "admin", "", "admin API base URL (default $KAKEHASHI_ADMIN_URL or http://127.0.0.1:8765)")
	fs.StringVar(&c.token, "token", "", "admin token (default $KAKEHASHI_ADMIN_TOKEN)")
	// The audit log takes the actor from the token now. A script that
	// still names one is told so, rather than believing it is recorded.
	fs.StringVar(&c.actor, "actor", "", "no longer accepted: the audit log names the holder of the token (see kakehashi admins add)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
}

func (c *commonFlags) client() (*client, error) {
	if c.actor != "" {
		return nil, fmt.Errorf("--actor %q: the audit log names the holder of the token, not a flag; give each admin a token of their own with `kakehashi admins add NAME`", c.actor)
	}
	base, token := c.admin, c.token
	if c.config != "" {
		cfg, err := config.Load(c.config)
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
		base = "http://127.0.0.1:8765"
	}
	if token == "" {
		token = os.Getenv("KAKEHASHI_ADMIN_TOKEN")
	}
	if token == "" {
		return nil, errors.New("no admin token: pass --config FILE, --token, or set KAKEHASHI_ADMIN_TOKEN")
	}
	return &client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w (is `kakehashi serve` running?)", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	if out != nil {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = data
			return nil
		}
		return json.Unmarshal(data, out)
	}
	return nil
}

// parseInterleaved parses flags that may come before or after positional
// arguments ("depart hana --successor ken").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func admin(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	sub := ""
	if cmd != "audit" && cmd != "queue" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("usage: kakehashi %s SUBCOMMAND (see kakehashi help)", cmd)
		}
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(strings.TrimSpace(cmd+" "+sub), flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	successor := fs.String("successor", "", "employee who takes over (depart)")
	reason := fs.String("reason", "", "why, for the audit log")
	from := fs.String("from", "", "current owner (transfer)")
	to := fs.String("to", "", "new owner; empty sends to the unassigned pool (transfer)")
	team := fs.String("team", "", "comma-separated employees to spread over (transfer, depart)")
	strategy := fs.String("strategy", "", "round-robin (default) or least-loaded (with --team)")
	owner := fs.String("owner", "", "only contacts owned by this employee (contacts list)")
	unassigned := fs.Bool("unassigned", false, "only contacts in the unassigned pool (contacts list, transfer)")
	persona := fs.String("persona", "", "only relationships on this persona (contacts list, transfer)")
	tag := fs.String("tag", "", "only relationships with this tag (contacts list, transfer)")
	source := fs.String("source", "", "only contacts from this source (contacts list, transfer)")
	network := fs.String("network", "", "only contacts on this network (contacts list, transfer)")
	idleFor := fs.Duration("idle-for", 0, "only relationships without traffic for this long, e.g. 720h (contacts list)")
	activeWithin := fs.Duration("active-within", 0, "only relationships with traffic within this long (contacts list)")
	var contactIDs, relIDs listFlag
	fs.Var(&contactIDs, "contact", "a contact ID; repeat for more (transfer)")
	fs.Var(&relIDs, "relationship", "a relationship ID; repeat for more (transfer)")
	add := fs.String("add", "", "comma-separated tags to add (contacts tag)")
	remove := fs.String("remove", "", "comma-separated tags to remove (contacts tag)")
	var notify optBool
	fs.Var(&notify, "notify", "send each moved contact a handover notice from their new persona (transfer); on revert, default: yes if the transfer notified")
	role := fs.String("role", string(identity.RoleAdmin), "admin (reads and changes everything) or auditor (reads only) (admins add)")
	action := fs.String("action", "", "only this action (audit)")
	subject := fs.String("subject", "", "only this subject (audit); the subject line (broadcasts prepare)")
	after := fs.Uint64("after", 0, "entries after this sequence number (audit)")
	limit := fs.Int("limit", 100, "at most this many entries (audit)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	one := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("usage: kakehashi %s %s ID", cmd, sub)
		}
		return pos[0], nil
	}
	var raw json.RawMessage
	var table func(w *tabwriter.Writer) error
	switch cmd + " " + sub {
	case "employees list":
		var es []identity.Employee
		if err := c.do(ctx, "GET", "/v1/employees", nil, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error {
			if err := json.Unmarshal(raw, &es); err != nil {
				return err
			}
			fmt.Fprintln(w, "ID\tNAME\tSTATUS\tPERSONA\tINSIDE ADDRESS\tSUCCESSOR")
			for _, e := range es {
				addr := ""
				if len(e.InsideAddrs) > 0 {
					addr = e.InsideAddrs[0].Addr
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Name, e.Status, e.DefaultPersona, addr, e.SuccessorID)
			}
			return nil
		}
	case "employees depart":
		id, err := one()
		if err != nil {
			return err
		}
		r := *reason
		if r == "" {
			r = "departure"
		}
		if err := c.do(ctx, "POST", "/v1/employees/"+url.PathEscape(id)+"/depart",
			gateway.DepartRequest{Successor: *successor, Team: splitList(*team), Strategy: *strategy, Reason: r}, &raw); err != nil {
			return err
		}
		table = transferTable(raw, fmt.Sprintf("%s departed", id))
	case "employees reactivate":
		id, err := one()
		if err != nil {
			return err
		}
		if *reason == "" {
			return errors.New("--reason is required: say why, for the audit log")
		}
		if err := c.do(ctx, "POST", "/v1/employees/"+url.PathEscape(id)+"/reactivate", gateway.ReasonRequest{Reason: *reason}, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error { fmt.Fprintf(w, "%s is active again\n", id); return nil }
	case "personas list":
		if err := c.do(ctx, "GET", "/v1/personas", nil, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error {
			var ps []identity.Persona
			if err := json.Unmarshal(raw, &ps); err != nil {
				return err
			}
			fmt.Fprintln(w, "ID\tDISPLAY NAME\tKIND\tEMPLOYEE\tADDRESSES")
			for _, p := range ps {
				var as []string
				for _, a := range p.Addresses {
					as = append(as, a.Network+":"+a.Addr)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.DisplayName, p.Kind, p.EmployeeID, strings.Join(as, " "))
			}
			return nil
		}
	case "contacts list", "contacts unassigned":
		q := url.Values{}
		switch {
		case *unassigned || sub == "unassigned":
			q.Set("unassigned", "1")
		case *owner != "":
			q.Set("owner", *owner)
		}
		for k, v := range map[string]string{"persona": *persona, "tag": *tag, "source": *source, "network": *network} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if *idleFor > 0 {
			q.Set("active_before", time.Now().Add(-*idleFor).UTC().Format(time.RFC3339))
		}
		if *activeWithin > 0 {
			q.Set("active_after", time.Now().Add(-*activeWithin).UTC().Format(time.RFC3339))
		}
		path := "/v1/contacts"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		if err := c.do(ctx, "GET", path, nil, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error {
			var cs []gateway.ContactView
			if err := json.Unmarshal(raw, &cs); err != nil {
				return err
			}
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
			return nil
		}
	case "contacts transfer":
		req := gateway.TransferRequest{From: *from, To: *to, Team: splitList(*team), Strategy: *strategy,
			Persona: *persona, Tag: *tag, Source: *source, Network: *network, Unassigned: *unassigned,
			Contacts: contactIDs, Relationships: relIDs, Notify: notify.value, Reason: *reason}
		if req.From == "" && req.Persona == "" && req.Tag == "" && req.Source == "" && req.Network == "" &&
			!req.Unassigned && len(req.Contacts) == 0 && len(req.Relationships) == 0 {
			return errors.New("usage: kakehashi contacts transfer [--from ID] [--persona P] [--tag T] [--source S] [--network N] [--unassigned] [--contact ID]... [--relationship ID]... [--to ID | --team A,B [--strategy round-robin|least-loaded]] --reason TEXT (select with at least one of --from and the filters)")
		}
		if *reason == "" {
			return errors.New("--reason is required: say why, for the audit log")
		}
		if err := c.do(ctx, "POST", "/v1/transfers", req, &raw); err != nil {
			return err
		}
		table = transferTable(raw, "transfer")
		if req.Notify {
			table = withNotices(table, raw)
		}
	case "contacts tag":
		id, err := one()
		if err != nil {
			return err
		}
		req := gateway.TagsRequest{Add: splitList(*add), Remove: splitList(*remove), Reason: *reason}
		if len(req.Add) == 0 && len(req.Remove) == 0 {
			return errors.New("usage: kakehashi contacts tag RELATIONSHIP [--add A,B] [--remove C]")
		}
		if err := c.do(ctx, "POST", "/v1/relationships/"+url.PathEscape(id)+"/tags", req, &raw); err != nil {
			return err
		}
		table = relationshipTable(raw)
	case "contacts remark":
		if len(pos) != 2 {
			return errors.New(`usage: kakehashi contacts remark RELATIONSHIP "TEXT" (empty text clears it)`)
		}
		if err := c.do(ctx, "POST", "/v1/relationships/"+url.PathEscape(pos[0])+"/remark", gateway.RemarkRequest{Remark: pos[1], Reason: *reason}, &raw); err != nil {
			return err
		}
		table = relationshipTable(raw)
	case "transfers show":
		id, err := one()
		if err != nil {
			return err
		}
		if err := c.do(ctx, "GET", "/v1/transfers/"+url.PathEscape(id), nil, &raw); err != nil {
			return err
		}
		table = transferTable(raw, "transfer")
	case "transfers revert":
		id, err := one()
		if err != nil {
			return err
		}
		if *reason == "" {
			return errors.New("--reason is required: say why, for the audit log")
		}
		req := gateway.RevertRequest{Reason: *reason}
		if notify.set {
			req.Notify = &notify.value
		}
		if err := c.do(ctx, "POST", "/v1/transfers/"+url.PathEscape(id)+"/revert", req, &raw); err != nil {
			return err
		}
		table = revertTable(raw)
	case "admins list":
		if len(pos) != 0 {
			return errors.New("usage: kakehashi admins list")
		}
		if err := c.do(ctx, "GET", "/v1/admins", nil, &raw); err != nil {
			return err
		}
		table = adminsTable(raw)
	case "admins add":
		name, err := one()
		if err != nil {
			return errors.New("usage: kakehashi admins add NAME [--role admin|auditor] [--reason TEXT]")
		}
		r := *reason
		if r == "" {
			r = "admin token for " + name
		}
		req := gateway.AdminRequest{Name: name, Role: identity.AdminRole(*role), Reason: r}
		if err := c.do(ctx, "POST", "/v1/admins", req, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error {
			var n gateway.NewAdmin
			if err := json.Unmarshal(raw, &n); err != nil {
				return err
			}
			fmt.Fprintf(w, "admin %s added with role %s. Its token, shown only this once:\n\n  %s\n\n", n.Admin.Name, n.Admin.Role, n.Token)
			fmt.Fprintf(w, "Give it to %s over a safe channel; they pass it with --token or KAKEHASHI_ADMIN_TOKEN,\n", n.Admin.Name)
			fmt.Fprintf(w, "and the audit log names them as %s. Revoke it with: kakehashi admins revoke %s --reason TEXT\n", n.Admin.Actor(), n.Admin.Name)
			return nil
		}
	case "admins revoke":
		name, err := one()
		if err != nil {
			return errors.New("usage: kakehashi admins revoke NAME --reason TEXT")
		}
		if *reason == "" {
			return errors.New("--reason is required: say why, for the audit log")
		}
		if err := c.do(ctx, "POST", "/v1/admins/"+url.PathEscape(name)+"/revoke", gateway.ReasonRequest{Reason: *reason}, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error {
			fmt.Fprintf(w, "admin %s revoked: its token is refused from now on\n", name)
			return nil
		}
	case "broadcasts prepare":
		if len(pos) != 1 || *team == "" || *tag == "" {
			return errors.New(`usage: kakehashi broadcasts prepare --team A,B --tag T [--subject S] --reason TEXT "MESSAGE"`)
		}
		if *reason == "" {
			return errors.New("--reason is required: say why, for the audit log")
		}
		req := gateway.BroadcastRequest{Team: splitList(*team), Tag: *tag, Subject: *subject, Body: pos[0], Reason: *reason}
		if err := c.do(ctx, "POST", "/v1/broadcasts", req, &raw); err != nil {
			return err
		}
		table = broadcastTable(raw)
	case "broadcasts show":
		id, err := one()
		if err != nil {
			return err
		}
		if err := c.do(ctx, "GET", "/v1/broadcasts/"+url.PathEscape(id), nil, &raw); err != nil {
			return err
		}
		table = broadcastTable(raw)
	case "directory import":
		if len(pos) != 1 {
			return errors.New("usage: kakehashi directory import FILE")
		}
		data, err := os.ReadFile(pos[0])
		if err != nil {
			return err
		}
		d, err := readDirectory(data)
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		if *reason != "" {
			d.Reason = *reason
		}
		if err := c.do(ctx, "POST", "/v1/directory", d, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error {
			fmt.Fprintf(w, "imported %d employees and %d personas from %s\n", len(d.Employees), len(d.Personas), pos[0])
			return nil
		}
	case "audit ":
		q := url.Values{}
		q.Set("limit", fmt.Sprint(*limit))
		if *after > 0 {
			q.Set("after", fmt.Sprint(*after))
		}
		if *action != "" {
			q.Set("action", *action)
		}
		if *subject != "" {
			q.Set("subject", *subject)
		}
		if err := c.do(ctx, "GET", "/v1/audit?"+q.Encode(), nil, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error {
			var es []identity.AuditEntry
			if err := json.Unmarshal(raw, &es); err != nil {
				return err
			}
			fmt.Fprintln(w, "SEQ\tWHEN\tACTOR\tACTION\tSUBJECT\tREASON")
			for _, e := range es {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Subject, e.Reason)
			}
			return nil
		}
	case "queue ":
		if err := c.do(ctx, "GET", "/v1/queue", nil, &raw); err != nil {
			return err
		}
		table = func(w *tabwriter.Writer) error {
			var st map[string]int64
			if err := json.Unmarshal(raw, &st); err != nil {
				return err
			}
			fmt.Fprintln(w, "STATE\tMESSAGES")
			for _, s := range []string{"pending", "sent", "failed"} {
				fmt.Fprintf(w, "%s\t%d\n", s, st[s])
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown command %q (see kakehashi help)", strings.TrimSpace(cmd+" "+sub))
	}
	if cf.json {
		_, err := stdout.Write(raw)
		return err
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	if err := table(w); err != nil {
		return err
	}
	return w.Flush()
}

func transferTable(raw json.RawMessage, title string) func(w *tabwriter.Writer) error {
	return func(w *tabwriter.Writer) error {
		var t identity.Transfer
		if err := json.Unmarshal(raw, &t); err != nil {
			return err
		}
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
		return nil
	}
}

// withNotices adds to a transfer's table how many contacts were told.
func withNotices(table func(w *tabwriter.Writer) error, raw json.RawMessage) func(w *tabwriter.Writer) error {
	return func(w *tabwriter.Writer) error {
		if err := table(w); err != nil {
			return err
		}
		var res gateway.TransferResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return err
		}
		fmt.Fprintf(w, "%d contact(s) told who looks after them now\n", res.Notices)
		return nil
	}
}

// revertTable shows a revert and what its contacts were told.
func revertTable(raw json.RawMessage) func(w *tabwriter.Writer) error {
	return func(w *tabwriter.Writer) error {
		if err := transferTable(raw, "revert")(w); err != nil {
			return err
		}
		var res gateway.RevertResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return err
		}
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
		return nil
	}
}

// adminsTable lists admin credentials.
func adminsTable(raw json.RawMessage) func(w *tabwriter.Writer) error {
	return func(w *tabwriter.Writer) error {
		var l []identity.Admin
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		when := func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format(time.RFC3339)
		}
		fmt.Fprintln(w, "NAME\tROLE\tCREATED\tCREATED BY\tLAST USED\tREVOKED")
		for _, a := range l {
			revoked := "-"
			if a.Revoked() {
				revoked = when(a.RevokedAt) + " by " + a.RevokedBy
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Role, when(a.CreatedAt), a.CreatedBy, when(a.LastUsed), revoked)
		}
		if len(l) == 0 {
			fmt.Fprintln(w, "(no named admins: only the bootstrap token from config; add one with kakehashi admins add NAME)")
		}
		return nil
	}
}

func broadcastTable(raw json.RawMessage) func(w *tabwriter.Writer) error {
	return func(w *tabwriter.Writer) error {
		var b gateway.Broadcast
		if err := json.Unmarshal(raw, &b); err != nil {
			return err
		}
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
		return nil
	}
}

func orPool(owner string) string {
	if owner == "" {
		return "(pool)"
	}
	return owner
}

func relationshipTable(raw json.RawMessage) func(w *tabwriter.Writer) error {
	return func(w *tabwriter.Writer) error {
		var r identity.Relationship
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\ttags: %s\tremark: %s\n", r.ID, strings.Join(r.Tags, ","), r.Remark)
		return nil
	}
}

// optBool is a boolean flag that knows whether it was given, for
// defaults that depend on something else (--notify on revert).
type optBool struct{ value, set bool }

func (b *optBool) String() string   { return strconv.FormatBool(b.value) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("want true or false, not %q", v)
	}
	b.value, b.set = x, true
	return nil
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

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
func readDirectory(data []byte) (gateway.Directory, error) {
	var d gateway.Directory
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
