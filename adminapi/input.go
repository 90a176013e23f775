package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Strict reading of requests: a body is exactly one JSON object of the
// expected fields, and a query names only known parameters, once each.

// checkQuery refuses a query string that does not parse, a parameter the
// route does not read, and a parameter given more than once.
func checkQuery(r *http.Request, allowed []string) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("%w: query string: %w", errBadRequest, err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(allowed, k) {
			takes := "takes no query parameters"
			if len(allowed) > 0 {
				takes = "takes " + strings.Join(allowed, ", ")
			}
			return fmt.Errorf("%w: unknown query parameter %q (%s %s)", errBadRequest, k, r.URL.Path, takes)
		}
		if n := len(q[k]); n > 1 {
			return fmt.Errorf("%w: query parameter %s is given %d times; give it once", errBadRequest, k, n)
		}
	}
	return nil
}

// noBody refuses a body on a route that reads none: what it asked for
// would be ignored.
func noBody(r *http.Request) error {
	var b [1]byte
	n, err := io.ReadFull(r.Body, b[:])
	if n > 0 {
		return fmt.Errorf("%w: %s %s takes no request body", errBadRequest, r.Method, r.URL.Path)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	return nil
}

// decode reads the request body into v, which must point to a struct:
// the body must be exactly one JSON object (not null, an array or a
// scalar; nothing after it), valid UTF-8, with each key once and spelled
// exactly as one of v's fields (encoding/json alone would take "REASON"
// for "reason", keep the last of two "reason"s and ignore a second
// object). Every handler that reads a body reads it through decode.
func decode(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body is larger than %d bytes: %w", mbe.Limit, err)
		}
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: request body is not valid UTF-8", errBadRequest)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: request body is empty: send a JSON object", errBadRequest)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: request body must be a JSON object, not %s", errBadRequest, jsonKind(trimmed[0]))
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if err := checkKeys(d, reflect.TypeOf(v), "request body"); err != nil {
		if errors.Is(err, errBadRequest) {
			return err
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the object ended early
		}
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	d = json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: request body: data after the JSON object (send exactly one object)", errBadRequest)
	}
	return nil
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	if c == '-' || c >= '0' && c <= '9' {
		return "a number"
	}
	return fmt.Sprintf("%q", c)
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// checkKeys reads one JSON value from d and refuses an object that repeats
// a key and, where t (the Go type the value decodes into) is a struct, a
// key that is not one of its JSON field names spelled exactly. path names
// the value in errors. A type with its own UnmarshalJSON is only checked
// for repeated keys.
func checkKeys(d *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		t = nil
	}
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = jsonFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]bool{}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			if seen[k] {
				return fmt.Errorf("%w: %s: field %q is given twice", errBadRequest, path, k)
			}
			seen[k] = true
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[k]; !ok {
					hint := ""
					for name := range fields {
						if strings.EqualFold(name, k) {
							hint = fmt.Sprintf(" (did you mean %q?)", name)
						}
					}
					return fmt.Errorf("%w: %s: unknown field %q%s", errBadRequest, path, k, hint)
				}
			}
			if err := checkKeys(d, ft, path+"."+k); err != nil {
				return err
			}
		}
		_, err := d.Token()
		return err
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; d.More(); i++ {
			if err := checkKeys(d, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := d.Token()
		return err
	}
	return nil
}

// jsonFields returns the JSON names of t's fields as encoding/json decodes
// them (tags, promoted fields of embedded structs) with their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			// Its fields are promoted (and listed by VisibleFields).
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := out[name]; !dup || len(f.Index) == 1 {
			out[name] = f.Type
		}
	}
	return out
}

// params reads a request's checked query parameters, with errors that
// name the parameter and what it takes.
type params struct{ q url.Values }

func queryOf(r *http.Request) params { return params{r.URL.Query()} }

func (p params) has(name string) bool { return p.q.Has(name) }

func (p params) str(name string) string { return p.q.Get(name) }

// boolean reads a flag: absent is false; present without a value (or
// with an empty one) is true; otherwise true/false/1/0.
func (p params) boolean(name string) (bool, error) {
	if !p.q.Has(name) {
		return false, nil
	}
	v := p.q.Get(name)
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: query parameter %s: %q is not true or false", errBadRequest, name, v)
	}
	return b, nil
}

// time reads an RFC 3339 time; absent is zero.
func (p params) time(name string) (time.Time, error) {
	if !p.q.Has(name) {
		return time.Time{}, nil
	}
	v := p.q.Get(name)
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: query parameter %s: %q is not an RFC 3339 time (e.g. 2026-11-01T00:00:00Z)", errBadRequest, name, v)
	}
	return t, nil
}

// duration reads a positive Go duration (720h, 90m); absent is zero.
func (p params) duration(name string) (time.Duration, error) {
	if !p.q.Has(name) {
		return 0, nil
	}
	v := p.q.Get(name)
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: query parameter %s: %q is not a positive duration (e.g. 720h, 90m)", errBadRequest, name, v)
	}
	return d, nil
}

// integer reads the whole number sp (made by num) in [sp.min, sp.max];
// absent is sp.def.
func (p params) integer(sp param) (int, error) {
	if !p.q.Has(sp.name) {
		return sp.def, nil
	}
	v := p.q.Get(sp.name)
	n, err := strconv.Atoi(v)
	if err != nil || n < sp.min || n > sp.max {
		return 0, fmt.Errorf("%w: query parameter %s: %q is not a whole number from %d to %d", errBadRequest, sp.name, v, sp.min, sp.max)
	}
	return n, nil
}
