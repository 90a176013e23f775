package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// loadDocument returns the OpenAPI document as kin-openapi reads it,
// validated. Closed, every object schema of an answer is also closed to
// fields it does not list (the document leaves them open, so that
// clients take a field added later): a field the server writes and the
// document does not describe fails validation.
func loadDocument(t testing.TB, closed bool) *openapi3.T {
	t.Helper()
	data, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("loading the document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	if closed {
		no := false
		for _, s := range doc.Components.Schemas {
			if s.Value.Type.Is("object") && s.Value.AdditionalProperties.Has == nil && s.Value.AdditionalProperties.Schema == nil {
				s.Value.AdditionalProperties.Has = &no
			}
		}
	}
	return doc
}

// validator checks every answer of a handler against the document: its
// status is documented for the operation, and its body (JSON or text) and
// headers fit what the document says of that status.
type validator struct {
	t   testing.TB
	doc *openapi3.T
	ops *http.ServeMux // the document's operations, by "METHOD path"

	mu   sync.Mutex
	seen map[string][]int // operationId: statuses validated
}

func newValidator(t testing.TB) *validator {
	v := &validator{t: t, doc: loadDocument(t, true), ops: http.NewServeMux(), seen: map[string][]int{}}
	for path, item := range v.doc.Paths.Map() {
		for method := range item.Operations() {
			v.ops.Handle(method+" "+path, http.NotFoundHandler())
		}
	}
	return v
}

// operation finds the documented operation of r.
func (v *validator) operation(r *http.Request) *routers.Route {
	_, pattern := v.ops.Handler(r)
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return nil
	}
	item := v.doc.Paths.Value(path)
	return &routers.Route{Spec: v.doc, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)}
}

// wrap validates each answer of h before it is sent.
func (v *validator) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		v.check(r, rec.Result().StatusCode, rec.Header(), rec.Body.Bytes())
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func (v *validator) check(r *http.Request, status int, header http.Header, body []byte) {
	route := v.operation(r)
	if route == nil || route.Operation == nil {
		// Not an operation of the document: the server must not serve it.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			v.t.Errorf("%s %s is not in the document but was answered %d: %.300s", r.Method, r.URL, status, body)
		}
		return
	}
	params := map[string]string{}
	for _, m := range regexp.MustCompile(`\{([^}]*)\}`).FindAllStringSubmatch(route.Path, -1) {
		params[m[1]] = r.PathValue(m[1])
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(r.Context(), in); err != nil {
		v.t.Errorf("%s %s answered %d, not as documented: %v\n%.500s", r.Method, r.URL, status, err, body)
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen[route.Operation.OperationID] = append(v.seen[route.Operation.OperationID], status)
}

// pathOf is path with its parameters set to x.
func pathOf(path, x string) string {
	return regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(path, x)
}

// TestOpenAPIDocument: the document is served without a credential, is
// valid OpenAPI 3.0, and names every route the server registers and no
// other, each operation with its roles.
func TestOpenAPIDocument(t *testing.T) {
	_, srv := adminServer(t)
	code, body := call(t, srv, "GET", "/v1/openapi.json", "", "")
	want, _ := openAPIDocument()
	if code != http.StatusOK || body != string(want) {
		t.Fatalf("GET /v1/openapi.json: %d %.300s", code, body)
	}
	doc := loadDocument(t, false)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	if s := doc.Components.SecuritySchemes["bearer"]; s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
		t.Errorf("security scheme: %+v", s)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearer"] == nil {
		t.Errorf("security: %+v", doc.Security)
	}

	var documented []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented = append(documented, method+" "+path)
			roles, _ := op.Extensions["x-kakehashi-roles"].([]any)
			public := op.Security != nil && len(*op.Security) == 0
			switch {
			case public && roles != nil, !public && len(roles) == 0:
				t.Errorf("%s %s: security %v and roles %v", method, path, op.Security, roles)
			case !public && !strings.Contains(op.Description, "Roles: "):
				t.Errorf("%s %s: the description does not name its roles: %q", method, path, op.Description)
			}
			for _, r := range roles {
				if !identity.AdminRole(r.(string)).Valid() {
					t.Errorf("%s %s: role %v", method, path, r)
				}
			}
			for _, m := range regexp.MustCompile(`\{([^}]*)\}`).FindAllStringSubmatch(path, -1) {
				if p := op.Parameters.GetByInAndName("path", m[1]); p == nil || !p.Required {
					t.Errorf("%s %s: path parameter %s not declared", method, path, m[1])
				}
			}
		}
	}
	_, registered := (&Server{}).mux()
	slices.Sort(documented)
	slices.Sort(registered)
	if !slices.Equal(documented, registered) {
		t.Fatalf("documented operations\n%v\nregistered routes\n%v", documented, registered)
	}
	// The query parameters documented are those the server takes.
	for _, rt := range routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		var names []string
		for _, p := range doc.Paths.Value(path).GetOperation(method).Parameters {
			if p.Value.In == "query" {
				names = append(names, p.Value.Name)
			}
		}
		var taken []string
		for _, p := range rt.params {
			taken = append(taken, p.name)
		}
		if !slices.Equal(names, taken) {
			t.Errorf("%s: query parameters %v documented, %v taken", rt.pattern, names, taken)
		}
	}
}

