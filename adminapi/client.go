package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// Error is an answer of the admin API that is not a success: its HTTP
// status and the server's account of what was wrong. Callers tell cases
// apart by Status (401 a missing, wrong or revoked token, 403 a role that
// may not do this, 404 something named that does not exist, 400 a
// request the server refused, 409 a conflict).
type Error struct {
	Status  int
	Message string
}

// Error returns the server's message alone when it gave one: it is
// written to be shown to a person as it is.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("admin API: %d %s", e.Status, http.StatusText(e.Status))
}

// Client calls the admin API of one gateway with one token; the audit log
// names whoever holds the token. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
	tee   io.Writer
}

// NewClient returns a client of the admin API at baseURL (for example
// http://127.0.0.1:8765) that authenticates with token. httpClient nil
// means http.DefaultClient, which has no timeout: pass one with a timeout,
// or give each call a context that ends.
func NewClient(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: httpClient}
}

// Tee returns a copy of c that also writes the body of each successful
// answer to w, as the server sent it, before decoding it: for callers
// that pass the server's JSON on unchanged (kakehashi --json) and so must
// not lose a field this package does not know.
func (c *Client) Tee(w io.Writer) *Client {
	cc := *c
	cc.tee = w
	return &cc
}

// Health returns the gateway's health. A degraded gateway (HTTP 503) is
// not an error: its Health says what is wrong.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	status, data, _, err := c.roundTrip(ctx, http.MethodGet, "/healthz", nil, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK && status != http.StatusServiceUnavailable {
		return nil, errorOf(status, data)
	}
	var h Health
	if err := c.decode("GET /healthz", data, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// Metrics returns the gateway's metrics in the Prometheus text format.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	var raw []byte
	if err := c.do(ctx, http.MethodGet, "/metrics", nil, nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// OpenAPI returns the API's OpenAPI 3.0 document (GET
// /v1/openapi.json) as the server sent it.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var raw []byte
	if err := c.do(ctx, http.MethodGet, "/v1/openapi.json", nil, nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// ListEmployees returns every employee, departed ones too, by ID.
func (c *Client) ListEmployees(ctx context.Context) ([]identity.Employee, error) {
	var es []identity.Employee
	if err := c.do(ctx, http.MethodGet, "/v1/employees", nil, nil, &es); err != nil {
		return nil, err
	}
	return es, nil
}

// UpsertEmployee creates or updates an employee and returns it as stored.
func (c *Client) UpsertEmployee(ctx context.Context, req EmployeeRequest) (*identity.Employee, error) {
	var e identity.Employee
	if err := c.do(ctx, http.MethodPost, "/v1/employees", nil, req, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Depart marks employee id departed and hands their relationships on as
// req says; it returns the transfer that moved them, which
// RevertTransfer can undo.
func (c *Client) Depart(ctx context.Context, id string, req DepartRequest) (*identity.Transfer, error) {
	var t identity.Transfer
	if err := c.do(ctx, http.MethodPost, "/v1/employees/"+url.PathEscape(id)+"/depart", nil, req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// PreviewDepart returns what Depart would do with req (the transfer that
// would be made, without an ID, and its Preview), changing nothing.
func (c *Client) PreviewDepart(ctx context.Context, id string, req DepartRequest) (*TransferResult, error) {
	req.Preview = true
	var res TransferResult
	if err := c.do(ctx, http.MethodPost, "/v1/employees/"+url.PathEscape(id)+"/depart", nil, req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Reactivate makes departed employee id active again and returns them.
func (c *Client) Reactivate(ctx context.Context, id string, req ReasonRequest) (*identity.Employee, error) {
	var e identity.Employee
	if err := c.do(ctx, http.MethodPost, "/v1/employees/"+url.PathEscape(id)+"/reactivate", nil, req, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// ListPersonas returns every persona, by ID.
func (c *Client) ListPersonas(ctx context.Context) ([]identity.Persona, error) {
	var ps []identity.Persona
	if err := c.do(ctx, http.MethodGet, "/v1/personas", nil, nil, &ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// UpsertPersona creates or updates a persona and returns it as stored.
func (c *Client) UpsertPersona(ctx context.Context, req PersonaRequest) (*identity.Persona, error) {
	var p identity.Persona
	if err := c.do(ctx, http.MethodPost, "/v1/personas", nil, req, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ListContacts returns the relationships q selects, one page of them.
func (c *Client) ListContacts(ctx context.Context, q ContactQuery) (*ContactPage, error) {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("owner", q.Owner)
	if q.Unassigned {
		v.Set("unassigned", "true")
	}
	set("persona", q.Persona)
	set("tag", q.Tag)
	set("source", q.Source)
	set("network", q.Network)
	set("order", q.Order)
	if len(q.Relationships) > 0 {
		v.Set("relationships", strings.Join(q.Relationships, ","))
	}
	for k, t := range map[string]time.Time{"active_after": q.ActiveAfter, "active_before": q.ActiveBefore} {
		if !t.IsZero() {
			v.Set(k, t.Format(time.RFC3339))
		}
	}
	for k, d := range map[string]time.Duration{"idle_for": q.IdleFor, "active_within": q.ActiveWithin} {
		if d != 0 {
			v.Set(k, d.String())
		}
	}
	if q.Offset != 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var page ContactPage
	header, err := c.send(ctx, http.MethodGet, "/v1/contacts", v, nil, &page.Contacts)
	if err != nil {
		return nil, err
	}
	page.Total = len(page.Contacts)
	if n, err := strconv.Atoi(header.Get("X-Total-Count")); err == nil {
		page.Total = n
	}
	return &page, nil
}

// Transfer moves the relationships req selects and returns the transfer,
// which RevertTransfer can undo.
func (c *Client) Transfer(ctx context.Context, req TransferRequest) (*TransferResult, error) {
	var res TransferResult
	if err := c.do(ctx, http.MethodPost, "/v1/transfers", nil, req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// PreviewTransfer returns what Transfer would do with req (the transfer
// that would be made, without an ID, and its Preview), changing,
// notifying and auditing nothing.
func (c *Client) PreviewTransfer(ctx context.Context, req TransferRequest) (*TransferResult, error) {
	req.Preview = true
	return c.Transfer(ctx, req)
}

// GetTransfer returns transfer id (a departure's or a revert's too),
// without what became of it (GetTransferView has that too).
func (c *Client) GetTransfer(ctx context.Context, id string) (*identity.Transfer, error) {
	var t identity.Transfer
	if err := c.do(ctx, http.MethodGet, "/v1/transfers/"+url.PathEscape(id), nil, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// GetTransferView returns a transfer with what became of it: whether it
// was reverted and whether its contacts were notified.
func (c *Client) GetTransferView(ctx context.Context, id string) (*TransferView, error) {
	var v TransferView
	if err := c.do(ctx, http.MethodGet, "/v1/transfers/"+url.PathEscape(id), nil, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// RevertTransfer moves the relationships of transfer id back, unless a
// later transfer moved one of them again.
func (c *Client) RevertTransfer(ctx context.Context, id string, req RevertRequest) (*RevertResult, error) {
	var res RevertResult
	if err := c.do(ctx, http.MethodPost, "/v1/transfers/"+url.PathEscape(id)+"/revert", nil, req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// EditTags sets, adds or removes tags of relationship id and returns the
// relationship.
func (c *Client) EditTags(ctx context.Context, id string, req TagsRequest) (*identity.Relationship, error) {
	var r identity.Relationship
	if err := c.do(ctx, http.MethodPost, "/v1/relationships/"+url.PathEscape(id)+"/tags", nil, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SetRemark sets (or, empty, clears) the remark of relationship id and
// returns the relationship.
func (c *Client) SetRemark(ctx context.Context, id string, req RemarkRequest) (*identity.Relationship, error) {
	var r identity.Relationship
	if err := c.do(ctx, http.MethodPost, "/v1/relationships/"+url.PathEscape(id)+"/remark", nil, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// PrepareBroadcast stores a team broadcast for each member to confirm and
// returns it with its members' copies.
func (c *Client) PrepareBroadcast(ctx context.Context, req BroadcastRequest) (*Broadcast, error) {
	var b Broadcast
	if err := c.do(ctx, http.MethodPost, "/v1/broadcasts", nil, req, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// GetBroadcast returns broadcast id and its outcome so far.
func (c *Client) GetBroadcast(ctx context.Context, id string) (*Broadcast, error) {
	var b Broadcast
	if err := c.do(ctx, http.MethodGet, "/v1/broadcasts/"+url.PathEscape(id), nil, nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ImportDirectory creates or updates the employees and personas of d.
// They are written one by one: on an error, those before it are stored.
func (c *Client) ImportDirectory(ctx context.Context, d Directory) (*DirectoryResult, error) {
	var res DirectoryResult
	if err := c.do(ctx, http.MethodPost, "/v1/directory", nil, d, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Audit returns the audit entries q selects, oldest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]identity.AuditEntry, error) {
	var es []identity.AuditEntry
	if err := c.do(ctx, http.MethodGet, "/v1/audit", q.values(), nil, &es); err != nil {
		return nil, err
	}
	return es, nil
}

// AuditCSV returns the audit entries q selects as CSV (GET
// /v1/audit.csv); the server audits the export.
func (c *Client) AuditCSV(ctx context.Context, q AuditQuery) ([]byte, error) {
	var raw []byte
	if err := c.do(ctx, http.MethodGet, "/v1/audit.csv", q.values(), nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// values are q's query parameters.
func (q AuditQuery) values() url.Values {
	v := historyValues(q.Before, q.Limit, q.Since, q.Until)
	if q.After != 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Newest {
		v.Set("newest", "true")
	}
	for k, s := range map[string]string{"action": q.Action, "subject": q.Subject, "actor": q.Actor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// ListTransfers returns the transfers q selects, newest first, without
// their moves.
func (c *Client) ListTransfers(ctx context.Context, q TransferListQuery) ([]TransferSummary, error) {
	v := historyValues(q.Before, q.Limit, q.Since, q.Until)
	for k, s := range map[string]string{"employee": q.Employee, "actor": q.Actor, "kind": string(q.Kind)} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var out []TransferSummary
	if err := c.do(ctx, http.MethodGet, "/v1/transfers", v, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ListBroadcasts returns the team broadcasts prepared, newest first.
func (c *Client) ListBroadcasts(ctx context.Context, q BroadcastListQuery) ([]BroadcastSummary, error) {
	var out []BroadcastSummary
	if err := c.do(ctx, http.MethodGet, "/v1/broadcasts", historyValues(q.Before, q.Limit, q.Since, q.Until), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// historyValues are the query parameters the history lists and the
// audit log share.
func historyValues(before uint64, limit int, since, until time.Time) url.Values {
	v := url.Values{}
	if before != 0 {
		v.Set("before", strconv.FormatUint(before, 10))
	}
	if limit != 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	for k, t := range map[string]time.Time{"since": since, "until": until} {
		if !t.IsZero() {
			v.Set(k, t.Format(time.RFC3339Nano))
		}
	}
	return v
}

// QueueStats returns how many messages the queue holds in each state.
func (c *Client) QueueStats(ctx context.Context) (QueueStats, error) {
	var st QueueStats
	if err := c.do(ctx, http.MethodGet, "/v1/queue", nil, nil, &st); err != nil {
		return nil, err
	}
	return st, nil
}

// ListAdmins returns the named admin credentials, revoked ones too (never
// their tokens).
func (c *Client) ListAdmins(ctx context.Context) ([]identity.Admin, error) {
	var l []identity.Admin
	if err := c.do(ctx, http.MethodGet, "/v1/admins", nil, nil, &l); err != nil {
		return nil, err
	}
	return l, nil
}

// AddAdmin creates a named admin credential and returns it with its
// token, which the server shows this once.
func (c *Client) AddAdmin(ctx context.Context, req AdminRequest) (*NewAdmin, error) {
	var n NewAdmin
	if err := c.do(ctx, http.MethodPost, "/v1/admins", nil, req, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// RevokeAdmin revokes the admin called name: their token is refused from
// then on. It returns the credential.
func (c *Client) RevokeAdmin(ctx context.Context, name string, req ReasonRequest) (*identity.Admin, error) {
	var a identity.Admin
	if err := c.do(ctx, http.MethodPost, "/v1/admins/"+url.PathEscape(name)+"/revoke", nil, req, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// SetAdminPassword sets the console password of the admin called name
// and returns the admin (never the password or its hash).
func (c *Client) SetAdminPassword(ctx context.Context, name string, req PasswordRequest) (*identity.Admin, error) {
	var a identity.Admin
	if err := c.do(ctx, http.MethodPost, "/v1/admins/"+url.PathEscape(name)+"/password", nil, req, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// do sends one request and decodes its answer into out (a *[]byte takes
// the body as it is).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	_, err := c.send(ctx, method, path, query, body, out)
	return err
}

// send is do that also returns the answer's header.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body, out any) (http.Header, error) {
	status, data, header, err := c.roundTrip(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	if status >= 300 {
		return nil, errorOf(status, data)
	}
	if err := c.decode(method+" "+path, data, out); err != nil {
		return nil, err
	}
	return header, nil
}

// decode passes a successful answer's body on to the tee, if any, and
// decodes it into out (a *[]byte takes it as it is). what names the call
// in errors.
func (c *Client) decode(what string, data []byte, out any) error {
	if c.tee != nil {
		if _, err := c.tee.Write(data); err != nil {
			return fmt.Errorf("admin API: %s: passing the answer on: %w", what, err)
		}
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API: %s: reading the answer: %w", what, err)
	}
	return nil
}

// errorOf is the *Error of an answer that is not a success.
func errorOf(status int, data []byte) *Error {
	e := &Error{Status: status}
	var eb ErrorBody
	if json.Unmarshal(data, &eb) == nil {
		e.Message = eb.Error
	}
	return e
}

// roundTrip sends one request, its body (if not nil) as JSON, and reads
// the whole answer.
func (c *Client) roundTrip(ctx context.Context, method, path string, query url.Values, body any) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("admin API: %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("admin API: %w", err)
	}
	if c.token != "" { // an in-process client has none (Server.Client)
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("admin API at %s: %w (is `kakehashi serve` running?)", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("admin API: %s %s: %w", method, path, err)
	}
	return resp.StatusCode, data, resp.Header, nil
}
