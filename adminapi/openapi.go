package adminapi

// The OpenAPI document of the API (GET /v1/openapi.json) is made from
// routes() alone: each route's method and path, its query parameters,
// and the Go types of its body and answer, whose JSON schemas are read
// off their fields as encoding/json reads and writes them. Nothing in it
// is written by hand but the routes' summaries, so it cannot describe an
// endpoint, a parameter or a field that is not served.

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// openAPI serves the OpenAPI document of the API. It needs no credential:
// it describes the API and holds no data.
func (a *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ Caller) error {
	doc, err := openAPIDocument()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
	return nil
}

var (
	docOnce  sync.Once
	docBytes []byte
	docErr   error
)

// openAPIDocument returns the document of routes(), made once.
func openAPIDocument() ([]byte, error) {
	docOnce.Do(func() {
		docBytes, docErr = buildDocument(routes())
		if docErr != nil {
			docErr = fmt.Errorf("OpenAPI document: %w", docErr)
		}
	})
	return docBytes, docErr
}

// param is a query parameter a route reads; the constructors below make
// one of each kind.
type param struct {
	name, doc     string
	kind          paramKind
	min, max, def int      // qInt
	values        []string // qEnum
}

type paramKind int

const (
	pString   paramKind = iota
	pFlag               // params.boolean
	pTime               // params.time
	pDuration           // params.duration
	pInt                // params.integer
	pSeq                // an audit sequence number
	pDate               // params.day
	pEnum               // one of values (params.enum)
)

func qString(name, doc string) param   { return param{name: name, doc: doc, kind: pString} }
func qFlag(name, doc string) param     { return param{name: name, doc: doc, kind: pFlag} }
func qTime(name, doc string) param     { return param{name: name, doc: doc, kind: pTime} }
func qDuration(name, doc string) param { return param{name: name, doc: doc, kind: pDuration} }
func qSeq(name, doc string) param      { return param{name: name, doc: doc, kind: pSeq} }
func qDate(name, doc string) param     { return param{name: name, doc: doc, kind: pDate} }

// qEnum is a string that is one of values; params.enum checks it.
func qEnum(name string, values []string, doc string) param {
	return param{name: name, doc: doc, kind: pEnum, values: values}
}

// qInt is a whole number from lo to hi, def when absent; params.integer
// reads it.
func qInt(name string, lo, hi, def int, doc string) param {
	return param{name: name, doc: doc, kind: pInt, min: lo, max: hi, def: def}
}

// header is a header of a route's successful answer.
type header struct {
	name, typ, doc string // typ: a JSON schema type
}

// enum lists the values of a string type of the API. emptyInRequest says
// that a request may also give "" (keep what is stored).
type enum struct {
	values         []string
	emptyInRequest bool
}

// enums are the values of the API's string types that have a fixed set.
var enums = map[reflect.Type]enum{
	reflect.TypeFor[identity.EmployeeStatus](): {values: []string{string(identity.Active), string(identity.Departed)}, emptyInRequest: true},
	reflect.TypeFor[identity.PersonaKind]():    {values: []string{string(identity.Personal), string(identity.Team)}},
	reflect.TypeFor[identity.AssignStrategy](): {values: []string{string(identity.AssignRoundRobin), string(identity.AssignLeastLoaded)}},
	reflect.TypeFor[identity.SpreadStrategy](): {values: []string{string(identity.RoundRobin), string(identity.LeastLoaded)}},
	reflect.TypeFor[identity.AdminRole]():      {values: roleNames()},
	reflect.TypeFor[TransferKind]():            {values: []string{string(KindTransfer), string(KindDepart), string(KindRevert)}},
}

func roleNames() []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