// TestOpenAPIServesWhatItSays calls every documented operation without a
// credential, with an auditor's and with an admin's: each is served
// (never 404 or 405 for want of a route), needs a credential unless the
// document says not, and refuses exactly the roles the document leaves
// out. Methods the document does not give a path are not served.
func TestOpenAPIServesWhatItSays(t *testing.T) {
	_, srv := adminServer(t)
	aud := addAdmin(t, srv, "aud", identity.RoleAuditor)
	lead := addLead(t, srv, "lea", "sales")
	doc := loadDocument(t, false)
	for path, item := range doc.Paths.Map() {
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			op := item.GetOperation(method)
			target := pathOf(path, "x")
			if op == nil {
				if code, body := call(t, srv, method, target, testToken, ""); code != http.StatusMethodNotAllowed {
					t.Errorf("%s %s, not documented: %d %.200s, want 405", method, target, code, body)
				}
				continue
			}
			public := op.Security != nil && len(*op.Security) == 0
			code, body := call(t, srv, method, target, "", "")
			switch {
			case public && (code == http.StatusUnauthorized || code == http.StatusNotFound || code == http.StatusMethodNotAllowed):
				t.Errorf("%s %s without a credential: %d %.200s, want it served", method, target, code, body)
			case !public && code != http.StatusUnauthorized:
				t.Errorf("%s %s without a credential: %d %.200s, want 401", method, target, code, body)
			}
			roles, _ := op.Extensions["x-kakehashi-roles"].([]any)
			for _, c := range []struct {
				role  identity.AdminRole
				token string
			}{{identity.RoleAuditor, aud}, {identity.RoleLead, lead}, {identity.RoleAdmin, testToken}} {
				code, body := call(t, srv, method, target, c.token, "")
				allowed := public || slices.Contains(roles, any(string(c.role)))
				switch {
				case code == http.StatusMethodNotAllowed || code == http.StatusUnauthorized:
					t.Errorf("%s %s as %s: %d %.200s", method, target, c.role, code, body)
				case code == http.StatusNotFound && strings.Contains(body, "404 page not found"):
					t.Errorf("%s %s as %s: no route: %.200s", method, target, c.role, body)
				case !allowed && code != http.StatusForbidden, allowed && code == http.StatusForbidden:
					t.Errorf("%s %s as %s (document: %v): %d %.200s", method, target, c.role, roles, code, body)
				}
			}
		}
	}
	for _, path := range []string{"/v1", "/v1/", "/v1/openapi.yaml", "/v1/employees/x", "/v1/contacts/x", "/openapi.json"} {
		if code, _ := call(t, srv, "GET", path, testToken, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
}

// TestOpenAPIAnswers calls every operation until it succeeds, through
// the validator adminServer puts before the server: each answer (the
// errors on the way too) is one the document describes, closed to fields
// it does not list.
func TestOpenAPIAnswers(t *testing.T) {
	g, srv, v := adminServerValidated(t)
	ctx := context.Background()
	must := func(method, path, body string, want int) string {
		t.Helper()
		code, got := call(t, srv, method, path, testToken, body)
		if code != want {
			t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, code, got, want)
		}
		return got
	}
	id := func(body string) string {
		t.Helper()
		var x struct{ ID string }
		if err := json.Unmarshal([]byte(body), &x); err != nil || x.ID == "" {
			t.Fatalf("no id in %s", body)
		}
		return x.ID
	}
	must("GET", "/healthz", "", http.StatusOK)
	must("GET", "/v1/openapi.json", "", http.StatusOK)
	must("GET", "/metrics", "", http.StatusOK)
	must("GET", "/v1/queue", "", http.StatusOK)
	must("POST", "/v1/employees", `{"employee":{"id":"ken","name":"Ken Ito","department":"sales","inside_addrs":[{"network":"corp","addr":"ken@corp.test"}],"default_persona":"ken.sales"},"reason":"setup"}`, http.StatusOK)
	must("POST", "/v1/personas", `{"persona":{"id":"ken.sales","display_name":"ACME Sales · Ken","kind":"personal","employee_id":"ken","addresses":[{"network":"public-xmpp","addr":"ken.sales@contact.acme.test"}],"welcome":"hi","handover":"now {persona}"},"reason":"setup"}`, http.StatusOK)
	must("POST", "/v1/personas", `{"persona":{"id":"desk","display_name":"ACME Desk","kind":"team","employee_id":"hana","members":["hana","ken"],"assign":"round-robin","addresses":[{"network":"public-xmpp","addr":"desk@contact.acme.test"}]},"reason":"setup"}`, http.StatusOK)
	must("GET", "/v1/employees", "", http.StatusOK)
	must("GET", "/v1/personas", "", http.StatusOK)
	if err := g.Receive(ctx, &gateway.Message{Network: "corp", From: "hana@corp.test/laptop", ReplyTo: "hana@corp.test/laptop", To: `bob\40ext.test@gw.corp.test`, ID: "h-1", Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	var contacts []ContactView
	if err := json.Unmarshal([]byte(must("GET", "/v1/contacts?owner=hana&limit=10", "", http.StatusOK)), &contacts); err != nil || len(contacts) != 1 {
		t.Fatalf("contacts: %v %+v", err, contacts)
	}
	rel := contacts[0].Relationship.ID
	must("POST", "/v1/relationships/"+rel+"/tags", `{"add":["vip"],"reason":"r"}`, http.StatusOK)
	must("POST", "/v1/relationships/"+rel+"/remark", `{"remark":"met at the expo"}`, http.StatusOK)
	must("GET", "/v1/contacts?tag=vip&active_within=1h&unassigned=0", "", http.StatusOK)
	must("POST", "/v1/transfers", `{"from":"hana","to":"ken","notify":true,"preview":true,"reason":"rotation"}`, http.StatusOK)
	tr := id(must("POST", "/v1/transfers", `{"from":"hana","to":"ken","notify":true,"reason":"rotation"}`, http.StatusOK))
	must("GET", "/v1/transfers/"+tr, "", http.StatusOK)
	must("POST", "/v1/transfers/"+tr+"/revert", `{"reason":"undo"}`, http.StatusOK)
	must("POST", "/v1/transfers/"+tr+"/revert", `{"reason":"again"}`, http.StatusConflict)
	b := id(must("POST", "/v1/broadcasts", `{"team":["hana"],"tag":"vip","subject":"News","body":"Hello","reason":"launch"}`, http.StatusOK))
	must("GET", "/v1/broadcasts/"+b, "", http.StatusOK)
	must("POST", "/v1/directory", `{"employees":[{"id":"mei","name":"Mei","inside_addrs":[{"network":"corp","addr":"mei@corp.test"}]}],"personas":[]}`, http.StatusOK)
	must("POST", "/v1/employees/mei/depart", `{"successor":"ken","reason":"left"}`, http.StatusOK)
	must("POST", "/v1/employees/mei/reactivate", `{"reason":"back"}`, http.StatusOK)
	must("POST", "/v1/employees/ken/depart", `{"team":["hana","mei"],"strategy":"least-loaded","preview":true,"reason":"left"}`, http.StatusOK)
	must("POST", "/v1/employees/ken/depart", `{"team":["hana","mei"],"strategy":"least-loaded","reason":"left"}`, http.StatusOK)
	must("GET", "/v1/audit?limit=1000", "", http.StatusOK)
	must("GET", "/v1/transfers", "", http.StatusOK)
	must("GET", "/v1/transfers?limit=10&kind=revert&employee=hana&actor=admin&since=2026-01-01T00:00:00Z&until=2100-01-01T00:00:00Z", "", http.StatusOK)
	must("GET", "/v1/transfers?kind=move", "", http.StatusBadRequest)
	must("GET", "/v1/broadcasts?limit=5&before=1000000", "", http.StatusOK)
	must("GET", "/v1/audit.csv?action=contacts.transfer&limit=10", "", http.StatusOK)
	must("GET", "/v1/stats/overview?from=2026-11-01&to=2026-11-03&team=sales&employee=hana", "", http.StatusOK)
	must("GET", "/v1/stats/overview", "", http.StatusOK)
	must("GET", "/v1/stats/overview?from=2026-11-03&to=2026-11-01", "", http.StatusBadRequest)
	must("GET", "/v1/waiting?older_than=4h&team=sales&employee=hana&limit=10", "", http.StatusOK)
	must("POST", "/v1/admins", `{"name":"ana","role":"auditor","reason":"audit"}`, http.StatusCreated)
	must("POST", "/v1/admins", `{"name":"lea","role":"lead","team":"sales","password":"correct horse battery","reason":"sales lead"}`, http.StatusCreated)
	must("POST", "/v1/admins/ana/password", `{"password":"correct horse battery","reason":"console"}`, http.StatusOK)
	must("GET", "/v1/admins", "", http.StatusOK)
	must("POST", "/v1/admins/ana/revoke", `{"reason":"done"}`, http.StatusOK)
	must("GET", "/v1/admins", "", http.StatusOK)
	// Some errors on the way.
	must("POST", "/v1/admins/ana/revoke", `{"reason":"done"}`, http.StatusConflict)
	must("GET", "/v1/transfers/t-none", "", http.StatusNotFound)
	must("POST", "/v1/directory", `{"employees":[],"personas":[],"extra":1}`, http.StatusBadRequest)

	v.mu.Lock()
	defer v.mu.Unlock()
	for _, rt := range routes() {
		if !slices.ContainsFunc(v.seen[rt.op], func(s int) bool { return s < 300 }) {
			t.Errorf("%s (%s): no successful answer validated (%v)", rt.pattern, rt.op, v.seen[rt.op])
		}
	}
}

// TestOpenAPIValidatorIsStrict: an answer with a field the document does
// not list, without one it requires, or of another type, fails; so does
// a status it does not list.
func TestOpenAPIValidatorIsStrict(t *testing.T) {
	v := newValidator(t)
	r := httptest.NewRequest("POST", "/v1/directory", nil)
	ok := `{"employees":1,"personas":2}`
	hdr := http.Header{"Content-Type": {"application/json"}}
	for _, c := range []struct {
		status int
		body   string
		fails  bool
	}{
		{200, ok, false},
		{200, `{"employees":1,"personas":2,"surprise":3}`, true},
		{200, `{"employees":1}`, true},
		{200, `{"employees":"1","personas":2}`, true},
		{200, `null`, true},
		{404, `{"error":"no"}`, false},
		{409, `{"error":"no"}`, false},
		{404, `{"message":"no"}`, true},
		{418, `{"error":"no"}`, true},
	} {
		rec := &recordingTB{TB: t}
		v.t = rec
		v.check(r, c.status, hdr, []byte(c.body))
		if rec.failed != c.fails {
			t.Errorf("%d %s: failed %v, want %v (%s)", c.status, c.body, rec.failed, c.fails, rec.msg)
		}
	}
}

type recordingTB struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.failed = true
	r.msg = strings.TrimSpace(strings.SplitN(strings.ReplaceAll(format, "%", ""), "\n", 2)[0])
	_ = args
}

// fill returns a value of t with every field set (slices and maps with
// one element, down to depth), as the fullest answer would be.
func fill(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	switch t {
	case timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)))
		return v
	case rawMessageType:
		v.SetBytes([]byte(`{"notices":1}`))
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		p.Elem().Set(fill(t.Elem(), depth))
		v.Set(p)
	case reflect.String:
		if e, ok := enums[t]; ok {
			v.SetString(e.values[len(e.values)-1])
		} else {
			v.SetString("x")
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		if depth > 0 {
			s := reflect.MakeSlice(t, 1, 1)
			s.Index(0).Set(fill(t.Elem(), depth-1))
			v.Set(s)
		}
	case reflect.Map:
		m := reflect.MakeMap(t)
		m.SetMapIndex(reflect.ValueOf("k").Convert(t.Key()), fill(t.Elem(), depth-1))
		v.Set(m)
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				v.Field(i).Set(fill(t.Field(i).Type, depth))
			}
		}
	}
	return v
}

