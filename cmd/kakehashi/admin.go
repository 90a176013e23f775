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
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// client talks to a running gateway's admin API.
type client struct {
	base  string
	token string
	actor string
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
	fs.StringVar(&c.actor, "actor", "", "who is acting, for the audit log (default $USER)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
}

func (c *commonFlags) client() (*client, error) {
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
	actor := c.actor
	if actor == "" {
		actor = os.Getenv("USER")
	}
	if actor == "" {
		if u, err := user.Current(); err == nil {
			actor = u.Username
		}
	}
	return &client{base: strings.TrimRight(base, "/"), token: token, actor: actor, http: &http.Client{Timeout: 60 * time.Second}}, nil
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
	if c.actor != "" {
		req.Header.Set("X-Kakehashi-Actor", c.actor)
	}
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
	owner := fs.String("owner", "", "only contacts owned by this employee (contacts list)")
	unassigned := fs.Bool("unassigned", false, "only contacts in the unassigned pool (contacts list)")
	action := fs.String("action", "", "only this action (audit)")
	subject := fs.String("subject", "", "only this subject (audit)")
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
		if err := c.do(ctx, "POST", "/v1/employees/"+url.PathEscape(id)+"/depart", gateway.DepartRequest{Successor: *successor, Reason: r}, &raw); err != nil {
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
	case "contacts list":
		q := url.Values{}
		if *unassigned {
			q.Set("owner", "")
		} else if *owner != "" {
			q.Set("owner", *owner)
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
			fmt.Fprintln(w, "CONTACT\tNETWORK\tADDRESS\tPERSONA\tOWNER\tSOURCE")
			for _, v := range cs {
				o := v.Relationship.OwnerID
				if o == "" {
					o = "(unassigned)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Contact.ID, v.Contact.Address.Network, v.Contact.Address.Addr, v.Relationship.PersonaID, o, v.Contact.Source)
			}
			return nil
		}
	case "contacts transfer":
		if *from == "" {
			return errors.New("usage: kakehashi contacts transfer --from ID [--to ID] --reason TEXT")
		}
		if *reason == "" {
			return errors.New("--reason is required: say why, for the audit log")
		}
		if err := c.do(ctx, "POST", "/v1/transfers", gateway.TransferRequest{From: *from, To: *to, Reason: *reason}, &raw); err != nil {
			return err
		}
		table = transferTable(raw, "transfer")
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
		to := t.To
		if to == "" {
			to = "the unassigned pool"
		}
		fmt.Fprintf(w, "%s %s: %d relationship(s) moved from %s to %s\n", title, t.ID, len(t.Moves), t.From, to)
		for _, m := range t.Moves {
			fmt.Fprintf(w, "  %s\tcontact %s\t%s → %s\n", m.RelationshipID, m.ContactID, m.FromPersona, m.ToPersona)
		}
		return nil
	}
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