// The document's objects, as much of OpenAPI 3.0 as the API needs.
type (
	document struct {
		OpenAPI    string                           `json:"openapi"`
		Info       info                             `json:"info"`
		Security   []map[string][]string            `json:"security"`
		Tags       []tag                            `json:"tags"`
		Paths      map[string]map[string]*operation `json:"paths"`
		Components components                       `json:"components"`
	}
	info struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Version     string `json:"version"`
	}
	tag struct {
		Name string `json:"name"`
	}
	operation struct {
		OperationID string                 `json:"operationId"`
		Summary     string                 `json:"summary"`
		Description string                 `json:"description"`
		Tags        []string               `json:"tags"`
		Parameters  []parameter            `json:"parameters,omitempty"`
		RequestBody *requestBody           `json:"requestBody,omitempty"`
		Responses   map[string]*response   `json:"responses"`
		Security    *[]map[string][]string `json:"security,omitempty"`
		// Roles are the roles of the credentials that may call it; absent
		// when it needs none.
		Roles []identity.AdminRole `json:"x-kakehashi-roles,omitempty"`
	}
	parameter struct {
		Name            string  `json:"name"`
		In              string  `json:"in"`
		Description     string  `json:"description"`
		Required        bool    `json:"required,omitempty"`
		AllowEmptyValue bool    `json:"allowEmptyValue,omitempty"`
		Schema          *schema `json:"schema"`
	}
	requestBody struct {
		Required bool                 `json:"required"`
		Content  map[string]mediaType `json:"content"`
	}
	mediaType struct {
		Schema *schema `json:"schema"`
	}
	response struct {
		Ref         string                  `json:"$ref,omitempty"`
		Description string                  `json:"description,omitempty"`
		Headers     map[string]headerObject `json:"headers,omitempty"`
		Content     map[string]mediaType    `json:"content,omitempty"`
	}
	headerObject struct {
		Description string  `json:"description"`
		Schema      *schema `json:"schema"`
	}
	components struct {
		Schemas         map[string]*schema        `json:"schemas"`
		Responses       map[string]*response      `json:"responses"`
		SecuritySchemes map[string]securityScheme `json:"securitySchemes"`
	}
	securityScheme struct {
		Type        string `json:"type"`
		Scheme      string `json:"scheme"`
		Description string `json:"description"`
	}
	schema struct {
		Ref                  string             `json:"$ref,omitempty"`
		AllOf                []*schema          `json:"allOf,omitempty"`
		Type                 string             `json:"type,omitempty"`
		Format               string             `json:"format,omitempty"`
		Description          string             `json:"description,omitempty"`
		Pattern              string             `json:"pattern,omitempty"`
		Enum                 []string           `json:"enum,omitempty"`
		Nullable             bool               `json:"nullable,omitempty"`
		Minimum              *int64             `json:"minimum,omitempty"`
		Maximum              *int64             `json:"maximum,omitempty"`
		Default              any                `json:"default,omitempty"`
		Items                *schema            `json:"items,omitempty"`
		Properties           map[string]*schema `json:"properties,omitempty"`
		Required             []string           `json:"required,omitempty"`
		AdditionalProperties any                `json:"additionalProperties,omitempty"` // false or *schema
	}
)

const (
	bearer     = "bearer"
	schemasAt  = "#/components/schemas/"
	errorsAt   = "#/components/responses/"
	apiVersion = "v1"
)

const apiDescription = `The admin API of a running Kakehashi gateway: employees, personas, contacts and their transfers, broadcasts, the numbers of the traffic (an overview per day, the conversations waiting for an answer), the audit log, the queue and admin credentials. The kakehashi CLI is its client.

Every operation but /healthz and this document needs a credential, sent as "Authorization: Bearer TOKEN": the bootstrap token of the configuration (admin.token; role admin, audited as admin:bootstrap) or a named admin token (kakehashi admins add NAME; audited as admin:NAME, with its role). Each operation's x-kakehashi-roles lists the roles that may call it: admin reads and changes everything, auditor reads and changes nothing, lead reads and changes only what concerns the members of its team (an employee department): their employees, the relationships they own, transfers among them, their broadcasts and numbers.

Input is strict: an unknown, repeated or unparsable query parameter, a request body that is not exactly one JSON object of the documented fields (each once, spelled exactly), or a body where none is taken is refused with 400 naming the problem; nothing is silently ignored. Every answer that is not a success has an ErrorBody.

With several instances over one PostgreSQL store, any of them takes every request: a standby forwards it to the active instance. One that cannot serve a request now (none is active, during a takeover) answers 503 with Retry-After; 502 if the active instance stopped answering during a forwarded request.`