// TestOpenAPISchemasAreTheTypes: for every answer's type, the fullest
// value (every field set) and the emptiest (the zero value) encode as
// their schema says: the fullest has exactly the properties listed, and
// validates; the emptiest has every property listed as required. So the
// schemas follow encoding/json, whatever the handlers happen to answer.
func TestOpenAPISchemasAreTheTypes(t *testing.T) {
	doc := loadDocument(t, true)
	checked := 0
	for _, rt := range routes() {
		if rt.answer == nil {
			continue
		}
		method, path, _ := strings.Cut(rt.pattern, " ")
		status := rt.status
		if status == 0 {
			status = http.StatusOK
		}
		ref := doc.Paths.Value(path).GetOperation(method).Responses.Status(status).Value.Content.Get("application/json").Schema
		full, err := json.Marshal(fill(rt.answer, 2).Interface())
		if err != nil {
			t.Fatal(err)
		}
		var v any
		_ = json.Unmarshal(full, &v)
		if err := ref.Value.VisitJSON(v); err != nil {
			t.Errorf("%s: the fullest %v does not fit its schema: %v\n%s", rt.pattern, rt.answer, err, full)
		}
		// Each struct the answer holds, by itself.
		var structs func(reflect.Type, map[reflect.Type]bool)
		structs = func(ty reflect.Type, seen map[reflect.Type]bool) {
			for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
				ty = ty.Elem()
			}
			if ty.Kind() != reflect.Struct || ty == timeType || seen[ty] {
				return
			}
			seen[ty] = true
			s := doc.Components.Schemas[ty.Name()]
			if s == nil {
				t.Errorf("%v: no schema %s", ty, ty.Name())
				return
			}
			checked++
			var fullKeys, zeroKeys map[string]any
			data, _ := json.Marshal(fill(ty, 2).Interface())
			_ = json.Unmarshal(data, &fullKeys)
			data, _ = json.Marshal(zero(ty).Interface())
			_ = json.Unmarshal(data, &zeroKeys)
			if got, want := slices.Sorted(maps.Keys(fullKeys)), slices.Sorted(maps.Keys(s.Value.Properties)); !slices.Equal(got, want) {
				t.Errorf("%v: encodes fields %v, its schema lists %v", ty, got, want)
			}
			for _, r := range s.Value.Required {
				if _, ok := zeroKeys[r]; !ok {
					t.Errorf("%v: %s is required but its zero value leaves it out", ty, r)
				}
			}
			if got := slices.Sorted(maps.Keys(zeroKeys)); !slices.Equal(got, slices.Sorted(slices.Values(s.Value.Required))) {
				t.Errorf("%v: its zero value writes %v, its schema requires %v", ty, got, s.Value.Required)
			}
			for _, f := range reflect.VisibleFields(ty) {
				if f.Anonymous && f.Tag.Get("json") == "" {
					continue // promoted: its fields are ty's, and listed too
				}
				structs(f.Type, seen)
			}
		}
		structs(rt.answer, map[reflect.Type]bool{})
	}
	if checked < 10 {
		t.Fatalf("only %d schemas checked", checked)
	}
}

// TestOpenAPIRequestSchemas: every request body's fields are those
// decode takes, and none is required (the server says what is missing).
func TestOpenAPIRequestSchemas(t *testing.T) {
	doc := loadDocument(t, false)
	for _, rt := range routes() {
		if rt.body == nil {
			continue
		}
		method, path, _ := strings.Cut(rt.pattern, " ")
		s := doc.Paths.Value(path).GetOperation(method).RequestBody.Value.Content.Get("application/json").Schema.Value
		if got, want := slices.Sorted(maps.Keys(s.Properties)), slices.Sorted(maps.Keys(jsonFields(rt.body))); !slices.Equal(got, want) {
			t.Errorf("%s: documented body fields %v, decode takes %v", rt.pattern, got, want)
		}
		if len(s.Required) > 0 || s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("%s: required %v, additionalProperties %v", rt.pattern, s.Required, s.AdditionalProperties.Has)
		}
		full, _ := json.Marshal(fill(rt.body, 2).Interface())
		var v any
		_ = json.Unmarshal(full, &v)
		if err := s.VisitJSON(v); err != nil {
			t.Errorf("%s: the fullest body does not fit its schema: %v", rt.pattern, err)
		}
	}
}

// TestOpenAPIBuildRefuses: a route or type the document cannot describe
// is an error, not a document that says something else.
func TestOpenAPIBuildRefuses(t *testing.T) {
	type withBytes struct {
		Data []byte `json:"data"`
	}
	type withString struct {
		N int `json:"n,string"`
	}
	type withChan struct {
		C chan int `json:"c"`
	}
	type withTextKey struct {
		M map[identity.Address]int `json:"m"`
	}
	type withSelf struct {
		S selfEncoded `json:"s"`
	}
	ok := route{pattern: "GET /v1/x", op: "x", summary: "x", access: read, answer: reflect.TypeFor[ErrorBody]()}
	for _, c := range []struct {
		name, want string
		change     func(*route)
	}{
		{"bytes", "base64", func(r *route) { r.answer = reflect.TypeFor[withBytes]() }},
		{",string", ",string", func(r *route) { r.answer = reflect.TypeFor[withString]() }},
		{"chan", "kind chan", func(r *route) { r.answer = reflect.TypeFor[withChan]() }},
		{"struct map key", "string keys", func(r *route) { r.answer = reflect.TypeFor[withTextKey]() }},
		{"anonymous struct", "anonymous", func(r *route) { r.answer = reflect.TypeFor[struct{ A int }]() }},
		{"own encoding", "encodes itself", func(r *route) { r.answer = reflect.TypeFor[selfEncoded]() }},
		{"own encoding, field", "encodes itself", func(r *route) { r.answer = reflect.TypeFor[withSelf]() }},
		{"no summary", "no summary", func(r *route) { r.summary = "" }},
		{"bad pattern", "METHOD /path", func(r *route) { r.pattern = "/v1/x" }},
		{"no answer", "an answer type or a text", func(r *route) { r.answer = nil }},
		{"answer and text", "an answer type or a text", func(r *route) { r.text = "text/plain" }},
		{"undescribed param", "needs a pathParam", func(r *route) { r.pattern = "GET /v1/x/{id}" }},
		{"pathParam no param", "but no path parameter", func(r *route) { r.pathParam = "the x" }},
		{"unknown error", "no error answer 418", func(r *route) { r.errors = []int{418} }},
		{"error twice", "given twice", func(r *route) { r.errors = []int{400} }},
		{"body not a struct", "not a struct", func(r *route) { r.body = reflect.TypeFor[[]string]() }},
		{"body with bytes", "base64", func(r *route) { r.body = reflect.TypeFor[withBytes]() }},
	} {
		r := ok
		c.change(&r)
		if _, err := buildDocument([]route{r}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := buildDocument([]route{ok}); err != nil {
		t.Fatal(err)
	}
	if _, err := buildDocument([]route{ok, ok}); err == nil {
		t.Error("two routes with one op: built")
	}
	if _, err := buildDocument([]route{ok, {pattern: "POST /v1/x", op: "x", summary: "y", access: write, answer: reflect.TypeFor[ErrorBody]()}}); err == nil {
		t.Error("two routes with one op: built")
	}
	if _, err := buildDocument([]route{ok, {pattern: "GET /v1/x", op: "y", summary: "y", access: write, answer: reflect.TypeFor[ErrorBody]()}}); err == nil {
		t.Error("one pattern twice: built")
	}
}

// TestOpenAPIFields: the schemas follow encoding/json's rules for
// embedded structs, names, "-" and omitempty.
func TestOpenAPIFields(t *testing.T) {
	type Inner struct {
		A int    `json:"a"`
		B string `json:"b,omitempty"`
		C string `json:"c"`
	}
	type Named struct {
		X int `json:"x"`
	}
	type Outer struct {
		*Inner
		Named  `json:"named"`
		C      string    `json:"c,omitempty"` // shadows Inner.C
		Hidden string    `json:"-"`
		Plain  int       // no tag: named as the field
		When   time.Time `json:"when,omitempty"` // omitempty does not leave out a struct
		List   []string  `json:"list"`
		hidden int
	}
	_ = Outer{}.hidden
	g := &schemaGen{comps: map[string]*schema{}, names: map[genKey]string{}, types: map[string]reflect.Type{}}
	g.of(reflect.TypeFor[Outer](), false)
	s := g.comps["Outer"]
	if got := slices.Sorted(maps.Keys(s.Properties)); !slices.Equal(got, []string{"Plain", "a", "b", "c", "list", "named", "when"}) {
		t.Errorf("properties %v", got)
	}
	if got := slices.Sorted(slices.Values(s.Required)); !slices.Equal(got, []string{"Plain", "a", "list", "named", "when"}) {
		t.Errorf("required %v", s.Required)
	}
	if !s.Properties["list"].Nullable || s.Properties["c"].Nullable {
		t.Errorf("nullable: list %v, c %v", s.Properties["list"].Nullable, s.Properties["c"].Nullable)
	}
	if s.Properties["named"].Ref != schemasAt+"Named" || g.comps["Named"] == nil {
		t.Errorf("named: %+v", s.Properties["named"])
	}
	data, _ := json.Marshal(Outer{Inner: &Inner{}})
	var keys map[string]any
	_ = json.Unmarshal(data, &keys)
	for _, k := range s.Required {
		if _, ok := keys[k]; !ok {
			t.Errorf("%s required, not in %s", k, data)
		}
	}
	// In a request: no required fields, none null, no other fields.
	g.of(reflect.TypeFor[Outer](), true)
	in := g.comps["OuterInput"]
	if in == nil || len(in.Required) != 0 || in.Properties["list"].Nullable || in.AdditionalProperties != false {
		t.Errorf("request schema: %+v", in)
	}
	b, _ := json.Marshal(in)
	if !bytes.Contains(b, []byte(`"$ref":"#/components/schemas/NamedInput"`)) {
		t.Errorf("request schema refers to %s", b)
	}
}

// selfEncoded has its own JSON encoding, which the document cannot read
// off its fields.
type selfEncoded struct{}

func (selfEncoded) MarshalJSON() ([]byte, error) { return []byte(`"x"`), nil }

// zero returns the zero value of t with its embedded struct pointers set,
// as every answer that embeds one has it.
func zero(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.IsExported() && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
			p := reflect.New(f.Type.Elem())
			p.Elem().Set(zero(f.Type.Elem()))
			v.Field(i).Set(p)
		}
	}
	return v
}