// errorResponses are the error answers, by status, each an ErrorBody.
var errorResponses = map[int]struct{ name, doc string }{
	http.StatusBadRequest:   {"BadRequest", "The request was refused: an unknown, repeated or unparsable query parameter, a body that is not exactly one JSON object of the expected fields (or a body where none is taken), the X-Kakehashi-Actor header (the audit names the credential's holder), or a value the server does not accept. The error says which."},
	http.StatusUnauthorized: {"Unauthorized", "The Authorization header is missing, or its token is wrong or revoked."},
	http.StatusForbidden: {"Forbidden", "The credential's role may not do this: an auditor changes nothing (this needs role " +
		string(identity.RoleAdmin) + "), and a lead acts only within its team: the error names what is outside it."},
	http.StatusNotFound:              {"NotFound", "Something the request names (an employee, persona, contact, relationship, transfer, broadcast or admin) does not exist."},
	http.StatusConflict:              {"Conflict", "The request collides with what is stored: an address another employee or persona has, a name taken, a transfer reverted already or whose relationships a later transfer moved again, a credential revoked already."},
	http.StatusRequestEntityTooLarge: {"TooLarge", "The request body is larger than " + strconv.Itoa(MaxAdminBody) + " bytes."},
	http.StatusInternalServerError:   {"ServerError", "The server failed (a store it could not read or write); the error says how."},
	http.StatusNotImplemented:        {"NotImplemented", "The server does not keep what the operation reads: admin credentials (an identity store without them) or analytics (a server without an analytics store)."},
	http.StatusBadGateway:            {"BadGateway", "A standby instance forwarded the request to the active one, which stopped answering during it: a change may or may not have been made; read the audit log (GET /v1/audit) before trying again."},
	http.StatusServiceUnavailable:    {"Unavailable", "Several instances share one PostgreSQL store and none can serve the request now (none is active, during a takeover, or the active one does not answer): try again after Retry-After."},
}

var pathParamRE = regexp.MustCompile(`\{([^}]*)\}`)

// buildDocument makes the OpenAPI document of rts.
func buildDocument(rts []route) (doc []byte, err error) {
	g := &schemaGen{comps: map[string]*schema{}, names: map[genKey]string{}, types: map[string]reflect.Type{}}
	defer func() {
		switch e := recover().(type) {
		case nil:
		case genError:
			err = e
		default:
			panic(e)
		}
	}()
	d := document{
		OpenAPI:  "3.0.3",
		Info:     info{Title: "Kakehashi admin API", Description: apiDescription, Version: apiVersion},
		Security: []map[string][]string{{bearer: {}}},
		Paths:    map[string]map[string]*operation{},
		Components: components{
			Schemas:   g.comps,
			Responses: map[string]*response{},
			SecuritySchemes: map[string]securityScheme{bearer: {Type: "http", Scheme: "bearer",
				Description: "The bootstrap token (admin.token of the configuration, role admin) or a named admin token (" + identity.AdminTokenPrefix + "…, made by kakehashi admins add)."}},
		},
	}
	// Answers first, then bodies: a type both read and answered is named
	// for its answer, and for a body NameInput if that differs.
	answers := make([]*schema, len(rts))
	for i, rt := range rts {
		if rt.answer != nil {
			answers[i] = g.of(rt.answer, false)
		}
	}
	seenTags := map[string]bool{}
	ops := map[string]bool{}
	for i, rt := range rts {
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok || method != strings.ToUpper(method) || !strings.HasPrefix(path, "/") {
			g.fail("route %q: the pattern is not METHOD /path", rt.pattern)
		}
		if rt.op == "" || ops[rt.op] {
			g.fail("route %s: its op %q is empty or not unique", rt.pattern, rt.op)
		}
		ops[rt.op] = true
		if rt.summary == "" {
			g.fail("route %s has no summary", rt.pattern)
		}
		op := &operation{OperationID: rt.op, Summary: rt.summary, Tags: []string{tagOf(path)}, Responses: map[string]*response{}}
		if !seenTags[op.Tags[0]] {
			seenTags[op.Tags[0]] = true
			d.Tags = append(d.Tags, tag{Name: op.Tags[0]})
		}
		var desc []string
		if rt.doc != "" {
			desc = append(desc, rt.doc)
		}
		switch rt.access {
		case public:
			op.Security = &[]map[string][]string{}
			desc = append(desc, "No credential needed.")
		case read, write, teamRead, teamWrite:
			op.Roles = rt.access.allowed()
			if len(op.Roles) == 0 {
				g.fail("route %s: no role may call it", rt.pattern)
			}
			names := make([]string, len(op.Roles))
			for i, r := range op.Roles {
				names[i] = string(r)
			}
			roles := "Roles: " + strings.Join(names, ", ")
			switch rt.access {
			case read:
				desc = append(desc, roles+" (it reads what concerns every team).")
			case write:
				desc = append(desc, roles+" (it changes something).")
			case teamRead:
				desc = append(desc, roles+". A lead is answered only what concerns the members of its team (the employees whose department is the lead's team), and 403 for what it names outside.")
			case teamWrite:
				desc = append(desc, roles+" (it changes something). A lead may act only on the members of its team and the relationships they own; 403 names what is outside, and nothing is changed.")
			}
		default:
			g.fail("route %s: unknown access %d", rt.pattern, rt.access)
		}
		op.Description = strings.Join(desc, "\n\n")

		// Parameters: the path's, then the query's.
		pathParams := pathParamRE.FindAllStringSubmatch(path, -1)
		switch {
		case len(pathParams) > 1:
			g.fail("route %s: more than one path parameter", rt.pattern)
		case len(pathParams) == 1 && (rt.pathParam == "" || strings.HasSuffix(pathParams[0][1], "...")):
			g.fail("route %s: path parameter {%s} needs a pathParam description and no ...", rt.pattern, pathParams[0][1])
		case len(pathParams) == 0 && rt.pathParam != "":
			g.fail("route %s: a pathParam description but no path parameter", rt.pattern)
		}
		for _, m := range pathParams {
			op.Parameters = append(op.Parameters, parameter{Name: m[1], In: "path", Required: true,
				Description: upperFirst(rt.pathParam) + ".", Schema: &schema{Type: "string"}})
		}
		for _, p := range rt.params {
			op.Parameters = append(op.Parameters, queryParameter(p))
		}

		if rt.body != nil {
			if rt.body.Kind() != reflect.Struct {
				g.fail("route %s: its body %v is not a struct (decode reads a JSON object)", rt.pattern, rt.body)
			}
			op.RequestBody = &requestBody{Required: true, Content: map[string]mediaType{"application/json": {Schema: g.of(rt.body, true)}}}
		}

		// Answers.
		status := rt.status
		if status == 0 {
			status = http.StatusOK
		}
		ok200 := &response{Description: rt.summary + "."}
		switch {
		case rt.answer != nil && rt.text == "":
			ok200.Content = map[string]mediaType{"application/json": {Schema: answers[i]}}
		case rt.answer == nil && rt.text != "":
			ok200.Content = map[string]mediaType{rt.text: {Schema: &schema{Type: "string"}}}
		default:
			g.fail("route %s: give it an answer type or a text media type, not both", rt.pattern)
		}
		for _, h := range rt.headers {
			if ok200.Headers == nil {
				ok200.Headers = map[string]headerObject{}
			}
			ok200.Headers[h.name] = headerObject{Description: h.doc, Schema: &schema{Type: h.typ}}
		}
		op.Responses[strconv.Itoa(status)] = ok200
		for _, s := range rt.answers {
			op.Responses[strconv.Itoa(s)] = &response{Description: http.StatusText(s) + ", with the body of " + strconv.Itoa(status) + ".", Content: ok200.Content}
		}
		for _, s := range rt.errorStatuses() {
			e, ok := errorResponses[s]
			if !ok {
				g.fail("route %s: no error answer %d", rt.pattern, s)
			}
			if _, dup := op.Responses[strconv.Itoa(s)]; dup {
				g.fail("route %s: status %d given twice", rt.pattern, s)
			}
			op.Responses[strconv.Itoa(s)] = &response{Ref: errorsAt + e.name}
			if d.Components.Responses[e.name] == nil {
				r := &response{Description: e.doc, Content: map[string]mediaType{"application/json": {Schema: g.of(reflect.TypeFor[ErrorBody](), false)}}}
				if s == http.StatusUnauthorized {
					r.Headers = map[string]headerObject{"WWW-Authenticate": {Description: `Bearer realm="kakehashi"`, Schema: &schema{Type: "string"}}}
				}
				if s == http.StatusServiceUnavailable {
					r.Headers = map[string]headerObject{"Retry-After": {Description: "Seconds to wait before trying again.", Schema: &schema{Type: "integer"}}}
				}
				d.Components.Responses[e.name] = r
			}
		}

		if d.Paths[path] == nil {
			d.Paths[path] = map[string]*operation{}
		}
		m := strings.ToLower(method)
		if d.Paths[path][m] != nil {
			g.fail("route %s given twice", rt.pattern)
		}
		d.Paths[path][m] = op
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// errorStatuses are the error statuses rt can answer, in order: those
// every route of its access can, and its own.
func (rt route) errorStatuses() []int {
	s := []int{http.StatusBadRequest, http.StatusInternalServerError}
	if rt.access != public {
		s = append(s, http.StatusUnauthorized)
	}
	if !rt.local {
		s = append(s, http.StatusBadGateway, http.StatusServiceUnavailable)
	}
	if rt.access != public {
		// A lead may be refused on any (its role, or what it names
		// outside its team), an auditor on a change.
		s = append(s, http.StatusForbidden)
	}
	if rt.body != nil {
		s = append(s, http.StatusRequestEntityTooLarge)
	}
	s = append(s, rt.errors...)
	slices.Sort(s)
	return s
}

// tagOf groups operations by their path's first segment after /v1.
func tagOf(path string) string {
	seg := strings.Split(strings.TrimPrefix(strings.TrimPrefix(path, "/v1"), "/"), "/")[0]
	seg, _, _ = strings.Cut(seg, ".")
	return seg
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// durationPattern matches what time.ParseDuration reads.
const durationPattern = `^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))*$`

func queryParameter(p param) parameter {
	out := parameter{Name: p.name, In: "query", Description: p.doc}
	switch p.kind {
	case pString:
		out.Schema = &schema{Type: "string"}
	case pFlag:
		out.Schema = &schema{Type: "boolean"}
		out.AllowEmptyValue = true
		out.Description += " Given without a value (or an empty one) it is true; otherwise true, false, 1 or 0."
	case pTime:
		out.Schema = &schema{Type: "string", Format: "date-time"}
		out.Description += " An RFC 3339 time, e.g. 2026-11-01T00:00:00Z."
	case pDuration:
		out.Schema = &schema{Type: "string", Pattern: durationPattern}
		out.Description += " A positive Go duration, e.g. 720h or 90m."
	case pInt:
		lo, hi := int64(p.min), int64(p.max)
		out.Schema = &schema{Type: "integer", Minimum: &lo, Maximum: &hi, Default: p.def}
	case pDate:
		out.Schema = &schema{Type: "string", Format: "date"}
		out.Description += " A day, YYYY-MM-DD, e.g. 2026-11-01."
	case pEnum:
		out.Schema = &schema{Type: "string", Enum: slices.Clone(p.values)}
	case pSeq:
		zero := int64(0)
		out.Schema = &schema{Type: "integer", Format: "int64", Minimum: &zero}
	}
	return out
}

// genError is a route or type the document cannot describe: a mistake in
// this package, which its tests find.
type genError struct{ error }

// schemaGen makes the JSON schemas of Go types: structs become components
// named after their type, everything else is inline.
type schemaGen struct {
	comps map[string]*schema
	names map[genKey]string       // the component of each type and direction
	types map[string]reflect.Type // the type of each component name
}

// genKey is a type in one direction: req, read by the server (no
// required fields, no unknown ones), or answered by it (the fields always
// written are required, and may be null where encoding/json writes null).
type genKey struct {
	t   reflect.Type
	req bool
}

func (g *schemaGen) fail(format string, args ...any) {
	panic(genError{fmt.Errorf(format, args...)})
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// of returns the schema of t's JSON, in a request if req.
func (g *schemaGen) of(t reflect.Type, req bool) *schema {
	switch t {
	case timeType:
		return &schema{Type: "string", Format: "date-time"}
	case rawMessageType:
		return &schema{Description: "Any JSON value.", Nullable: true}
	}
	for _, i := range []reflect.Type{jsonMarshaler, jsonUnmarshaler, textMarshaler, textUnmarshaler} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			g.fail("%v encodes itself (%v): describe its JSON in schemaGen.of", t, i)
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem(), req)
	case reflect.String:
		s := &schema{Type: "string"}
		if e, ok := enums[t]; ok {
			s.Enum = slices.Clone(e.values)
			if req && e.emptyInRequest {
				s.Enum = append(s.Enum, "")
			}
		}
		return s
	case reflect.Bool:
		return &schema{Type: "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return &schema{Type: "integer", Format: "int32"}
	case reflect.Int, reflect.Int64:
		return &schema{Type: "integer", Format: "int64"}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64:
		zero := int64(0)
		return &schema{Type: "integer", Format: "int64", Minimum: &zero}
	case reflect.Float32, reflect.Float64:
		return &schema{Type: "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			g.fail("%v is written as base64: describe it in schemaGen.of", t)
		}
		return &schema{Type: "array", Items: g.of(t.Elem(), req)}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			g.fail("%v: only maps with string keys are described", t)
		}
		return &schema{Type: "object", AdditionalProperties: g.of(t.Elem(), req)}
	case reflect.Interface:
		return &schema{Description: "Any JSON value.", Nullable: true}
	case reflect.Struct:
		return g.component(t, req)
	}
	g.fail("%v: no JSON schema for its kind %v", t, t.Kind())
	return nil
}

// component returns a reference to the schema of struct t, made once per
// direction.
func (g *schemaGen) component(t reflect.Type, req bool) *schema {
	key := genKey{t, req}
	if name, ok := g.names[key]; ok {
		return &schema{Ref: schemasAt + name}
	}
	name := t.Name()
	if name == "" || strings.ContainsAny(name, "[]") {
		g.fail("%v: an anonymous or generic struct has no name for its schema", t)
	}
	if other, ok := g.types[name]; ok && other != t {
		g.fail("two types are called %s: %v and %v", name, other, t)
	}
	g.types[name] = t
	if _, answered := g.names[genKey{t, false}]; req && answered {
		name += "Input"
		if other, ok := g.types[name]; ok && other != t {
			g.fail("two types are called %s: %v and %v", name, other, t)
		}
		g.types[name] = t
	}
	g.names[key] = name // before its fields: a type may contain itself
	s := &schema{Type: "object", Properties: map[string]*schema{}}
	if req {
		s.AdditionalProperties = false // decode refuses unknown fields
	}
	for _, f := range g.fields(t) {
		fs := g.of(f.typ, req)
		if !req && !f.omitted() {
			s.Required = append(s.Required, f.name)
			switch f.typ.Kind() {
			case reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface:
				fs = nullable(fs) // a nil one is written as null
			}
		}
		s.Properties[f.name] = fs
	}
	g.comps[name] = s
	return &schema{Ref: schemasAt + name}
}

func nullable(s *schema) *schema {
	if s.Ref != "" {
		return &schema{AllOf: []*schema{s}, Nullable: true}
	}
	c := *s
	c.Nullable = true
	return &c
}

// jsonField is a field of a struct as encoding/json sees it.
type jsonField struct {
	name                string
	typ                 reflect.Type
	omitEmpty, omitZero bool
}

// omitted reports whether encoding/json may leave the field out.
func (f jsonField) omitted() bool {
	if f.omitZero {
		return true
	}
	switch f.typ.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return f.omitEmpty
	}
	return false // omitempty does not leave out a struct
}

// fields returns t's JSON fields in order, by encoding/json's rules:
// embedded structs without a name are promoted; of several fields with
// one name the shallowest wins, then the tagged one, else none.
func (g *schemaGen) fields(t reflect.Type) []jsonField {
	type candidate struct {
		jsonField
		depth  int
		tagged bool
	}
	byName := map[string][]candidate{}
	var order []string
	for _, f := range reflect.VisibleFields(t) {
		if !g.reachable(t, f.Index) {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		tagName, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && tagName == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				continue // its fields are promoted, and listed by VisibleFields
			}
		}
		if !f.IsExported() {
			continue
		}
		name := tagName
		if name == "" {
			name = f.Name
		}
		c := candidate{jsonField: jsonField{name: name, typ: f.Type}, depth: len(f.Index), tagged: tagName != ""}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "omitempty":
				c.omitEmpty = true
			case "omitzero":
				c.omitZero = true
			case "string":
				g.fail("%v.%s: the ,string option is not described", t, f.Name)
			}
		}
		if byName[name] == nil {
			order = append(order, name)
		}
		byName[name] = append(byName[name], c)
	}
	var out []jsonField
	for _, name := range order {
		cs := byName[name]
		minDepth := cs[0].depth
		for _, c := range cs {
			minDepth = min(minDepth, c.depth)
		}
		var top []candidate
		for _, c := range cs {
			if c.depth == minDepth {
				top = append(top, c)
			}
		}
		if len(top) > 1 {
			var tagged []candidate
			for _, c := range top {
				if c.tagged {
					tagged = append(tagged, c)
				}
			}
			top = tagged
		}
		if len(top) == 1 {
			out = append(out, top[0].jsonField)
		}
	}
	return out
}

// reachable reports whether encoding/json reaches the field at index of
// t: every struct on the way is embedded without a JSON name.
func (g *schemaGen) reachable(t reflect.Type, index []int) bool {
	for _, i := range index[:len(index)-1] {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if name, _, _ := strings.Cut(tag, ","); tag == "-" || name != "" || !f.Anonymous {
			return false
		}
		t = f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return true
}
